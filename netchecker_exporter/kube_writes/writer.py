"""The writer thread: takes the newest Snapshot the loop offers, asks the pure planners what to write,
and, while it holds the Lease, writes it; a follower plans the same and writes nothing.

The reconcile loop only drops the Snapshot in a one-slot mailbox (newer replaces older: the planners
diff against what was written, so a skipped Snapshot loses no change that lasts), so no API call is
ever on the request path or in the pass. Errors are counted; a missing RBAC grant is logged once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netchecker_exporter.diagnosis.nodes import Diagnosis
from netchecker_exporter.kube_writes.api import (
    EVENTS_GRANT,
    LEASES_GRANT,
    NODES_GRANT,
    NODES_LIST_GRANT,
    Grant,
    KubeWriteApi,
    KubeWriteError,
    grant_hint,
)
from netchecker_exporter.kube_writes.condition_plan import ConditionPatch, ConditionPlanner
from netchecker_exporter.kube_writes.event_plan import EventCreate, EventPlanner, SeriesPatch
from netchecker_exporter.kube_writes.lease import RETRY_SECONDS, LeaseElector, micro_time
from netchecker_exporter.kube_writes.metrics import KubeWriteMetrics
from netchecker_exporter.kube_writes.write_gate import WriteGate
from netchecker_exporter.snapshot import Snapshot

log = logging.getLogger(__name__)

REPORTING_CONTROLLER = "netchecker.io/netchecker-exporter"
ACTION = "Diagnose"
NODE_EVENT_NAMESPACE = "default"
"""Events about a cluster-scoped object live in `default`, as the kubelet's node Events do."""


@dataclass(frozen=True, slots=True)
class WriterIdentity:
    instance: str
    """reportingInstance: the pod name (hostname)."""
    server: dict[str, str]
    """The object the summary Event is about: our own Pod in a cluster, else our Namespace."""
    server_event_namespace: str


def event_body(write: EventCreate, identity: WriterIdentity, namespace: str) -> dict[str, Any]:
    """The events.k8s.io/v1 Event of one create: about the Node, or about the server (the summary)."""
    regarding = (
        {"apiVersion": "v1", "kind": "Node", "name": write.node, "uid": write.node}
        if write.node
        else identity.server
    )
    body: dict[str, Any] = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": write.name, "namespace": namespace},
        "eventTime": micro_time(write.at),
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": identity.instance[:128],
        "action": ACTION,
        "reason": write.reason,
        "type": write.type,
        "note": write.note,
        "regarding": regarding,
    }
    if write.related_pod is not None:
        pod_namespace, pod = write.related_pod
        body["related"] = {"apiVersion": "v1", "kind": "Pod", "namespace": pod_namespace, "name": pod}
    return body


def event_namespace(write: EventCreate | SeriesPatch, identity: WriterIdentity) -> str:
    return NODE_EVENT_NAMESPACE if write.node else identity.server_event_namespace


