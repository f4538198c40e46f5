"""The composition root: Settings plus the edges (store, pod source, registry, clock) -> the house.

One place wires the reconciler, the exposition, the app, the probes and the after-pass hooks, so
cli.run and every in-process test run the same wiring (docs/architecture.md#assembly).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter

from netchecker_exporter.http.defence import ApiCounters
from netchecker_exporter.http.health import HealthEndpoints
from netchecker_exporter.http.routes import ApiDependencies, make_app
from netchecker_exporter.http.status_page import PageLinks
from netchecker_exporter.http.wsgi_bridge import WsgiApp
from netchecker_exporter.metrics.exposition import MetricsExposition
from netchecker_exporter.metrics.shard import MetricsShard, ShardMetrics
from netchecker_exporter.pods.base import PodSource
from netchecker_exporter.reconcile import Reconciler
from netchecker_exporter.settings import Settings
from netchecker_exporter.store.base import ReportStore
from netchecker_exporter.store.field_bound import field_bytes_within_record
from netchecker_exporter.store.history import HistoryStore
from netchecker_exporter.store.record_size import max_stored_record_bytes
from netchecker_exporter.tuning import FrozenSurvivors, MallocTrimmer

if TYPE_CHECKING:  # the writer's module loads the kubernetes client, which only its pod source pays for
    from netchecker_exporter.kube_writes.writer import KubeWriter


@dataclass(frozen=True, slots=True)
class Edges:
    """What the house is built on: the I/O the caller chose (real in cli.run, fakes' clocks in tests)."""

    store: ReportStore
    pods: PodSource
    history: HistoryStore
    registry: CollectorRegistry
    reports_received: Counter
    clock: Callable[[], float] = time.time
    writer: KubeWriter | None = None
    """The Events/conditions writer (kube_writes/), only with a Kubernetes pod source."""
    runbook_text: str | None = None


@dataclass(frozen=True, slots=True)
class House:
    """The wired parts that cli.run threads and serves."""

    reconciler: Reconciler
    metrics: MetricsExposition
    app: WsgiApp
    health: HealthEndpoints
    after_pass: Callable[[], None]
    """Run by the reconcile thread after each pass: malloc trim, the GC's sweep, the writer's offer."""
    stored_field_bytes: int
    survivors: FrozenSurvivors
    """The cyclic GC's policy, process-wide: cli.run installs it beside tune_interpreter()."""


def assemble(settings: Settings, edges: Edges, *, version: str) -> House:
    """Wire the house from `settings` on `edges`; starts nothing (cli.run owns threads and serving)."""
    store, pods, registry = edges.store, edges.pods, edges.registry
    reconciler = Reconciler(
        store=store,
        pods=pods,
        check_interval_seconds=settings.check_interval_seconds,
        clock=edges.clock,
        diagnosis=settings.diagnosis,
        history_store=edges.history,
    )
    metrics = MetricsExposition(
        lambda: reconciler.snapshot,
        registry,
        version=version,
        legacy_metrics=settings.metrics.legacy_metrics,
        shard=build_shard(settings, registry),
    )
    field_bytes = stored_field_bytes(settings)
    app = make_app(
        ApiDependencies(
            store=store,
            judge_agents_now=reconciler.judge_agents_now,
            snapshot=lambda: reconciler.snapshot,
            reports_received=edges.reports_received,
            max_report_bytes=settings.max_report_bytes,
            clock=edges.clock,
            metrics=metrics,
            max_probes_per_report=settings.limits.max_probes_per_report,
            max_stored_field_bytes=field_bytes,
            counters=ApiCounters.register(registry),
            page_links=page_links(settings),
            runbook_text=edges.runbook_text,
            report_accepted=reconciler.report_accepted,
            diagnosis_settings=settings.diagnosis,
        )
    )
    health = HealthEndpoints(
        store.health, lambda: reconciler.snapshot.reconciled, lambda: reconciler.snapshot.pod_source.up
    )
    trimmer = MallocTrimmer()
    survivors = FrozenSurvivors()
    writer = edges.writer

    def after_pass() -> None:
        # No metrics write here: a scrape writes the agents that changed since the last one
        # (exposition.py), once per agent per scrape however often the agent reported.
        # Records in the new snapshot (the old one is gone now): a flood expiring shows as a drop.
        trimmer.observe(sum(1 for verdict in reconciler.snapshot.verdicts if verdict.record is not None))
        survivors.sweep_if_due()
        if writer is not None:
            writer.offer(reconciler.snapshot)

    return House(reconciler, metrics, app, health, after_pass, field_bytes, survivors)


def build_shard(settings: Settings, registry: CollectorRegistry) -> MetricsShard:
    """This replica's shard of /metrics (docs/scaling.md), and the gauges that say which it is."""
    shard = MetricsShard(settings.metrics.shard, settings.metrics.total_shards)
    registry.register(ShardMetrics(shard))
    return shard


def stored_field_bytes(settings: Settings) -> int:
    """What a record keeps of `ips` and of `nslookup`: -max-stored-field-bytes, and on etcd at most
    what lets a real agent's record fit the bound etcd's share gives one of -max-agents."""
    limits = settings.limits
    if not settings.etcd.endpoints:
        return limits.max_stored_field_bytes
    return field_bytes_within_record(
        limits.max_stored_field_bytes, max_stored_record_bytes(limits.max_agents)
    )


def page_links(settings: Settings) -> PageLinks:
    refresh = max(5, round(settings.check_interval_seconds))
    return PageLinks(runbook_url=settings.diagnosis.runbook_url or "runbook", refresh_seconds=refresh)
