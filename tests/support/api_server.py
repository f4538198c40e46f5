"""The house from assemble(), as cli.run builds it, on a memory store, a memory history and a fake clock."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from netchecker_exporter.assemble import Edges, assemble
from netchecker_exporter.pods.base import PodSource
from netchecker_exporter.pods.none import ReportedPodSource
from netchecker_exporter.reconcile import Reconciler
from netchecker_exporter.settings import DiagnosisSettings, Settings, load_settings
from netchecker_exporter.store.base import ReportStore
from netchecker_exporter.store.capacity import AgentCapacity
from netchecker_exporter.store.history import MemoryHistory
from netchecker_exporter.store.memory import UNBOUNDED, MemoryStore
from netchecker_exporter.stored_fields import DEFAULT_MAX_STORED_FIELD_BYTES
from tests.support.wsgi import WsgiResponse, call_wsgi


def settings_with(
    *,
    check_interval_seconds: float = 1,
    max_report_bytes: int = 1 << 20,
    max_probes_per_report: int = 4,
    max_stored_field_bytes: int = DEFAULT_MAX_STORED_FIELD_BYTES,
) -> Settings:
    """The flags' defaults (no argv, no environment), with the few values the in-process tests set."""
    defaults = load_settings([], {}, lambda _path: "")
    limits = dataclasses.replace(
        defaults.limits,
        max_probes_per_report=max_probes_per_report,
        max_stored_field_bytes=max_stored_field_bytes,
    )
    return dataclasses.replace(
        defaults,
        check_interval_seconds=check_interval_seconds,
        report_ttl_seconds=300,
        max_report_bytes=max_report_bytes,
        limits=limits,
    )


class Server:
    """The house from assemble(), as cli.run builds it, on a memory store and a fake clock."""

    def __init__(
        self,
        clock: Callable[[], float],
        capacity: AgentCapacity = UNBOUNDED,
        pods: PodSource | None = None,
        *,
        store: ReportStore | None = None,
        check_interval_seconds: float = 1,
        max_report_bytes: int = 1 << 20,
        max_probes_per_report: int = 4,
        max_stored_field_bytes: int = DEFAULT_MAX_STORED_FIELD_BYTES,
    ) -> None:
        self.store = store or MemoryStore(report_ttl_seconds=300, clock=clock, capacity=capacity)
        self.registry = CollectorRegistry()
        self.received = Counter("netchecker_reports_received", "Reports.", ["result"], registry=self.registry)
        settings = settings_with(
            check_interval_seconds=check_interval_seconds,
            max_report_bytes=max_report_bytes,
            max_probes_per_report=max_probes_per_report,
            max_stored_field_bytes=max_stored_field_bytes,
        )
        edges = Edges(
            self.store, pods or ReportedPodSource(), MemoryHistory(), self.registry, self.received, clock
        )
        self.house = assemble(settings, edges, version="t")
        self.reconciler = self.house.reconciler
        self.app = self.house.app

    def request(self, method: str, path: str, body: bytes = b"", **headers: str) -> WsgiResponse:
        return call_wsgi(self.app, method, path, body, {k.replace("_", "-"): v for k, v in headers.items()})

    def post(self, report: dict[str, Any], name: str) -> WsgiResponse:
        body = json.dumps({**report, "podname": name}).encode()
        return call_wsgi(self.app, "POST", f"/api/v1/agents/{name}", body, {"Content-Type": JSON})

    def get(self, path: str, **environ: str) -> WsgiResponse:
        return call_wsgi(self.app, "GET", path, headers=environ)

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def counted(self, result: str) -> float | None:
        return self.registry.get_sample_value("netchecker_reports_received_total", {"result": result})


JSON = "application/json"


def memory_reconciler(
    store: ReportStore,
    pods: PodSource,
    *,
    check_interval_seconds: float,
    clock: Callable[[], float] = time.time,
) -> Reconciler:
    """A reconciler with the default diagnosis settings and a memory history, for tests of the loop."""
    return Reconciler(
        store=store,
        pods=pods,
        check_interval_seconds=check_interval_seconds,
        clock=clock,
        diagnosis=DiagnosisSettings(),
        history_store=MemoryHistory(),
    )
