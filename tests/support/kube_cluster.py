"""The state behind the fake API server: pods, one global resourceVersion, and a change history.

Like etcd behind the real one: every write bumps the version, watches replay the history after a
version, compaction forgets it (older versions then answer 410 Gone), and a paginated list is
served from a snapshot that compaction also expires.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support.label_selector import Selector

Pod = dict[str, Any]


class ExpiredError(Exception):
    """The version or continue token predates the last compaction (HTTP 410 / ERROR 410)."""


@dataclass(frozen=True)
class Change:
    version: int
    type: str
    before: Pod | None
    after: Pod


def rfc3339(epoch_seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))


def selected(pod: Pod | None, namespace: str | None, selector: Selector) -> bool:
    if pod is None or (namespace and pod["metadata"]["namespace"] != namespace):
        return False
    return selector.matches(pod["metadata"].get("labels"))


class FakeCluster:
    """Pods by (namespace, name); `changed` is notified on every write (watch streams wait on it)."""

    def __init__(self, clock: Callable[[], float] = time.time, first_version: int = 1000) -> None:
        self.changed = threading.Condition()
        self.version = first_version
        self.oldest_version = first_version
        self._clock = clock
        self._pods: dict[tuple[str, str], Pod] = {}
        self._history: list[Change] = []
        self._snapshots: dict[int, list[Pod]] = {}
        self._snapshot_ids = itertools.count(1)

    def create_pod(
        self,
        name: str,
        *,
        namespace: str = "netchecker",
        labels: dict[str, str] | None = None,
        node: str = "node-1",
        host_network: bool = False,
        phase: str = "Running",
        created: float | None = None,
    ) -> Pod:
        pod: Pod = {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "creationTimestamp": rfc3339(self._clock() if created is None else created),
                "labels": {"app": "netchecker-agent"} if labels is None else labels,
            },
            "spec": {
                "nodeName": node,
                "hostNetwork": host_network,
                "containers": [{"name": "netchecker-agent", "image": "mirantis/k8s-netchecker-agent:v1.2.2"}],
            },
            "status": {"phase": phase},
        }
        with self.changed:
            self._write("ADDED", None, pod)
        return pod

    def update_pod(self, namespace: str, name: str, change: Callable[[Pod], None]) -> Pod:
        with self.changed:
            before = self._pods[(namespace, name)]
            after = copy.deepcopy(before)
            change(after)
            self._write("MODIFIED", before, after)
        return after

    def relabel(self, namespace: str, name: str, labels: dict[str, str]) -> Pod:
        return self.update_pod(namespace, name, lambda pod: pod["metadata"].__setitem__("labels", labels))

    def set_phase(self, namespace: str, name: str, phase: str) -> Pod:
        return self.update_pod(namespace, name, lambda pod: pod["status"].__setitem__("phase", phase))

    def start_deleting(self, namespace: str, name: str) -> Pod:
        stamp = rfc3339(self._clock())
        return self.update_pod(
            namespace, name, lambda pod: pod["metadata"].__setitem__("deletionTimestamp", stamp)
        )

    def delete_pod(self, namespace: str, name: str) -> None:
        with self.changed:
            before = self._pods[(namespace, name)]
            self._write("DELETED", before, copy.deepcopy(before))

    def advance(self, versions: int = 1) -> None:
        """Other objects in the cluster changed: the version moves, no pod event happens."""
        with self.changed:
            self.version += versions
            self.changed.notify_all()

    def compact(self) -> None:
        """Forget the history: watches from older versions and open continue tokens get 410."""
        with self.changed:
            self.oldest_version = self.version
            self._history.clear()
            self._snapshots.clear()
            self.changed.notify_all()

    def _write(self, kind: str, before: Pod | None, after: Pod) -> None:
        self.version += 1
        after["metadata"]["resourceVersion"] = str(self.version)
        key = (after["metadata"]["namespace"], after["metadata"]["name"])
        if kind == "DELETED":
            del self._pods[key]
        else:
            self._pods[key] = after
        self._history.append(Change(self.version, kind, before, after))
        self.changed.notify_all()

    def list_page(
        self, namespace: str | None, selector: Selector, limit: int, token: str | None
    ) -> tuple[list[Pod], int, str | None]:
        """(items, version, continue token) of one page of a consistent, snapshotted list."""
        with self.changed:
            if token:
                snapshot_id, version, start = self._decode(token)
                items = self._snapshots[snapshot_id]
            else:
                snapshot_id, version, start = next(self._snapshot_ids), self.version, 0
                items = [
                    copy.deepcopy(p)
                    for _, p in sorted(self._pods.items())
                    if selected(p, namespace, selector)
                ]
            end = start + limit if limit > 0 else len(items)
            if end >= len(items):
                self._snapshots.pop(snapshot_id, None)
                return items[start:], version, None
            self._snapshots[snapshot_id] = items
            return items[start:end], version, self._encode(snapshot_id, version, end)

    def _encode(self, snapshot_id: int, version: int, start: int) -> str:
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": version, "start": start, "id": snapshot_id})
        return base64.urlsafe_b64encode(raw.encode()).decode()

    def _decode(self, token: str) -> tuple[int, int, int]:
        try:
            fields = json.loads(base64.urlsafe_b64decode(token))
            snapshot_id, version, start = int(fields["id"]), int(fields["rv"]), int(fields["start"])
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"invalid continue token {token!r}") from error
        if version < self.oldest_version or snapshot_id not in self._snapshots:
            raise ExpiredError(
                "The provided continue parameter is too old to display a consistent list result. "
                "You can start a new list without the continue parameter."
            )
        return snapshot_id, version, start

    def current_pods(self, namespace: str | None, selector: Selector) -> list[Pod]:
        with self.changed:
            return [
                copy.deepcopy(p) for _, p in sorted(self._pods.items()) if selected(p, namespace, selector)
            ]

    def events_after(
        self, version: int, namespace: str | None, selector: Selector
    ) -> tuple[list[tuple[str, Pod]], int]:
        """Watch events after `version` as this watcher must see them, and the version now reached.

        An object that leaves the selector arrives as DELETED, one that enters it as ADDED.
        Call with `changed` held.
        """
        if version < self.oldest_version:
            raise ExpiredError(f"too old resource version: {version} ({self.oldest_version})")
        events: list[tuple[str, Pod]] = []
        for change in self._history:
            if change.version <= version:
                continue
            was = change.type != "ADDED" and selected(change.before, namespace, selector)
            now = change.type != "DELETED" and selected(change.after, namespace, selector)
            if change.type == "DELETED" and selected(change.after, namespace, selector):
                events.append(("DELETED", copy.deepcopy(change.after)))
            elif was or now:
                kind = "MODIFIED" if was and now else ("ADDED" if now else "DELETED")
                events.append((kind, copy.deepcopy(change.after)))
        return events, self.version
