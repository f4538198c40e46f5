"""The app wired as cli.run wires it (counters, capacity), on a memory store and a fake clock."""

from __future__ import annotations

import json
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from netchecker_exporter.http.defence import ApiCounters
from netchecker_exporter.http.routes import ApiDependencies, make_app
from netchecker_exporter.metrics.exposition import MetricsExposition
from netchecker_exporter.pods.base import PodSource
from netchecker_exporter.pods.none import ReportedPodSource
from netchecker_exporter.reconcile import Reconciler
from netchecker_exporter.store.capacity import AgentCapacity
from netchecker_exporter.store.memory import MemoryStore
from netchecker_exporter.stored_fields import DEFAULT_MAX_STORED_FIELD_BYTES
from tests.support.clock import FakeClock
from tests.support.wsgi import WsgiResponse, call_wsgi


class Server:
    """The app wired as cli.run wires it (counters, capacity), on a memory store and a fake clock."""

    def __init__(
        self,
        clock: FakeClock,
        capacity: AgentCapacity,
        pods: PodSource | None = None,
        *,
        max_probes_per_report: int = 4,
        max_stored_field_bytes: int = DEFAULT_MAX_STORED_FIELD_BYTES,
    ) -> None:
        self.store = MemoryStore(report_ttl_seconds=300, clock=clock, capacity=capacity)
        self.reconciler = Reconciler(
            store=self.store, pods=pods or ReportedPodSource(), check_interval_seconds=1, clock=clock
        )
        self.registry = CollectorRegistry()
        received = Counter("netchecker_reports_received", "Reports.", ["result"], registry=self.registry)
        self.app = make_app(
            ApiDependencies(
                store=self.store,
                judge_agents_now=self.reconciler.judge_agents_now,
                snapshot=lambda: self.reconciler.snapshot,
                metrics=MetricsExposition(lambda: self.reconciler.snapshot, self.registry, version="t"),
                reports_received=received,
                max_report_bytes=1 << 20,
                clock=clock,
                max_probes_per_report=max_probes_per_report,
                max_stored_field_bytes=max_stored_field_bytes,
                counters=ApiCounters.register(self.registry),
            )
        )

    def post(self, report: dict[str, Any], name: str) -> WsgiResponse:
        body = json.dumps({**report, "podname": name}).encode()
        return call_wsgi(self.app, "POST", f"/api/v1/agents/{name}", body, {"Content-Type": JSON})

    def get(self, path: str, **environ: str) -> WsgiResponse:
        return call_wsgi(self.app, "GET", path, headers=environ)

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


JSON = "application/json"
