"""Leader election on a coordination.k8s.io/v1 Lease: of several replicas, exactly one writes.

The client's kubernetes.leaderelection is not used: it cannot be stopped (its loops sleep forever
and exit the process on a bad config), never releases the Lease, and writes local naive times
(docs/events.md). This is client-go's scheme in small: read, then create or replace with the
read resourceVersion, so two candidates cannot both win; a Lease held by another is taken only
after it went unrenewed for its whole duration as timed by our own clock, never by comparing clocks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from netchecker_exporter.kube_writes.api import KubeRest, KubeWriteError

log = logging.getLogger(__name__)

LEASE_SECONDS = 15
"""client-go's defaults: a 15 s Lease, renewed every 2 s, given up if not renewed within 10 s."""
RENEW_DEADLINE_SECONDS = 10.0
RETRY_SECONDS = 2.0


def micro_time(at: float) -> str:
    """A Kubernetes MicroTime (RFC 3339, microseconds, UTC)."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class LeaseView:
    holder: str
    renewed: str
    """renewTime as written: compared for change only, never against our clock."""
    transitions: int
    resource_version: str


def lease_view(lease: dict[str, Any]) -> LeaseView:
    spec = lease.get("spec") or {}
    return LeaseView(
        holder=str(spec.get("holderIdentity") or ""),
        renewed=str(spec.get("renewTime") or ""),
        transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=str(lease["metadata"]["resourceVersion"]),
    )


def may_take(view: LeaseView, identity: str, *, unchanged_for_seconds: float, lease_seconds: float) -> bool:
    """Ours already, free (released), or its holder let it go unrenewed for a whole Lease."""
    return view.holder in ("", identity) or unchanged_for_seconds >= lease_seconds


class LeaseElector:
    """try_acquire_or_renew() every RETRY_SECONDS; is_leader() says whether to write now."""

    def __init__(  # noqa: PLR0913 (keyword-only: each is a dependency or a setting)
        self,
        rest: KubeRest,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_seconds: int = LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rest = rest
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self._lease_seconds = lease_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._observed: tuple[str, str] | None = None
        self._observed_at = 0.0
        self._renewed_at: float | None = None
        """Monotonic time of our last successful create or replace."""

    def is_leader(self) -> bool:
        renewed = self._renewed_at
        return renewed is not None and self._monotonic() - renewed < RENEW_DEADLINE_SECONDS

    def try_acquire_or_renew(self) -> bool:
        """One round; raises KubeWriteError for what the caller must report (403, the API down)."""
        try:
            lease = self._read()
        except KubeWriteError as error:
            if error.status != 404:
                raise
            return self._write(self._body(None), create=True)
        view = lease_view(lease)
        now = self._monotonic()
        if self._observed != (view.holder, view.renewed):
            self._observed, self._observed_at = (view.holder, view.renewed), now
        if not may_take(view, self.identity, unchanged_for_seconds=now - self._observed_at,
                        lease_seconds=self._lease_seconds):  # fmt: skip
            self._renewed_at = None
            return False
        return self._write(self._body(lease), create=False)

    def release(self) -> None:
        """Hand the Lease over at once on shutdown (holder cleared), as client-go's ReleaseOnCancel."""
        if not self.is_leader():
            return
        try:
            lease = self._read()
            if lease_view(lease).holder == self.identity:
                body = self._body(lease)
                body["spec"].update(holderIdentity=None, leaseDurationSeconds=1)
                self._rest.request("update", "leases", "PUT", self._path(), body=body)
        except KubeWriteError as error:
            log.warning("could not release the Lease %s/%s: HTTP %s", self.namespace, self.name, error.status)
        self._renewed_at = None

    def _path(self, *, named: bool = True) -> str:
        base = f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases"
        return f"{base}/{self.name}" if named else base

    def _read(self) -> dict[str, Any]:
        return self._rest.request("get", "leases", "GET", self._path())

    def _body(self, lease: dict[str, Any] | None) -> dict[str, Any]:
        now = micro_time(self._clock())
        spec = dict((lease or {}).get("spec") or {})
        if spec.get("holderIdentity") != self.identity:
            transitions = int(spec.get("leaseTransitions") or 0) + (1 if lease else 0)
            spec.update(acquireTime=now, leaseTransitions=transitions)
        spec.update(holderIdentity=self.identity, leaseDurationSeconds=self._lease_seconds, renewTime=now)
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if lease is not None:
            metadata["resourceVersion"] = lease["metadata"]["resourceVersion"]
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}

    def _write(self, body: dict[str, Any], *, create: bool) -> bool:
        try:
            if create:
                self._rest.request("create", "leases", "POST", self._path(named=False), body=body)
            else:
                self._rest.request("update", "leases", "PUT", self._path(), body=body)
        except KubeWriteError as error:
            if error.status == 409:  # another candidate wrote first: it leads
                self._renewed_at = None
                return False
            raise
        self._renewed_at = self._monotonic()
        return True
