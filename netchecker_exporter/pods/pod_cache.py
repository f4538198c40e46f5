"""The mirror of agent pods seen through list + watch, and the rule for which of them are expected.

Pure and thread-safe: the watch thread writes Kubernetes pod objects (plain JSON dicts) in, the
reconcile loop and the API read ExpectedPods out without waiting on I/O.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from netchecker_exporter.check import HOSTNET_MARKER, ExpectedPod, Network, network_of_pod_name

FINISHED_PHASES = frozenset({"Succeeded", "Failed"})

PodKey = tuple[str, str]
"""(namespace, name): unique among pods at any one time."""


def pod_key(obj: Mapping[str, Any]) -> PodKey:
    metadata = obj.get("metadata") or {}
    return (str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))


def expected_pod_from_object(obj: Mapping[str, Any], startup_grace_seconds: float) -> ExpectedPod | None:
    """The ExpectedPod for a pod object, or None when it should not be reporting.

    A pod being deleted or finished is not expected. Every other pod gets `startup_grace_seconds`
    from its creation before silence counts as absent, whatever its phase: a pod that is Pending
    past the grace (image pull stuck, node full) is absent, which is what an operator wants to see.
    """
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    name = metadata.get("name")
    if not isinstance(name, str) or not name or metadata.get("deletionTimestamp"):
        return None
    if status.get("phase") in FINISHED_PHASES:
        return None
    created = parse_timestamp(metadata.get("creationTimestamp"))
    return ExpectedPod(
        name=name,
        namespace=str(metadata.get("namespace") or ""),
        node=str(spec.get("nodeName") or ""),
        network=_network_of(name, spec, metadata.get("labels") or {}),
        absent_not_before=created + startup_grace_seconds if created is not None else 0.0,
    )


def _network_of(name: str, spec: Mapping[str, Any], labels: Mapping[str, Any]) -> Network:
    if spec.get("hostNetwork") is True or HOSTNET_MARKER in str(labels.get("app", "")):
        return Network.HOST
    return network_of_pod_name(name)


def parse_timestamp(value: Any) -> float | None:
    """RFC 3339 as the API server writes it ("2024-05-01T10:00:00Z") -> epoch seconds."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def resource_version_of(obj: Mapping[str, Any]) -> str | None:
    version = (obj.get("metadata") or {}).get("resourceVersion")
    return version if isinstance(version, str) and version else None


class PodCache:
    """Expected agent pods by (namespace, name); the tuple view is rebuilt lazily on read.

    Rebuilding on read, not on every event, keeps a rollout of N pods O(N) instead of O(N^2).
    """

    def __init__(self, startup_grace_seconds: float) -> None:
        self._grace = startup_grace_seconds
        self._lock = threading.Lock()
        self._pods: dict[PodKey, ExpectedPod] = {}
        self._view: tuple[ExpectedPod, ...] | None = ()

    def replace(self, objects: Iterable[Mapping[str, Any]]) -> int:
        """Swap in the result of a full list; returns how many pods are expected."""
        pods = {pod_key(obj): pod for obj in objects if (pod := self._expected(obj)) is not None}
        with self._lock:
            self._pods = pods
            self._view = None
        return len(pods)

    def put(self, obj: Mapping[str, Any]) -> None:
        """ADDED or MODIFIED: the pod may become expected, change, or stop being expected."""
        pod = self._expected(obj)
        with self._lock:
            if pod is None:
                self._pods.pop(pod_key(obj), None)
            else:
                self._pods[pod_key(obj)] = pod
            self._view = None

    def remove(self, obj: Mapping[str, Any]) -> None:
        """DELETED (or left the selector)."""
        with self._lock:
            self._pods.pop(pod_key(obj), None)
            self._view = None

    def expected_pods(self) -> tuple[ExpectedPod, ...]:
        with self._lock:
            if self._view is None:
                self._view = tuple(self._pods.values())
            return self._view

    def _expected(self, obj: Mapping[str, Any]) -> ExpectedPod | None:
        return expected_pod_from_object(obj, self._grace)
