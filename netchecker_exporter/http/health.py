"""/healthz and /readyz as bytes computed from facts that never wait: no pool, no store call.

The front answers both on its event loop (wsgi_bridge), ahead of every budget and thread pool, so a
read flood or a full ingest queue cannot make a probe time out and the kubelet restart a busy pod.
The facts are the store's published health (a flag and a detail under a short lock) and whether
the reconcile pass has succeeded once (the Snapshot the pass published).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netchecker_exporter.store.base import StoreHealth

HEALTH_PATHS = frozenset({"/healthz", "/readyz"})


@dataclass(frozen=True, slots=True)
class HealthAnswer:
    status: int
    body: bytes


LIVE = HealthAnswer(200, json.dumps({"status": "ok"}).encode())


def readiness(
    store: StoreHealth, *, reconciled: bool, pods_up: bool, leaving: bool = False
) -> tuple[int, dict[str, Any]]:
    """200 once the store is up and a pass has succeeded; else 503 with every reason.

    A pod list that never loaded (pods down, so no pass can succeed) does not take the server out of
    its Service: reports are stored all the same, and connectivity_check answers the original's 500.
    """
    reasons = []
    if leaving:
        reasons.append("shutting down (-shutdown-delay): out of the Service while it still serves")
    if not store.up:
        reasons.append("store unavailable" + (f": {store.detail}" if store.detail else ""))
    if not reconciled and pods_up:
        reasons.append("no reconcile pass has succeeded yet")
    if reasons:
        return 503, {"status": "not ready", "reasons": reasons}
    return 200, {"status": "ready"}


class HealthEndpoints:
    """The two probe answers, from callables that only read published state."""

    def __init__(
        self,
        store_health: Callable[[], StoreHealth],
        reconciled: Callable[[], bool],
        pods_up: Callable[[], bool],
    ) -> None:
        self._store_health, self._reconciled, self._pods_up = store_health, reconciled, pods_up
        self._leaving = False

    def leave_service(self) -> None:
        """From now on /readyz is 503 (a stop signal came): Kubernetes takes us out of the Service
        while we still answer what it sends until then. A plain flag: the loop only reads it."""
        self._leaving = True

    def answer(self, path: str) -> HealthAnswer:
        if path == "/healthz":
            return LIVE
        status, payload = readiness(
            self._store_health(),
            reconciled=self._reconciled(),
            pods_up=self._pods_up(),
            leaving=self._leaving,
        )
        return HealthAnswer(status, json.dumps(payload).encode())