class KubeWriter:
    def __init__(  # noqa: PLR0913 (keyword-only: each is a dependency)
        self,
        *,
        api: KubeWriteApi,
        elector: LeaseElector,
        gate: WriteGate,
        events: EventPlanner | None,
        conditions: ConditionPlanner | None,
        metrics: KubeWriteMetrics,
        identity: WriterIdentity,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._elector = elector
        self._gate = gate
        self._events = events
        self._conditions = conditions
        self._metrics = metrics
        self._identity = identity
        self._clock = clock
        self._monotonic = monotonic
        self._mailbox: Snapshot | None = None
        self._mailbox_lock = threading.Lock()
        self._wake = threading.Event()
        self._elected_at: float | None = None
        self._leading = False
        self._seeded = False
        self._hinted: set[str] = set()
        self._failing: set[str] = set()

    def offer(self, snapshot: Snapshot) -> None:
        """The loop's after-pass hook: O(1), never blocks on the API."""
        with self._mailbox_lock:
            self._mailbox = snapshot
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:  # a bug here must not end the thread: log it, count it, go on next round
                log.exception("Kubernetes writer round failed; going on")
                self._metrics.failures.labels(stage="round").inc()
            self._wake.wait(RETRY_SECONDS)
            self._wake.clear()
        self._elector.release()
        self._metrics.leader.set(0)

    def run_once(self) -> None:
        """One round: elect (at most every RETRY_SECONDS), then act on the newest Snapshot offered."""
        self._elect()
        with self._mailbox_lock:
            snapshot, self._mailbox = self._mailbox, None
        if snapshot is not None:
            diagnosis = self._gate.admit(snapshot, self._clock())
            if diagnosis is not None:
                self._write(diagnosis)

    def _elect(self) -> None:
        now = self._monotonic()
        if self._elected_at is not None and now - self._elected_at < RETRY_SECONDS:
            return
        self._elected_at = now
        try:
            self._elector.try_acquire_or_renew()
            self._succeeded("lease")
        except KubeWriteError as error:
            self._metrics.failures.labels(stage="lease").inc()
            self._failed("lease", error, LEASES_GRANT, "this replica does not write Events or conditions")
        leading = self._elector.is_leader()
        if leading != self._leading:
            log.info("%s %s the Lease %s/%s: %s", self._elector.identity, "holds" if leading else "lost",
                     self._elector.namespace, self._elector.name,
                     "this replica writes" if leading else "another replica writes")  # fmt: skip
            self._seeded = False
        self._leading = leading
        self._metrics.leader.set(1 if leading else 0)

    def _write(self, diagnosis: Diagnosis) -> None:
        now = self._clock()
        if self._events is not None:
            plan = self._events.plan(diagnosis, now)
            if self._leading:
                self._metrics.events.labels(result="suppressed").inc(plan.suppressed)
                self._write_events(plan.writes)
        if self._conditions is not None:
            if self._leading and not self._seeded:
                self._seed_conditions()
            patches = self._conditions.plan(diagnosis, now)
            for patch in patches:
                if not self._leading:
                    self._conditions.written(patch)  # a follower keeps the same account
                elif not self._seeded or not self._elector.is_leader() or not self._write_conditions(patch):
                    break  # the rest are patched at a later pass: the planner diffs against the Nodes

    def _write_events(self, writes: list[EventCreate | SeriesPatch]) -> None:
        """In order, while we lead and the API answers; the rest are given up as failed."""
        for index, write in enumerate(writes):
            if not self._elector.is_leader():
                self._give_up(writes[index:])
                return
            if not self._write_event(write):  # that one is counted and forgotten already
                self._give_up(writes[index + 1 :])
                return

    def _give_up(self, writes: list[EventCreate | SeriesPatch]) -> None:
        for write in writes:
            self._metrics.events.labels(result="failed").inc()
            self._forget_event(write, gone=False)

    def _forget_event(self, write: EventCreate | SeriesPatch, *, gone: bool) -> None:
        if self._events is None:
            return
        if isinstance(write, EventCreate):
            self._events.create_failed(write.key)
        else:
            self._events.patch_failed(write.key, gone=gone)

    def _write_event(self, write: EventCreate | SeriesPatch) -> bool:
        """False when the API server is unreachable: one timeout, not one per write."""
        namespace = event_namespace(write, self._identity)
        try:
            if isinstance(write, EventCreate):
                self._api.create_event(namespace, event_body(write, self._identity, namespace))
            else:
                series = {"count": write.count, "lastObservedTime": micro_time(write.last_observed)}
                self._api.patch_event(namespace, write.name, {"series": series})
        except KubeWriteError as error:
            self._metrics.events.labels(result="failed").inc()
            self._failed("events", error, EVENTS_GRANT, "node verdicts are not written as Events")
            self._forget_event(write, gone=error.status == 404)
            return error.status != 0
        self._metrics.events.labels(result="written").inc()
        self._succeeded("events")
        return True

    def _seed_conditions(self) -> None:
        """Read what the Nodes carry before writing, so a new leader writes differences only."""
        if self._conditions is None:
            return
        self._conditions.reset()
        try:
            for node, conditions, heartbeat in self._api.node_conditions():
                self._conditions.seed(node, conditions, heartbeat)
        except KubeWriteError as error:
            self._metrics.failures.labels(stage="nodes").inc()
            self._failed("nodes", error, NODES_LIST_GRANT, "Node conditions are not written")
            self._conditions.reset()
            return
        self._succeeded("nodes")
        self._seeded = True

    def _write_conditions(self, patch: ConditionPatch) -> bool:
        """False when the API server is unreachable (the caller stops the batch)."""
        assert self._conditions is not None
        beat = micro_time(patch.at)
        conditions = [
            {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message,
             "lastTransitionTime": micro_time(c.transition_at), "lastHeartbeatTime": beat}
            for c in patch.conditions
        ]  # fmt: skip
        try:
            self._api.patch_node_status(patch.node, {"status": {"conditions": conditions}})
        except KubeWriteError as error:
            self._metrics.condition_patches.labels(result="failed").inc()
            if error.status == 404:
                self._conditions.forget(patch.node)
            else:
                self._failed("nodes/status", error, NODES_GRANT, "Node conditions are not written")
            return error.status != 0
        self._conditions.written(patch)
        self._metrics.condition_patches.labels(result="written").inc()
        self._succeeded("nodes/status")
        return True

    def _failed(self, what: str, error: KubeWriteError, grant: Grant, consequence: str) -> None:
        """A missing grant is logged once for the process; other errors once until the next success."""
        if error.status == 403:
            if what not in self._hinted:
                self._hinted.add(what)
                log.error("%s", grant_hint(error, grant, consequence))
            return
        if what not in self._failing:
            self._failing.add(what)
            log.warning("Kubernetes writer: %s; retrying (further failures only counted)", error)

    def _succeeded(self, what: str) -> None:
        self._failing.discard(what)
