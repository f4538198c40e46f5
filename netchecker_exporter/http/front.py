"""The HTTP front: granian (hyper on tokio, in Rust) embedded in our process, stopped gracefully.

One process, so the memory store and the reconcile loop live next to the handlers. granian parses
HTTP and holds every connection; wsgi_bridge runs the bottle app on our threads, and answers the
agents' reports without the event loop (granian_dispatch). The bounds that keep slow clients from
starving fast ones are in FrontSettings (docs/limits.md).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import threading
from dataclasses import dataclass, field
from typing import Any

from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.server.embed import Server
from prometheus_client import CollectorRegistry

from netchecker_exporter.flags import INGEST_THREADS
from netchecker_exporter.http.front_admission import FrontAdmission, FrontMetrics
from netchecker_exporter.http.granian_dispatch import DirectLoop, spawn_target
from netchecker_exporter.http.health import HealthEndpoints
from netchecker_exporter.http.loop_handoff import HandoffPool
from netchecker_exporter.http.wsgi_bridge import BridgeLimits, WsgiApp, WsgiBridge
from netchecker_exporter.settings import FrontLimitSettings

log = logging.getLogger(__name__)

HEALTH_RESERVE_CONNECTIONS = 64
"""Connections granian accepts beyond -max-connections: past the cap we refuse every request but
/healthz and /readyz, so these stay for the kubelet's probes (each its own short connection)."""


@dataclass(frozen=True, slots=True)
class FrontSettings:
    """Where to listen and the bounds on what a client may hold."""

    host: str
    port: int
    max_body_bytes: int
    ingest_threads: int = INGEST_THREADS
    """Threads for POSTs; each report holds one until its store write returns (group commit batches).
    0: POSTs run on granian's own Python thread, which also takes every request and body in (a
    handoff fewer per report, for an app that never blocks)."""
    read_threads: int = 4
    """Threads for everything else (/healthz, /readyz, /metrics, reads): never behind the ingest queue."""
    header_read_timeout_seconds: float = 5.0
    """A connection that has not sent its whole request head within this is closed (idle ones too)."""
    body_read_timeout_seconds: float = 10.0
    """From the head to the last body byte; the agents send 3.7 KB at once, so 10 s is generous."""
    backlog: int = 4096
    """Listen queue: connections the kernel accepts before granian does."""
    budgets: FrontLimitSettings = field(default_factory=FrontLimitSettings)
    """Connections (total, per client), bytes in flight, heavy reads: front_admission; docs/limits.md.
    A request head over its max_head_bytes is refused by hyper (431): that is its read buffer per
    connection, so held heads total at most this times granian's connection cap."""
    drain_seconds: float = 3.0
    """On stop: time for requests in flight to finish before the process goes on to exit."""
    open_files: int = 65536
    """Soft RLIMIT_NOFILE wanted (capped by the hard limit): every held connection is a descriptor,
    and container runtimes often start processes at 1,024, which 1,000 idle clients would exhaust.
    It must exceed the connection cap plus the reserve plus our own files and client sockets."""


class GranianFront:
    """granian's embedded server on an event loop in the calling thread; stop with an Event."""

    def __init__(
        self,
        app: WsgiApp,
        settings: FrontSettings,
        *,
        health: HealthEndpoints | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._settings = settings
        self._ingest = (
            HandoffPool(settings.ingest_threads, name="http-ingest") if settings.ingest_threads > 0 else None
        )
        self._reads = HandoffPool(settings.read_threads, name="http-read")
        limits = BridgeLimits(settings.max_body_bytes, settings.body_read_timeout_seconds)
        admission = FrontAdmission(
            settings.budgets, FrontMetrics(registry), idle_seconds=settings.header_read_timeout_seconds
        )
        self._bridge = WsgiBridge(
            app, ingest=self._ingest, reads=self._reads, limits=limits, health=health, admission=admission
        )

    @property
    def port(self) -> int:
        return self._settings.port

    def serve_until(self, stop: threading.Event) -> None:
        """Serve until `stop` is set; then stop accepting and let requests in flight finish."""
        files = raise_open_files_limit(self._settings.open_files)
        needed = granian_connection_cap(self._settings.budgets) + OWN_FILES
        if files != resource.RLIM_INFINITY and files < needed:
            log.warning(
                "open-files limit %d is below the connection cap, its reserve and our own files (%d): "
                "lower -max-connections or raise the hard limit",
                files,
                needed,
            )
        try:
            with asyncio.Runner(loop_factory=DirectLoop) as runner:
                runner.run(self._serve(stop))
        finally:
            for pool in (self._ingest, self._reads):
                if pool is not None:
                    pool.shutdown()

    async def _serve(self, stop: threading.Event) -> None:
        server = self._server()
        serving = asyncio.create_task(server.serve(spawn_target(self._bridge.dispatch_for)))
        waiting = asyncio.create_task(asyncio.to_thread(stop.wait))
        done, _ = await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if serving in done:  # granian ended by itself: a bind error, say
            stop.set()
            serving.result()
            return
        log.info("stopping: no new connections; draining in-flight requests")
        server.stop()
        try:
            await asyncio.wait_for(serving, self._settings.drain_seconds)
        except TimeoutError:
            log.warning("requests still in flight after %g s: dropped", self._settings.drain_seconds)

    def _server(self) -> Any:
        settings = self._settings
        return Server(
            self._bridge,
            address=settings.host,
            port=settings.port,
            interface=Interfaces.RSGI,
            http=HTTPModes.http1,
            websockets=False,
            backlog=settings.backlog,
            backpressure=granian_connection_cap(settings.budgets),
            http1_settings=HTTP1Settings(
                header_read_timeout=int(settings.header_read_timeout_seconds * 1000),
                keep_alive=True,
                max_buffer_size=settings.budgets.max_head_bytes,
            ),
            log_enabled=False,
        )


OWN_FILES = 256
"""Descriptors besides client connections: etcd and Kubernetes clients, logs, libraries."""


def granian_connection_cap(budgets: FrontLimitSettings) -> int:
    """granian holds one permit per open connection (its `backpressure`) and accepts no more beyond
    them: our own cap, plus a reserve that only probes use once the ledger refuses
    (docs/limits.md#probes-first)."""
    return budgets.max_connections + HEALTH_RESERVE_CONNECTIONS


def raise_open_files_limit(wanted: int) -> int:
    """Raise the soft open-files limit towards `wanted` (never above the hard limit); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        log.info("open-files limit raised from %d to %d (hard limit %s)", soft, target, hard)
        return target
    return soft
