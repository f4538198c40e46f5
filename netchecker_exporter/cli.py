"""The only place that reads argv, the environment and files, builds the objects and starts threads."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml
from prometheus_client import (
    CollectorRegistry,
    Counter,
    disable_created_metrics,
    gc_collector,
    platform_collector,
    process_collector,
)

from netchecker_exporter import __version__
from netchecker_exporter.api import ApiDependencies, make_app
from netchecker_exporter.defence import ApiCounters
from netchecker_exporter.diagnosis_history import HistoryLimits
from netchecker_exporter.diagnosis_metrics import DiagnosisCollector
from netchecker_exporter.errors import ConfigError, PodSourceUnavailableError
from netchecker_exporter.export_estimate import ExportEstimate
from netchecker_exporter.exposition import MetricsExposition
from netchecker_exporter.flags import HelpRequestedError, format_help
from netchecker_exporter.front_admission import FrontBudgets
from netchecker_exporter.health import HealthEndpoints
from netchecker_exporter.metrics_shard import MetricsShard, ShardMetrics
from netchecker_exporter.pods.base import PodSource
from netchecker_exporter.pods.cluster_access import find_cluster_access
from netchecker_exporter.pods.none import ReportedPodSource
from netchecker_exporter.pods.static import StaticPodSource, parse_pods_file
from netchecker_exporter.reconcile import Reconciler
from netchecker_exporter.serve import FrontSettings, GranianFront
from netchecker_exporter.settings import Settings, load_settings
from netchecker_exporter.shutdown import StopOnSignals
from netchecker_exporter.status_page import PageLinks
from netchecker_exporter.store.base import ReportStore
from netchecker_exporter.store.capacity import AgentCapacity
from netchecker_exporter.store.field_bound import field_bytes_within_record
from netchecker_exporter.store.history import HistoryStore, MemoryHistory
from netchecker_exporter.store.memory import MemoryStore
from netchecker_exporter.store.metrics_budget import MetricsBudget
from netchecker_exporter.store.record_size import max_stored_record_bytes
from netchecker_exporter.tuning import MallocTrimmer, tune_interpreter, tune_malloc

log = logging.getLogger("netchecker_exporter")

SERVER_THREADS = 48
"""Ingest threads. Each report holds one until its etcd Txn commits, so the writers bound how many
reports a group commit can batch: 8 gave 1,850-1,960 reports/s on etcd, 32 gave 2,400-2,780 and 64
no more (BENCHMARKS.md, measured on waitress). -max-pending-writes defaults to all of them: a cap of
32 refused 34% of a 1,000 reports/s fleet on a loaded machine, and liveness needs no spare ingest
thread, as /healthz, /readyz and /metrics have threads of their own (FrontSettings.read_threads)."""
SHUTDOWN_DRAIN_SECONDS = 3.0
LIGHT_READ_THREADS = 2
"""Read threads beyond -max-heavy-reads, so single records, connectivity_check and ping never
wait behind the heavy renders."""
RUNBOOK = Path(__file__).resolve().parent.parent / "alerts" / "RUNBOOK.md"
"""Served at /runbook when the server runs from a checkout (the status page links to it)."""


def read_text(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def configure_logging(verbosity: int) -> None:
    """glog's -v: 0 is info, 1 or more is debug; everything goes to stderr like -logtostderr."""
    logging.basicConfig(
        level=logging.DEBUG if verbosity > 0 else logging.INFO,
        format="%(asctime)s %(levelname).1s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if verbosity < 5:  # granian's start/stop chatter only at the original's -v=5 and up
        logging.getLogger("_granian").setLevel(logging.WARNING)


def build_store(
    settings: Settings, registry: CollectorRegistry, pods: PodSource | None = None
) -> ReportStore:
    capacity = build_capacity(settings, pods)
    if not settings.etcd.endpoints:
        return MemoryStore(report_ttl_seconds=settings.report_ttl_seconds, capacity=capacity)
    # Imported here: gRPC and the etcd stubs cost start-up time that the memory store need not pay.
    from netchecker_exporter.store.etcd import EtcdStore

    return EtcdStore(
        settings.etcd,
        report_ttl_seconds=settings.report_ttl_seconds,
        capacity=capacity,
        max_pending_writes=settings.limits.max_pending_writes,
        registry=registry,
    )


def build_history_store(settings: Settings, store: ReportStore) -> HistoryStore:
    """With etcd, the diagnosis history is kept there too (one writer among replicas); else in memory."""
    if not settings.etcd.endpoints:
        return MemoryHistory()
    from netchecker_exporter.store.etcd import EtcdStore

    assert isinstance(store, EtcdStore)
    return store.history(HistoryLimits.of(settings.diagnosis))


def stored_field_bytes(settings: Settings) -> int:
    """What a record keeps of `ips` and of `nslookup`: -max-stored-field-bytes, and on etcd at most
    what lets a real agent's record fit the bound etcd's share gives one of -max-agents."""
    limits = settings.limits
    if not settings.etcd.endpoints:
        return limits.max_stored_field_bytes
    return field_bytes_within_record(
        limits.max_stored_field_bytes, max_stored_record_bytes(limits.max_agents)
    )


def build_capacity(settings: Settings, pods: PodSource | None) -> AgentCapacity:
    """With a pod list (kubernetes, static), pods it does not list get their own smaller bound.
    Either way the stored agents share -max-metrics-bytes, estimated for the families exported."""
    limits = settings.limits
    estimate = ExportEstimate.calibrate(legacy_metrics=settings.metrics.legacy_metrics)
    budget = MetricsBudget(max_bytes=limits.max_metrics_bytes, estimate=estimate)
    if pods is None or pods.kind == "none":
        return AgentCapacity(max_agents=limits.max_agents, budget=budget)
    listed = pods

    def listed_names() -> list[str] | None:
        try:
            return [pod.name for pod in listed.expected_pods({})]
        except PodSourceUnavailableError:  # no list loaded yet: ingest must not wait for one
            return None

    return AgentCapacity(
        max_agents=limits.max_agents,
        max_unlisted=limits.max_unlisted_agents,
        listed=listed_names,
        budget=budget,
    )


def build_pod_source(
    settings: Settings, environ: Mapping[str, str], registry: CollectorRegistry | None = None
) -> PodSource:
    """-pods-file -> static; -kubeconfig, $KUBECONFIG or in-cluster -> kubernetes; else none."""
    if settings.pods_file:
        source = settings.pods_file
        pods = parse_pods_file(_load_yaml(source), source)
        log.info("pod source: static, %d agents from %s", len(pods), source)
        return StaticPodSource(pods)
    access = find_cluster_access(settings.kubernetes.kubeconfig, environ)
    if access is not None:
        # Imported here: the kubernetes client costs half a second that other sources need not pay.
        from netchecker_exporter.pods.kube_metrics import KubernetesClientMetrics
        from netchecker_exporter.pods.kubernetes import KubernetesPodSource, connect
        from netchecker_exporter.pods.watch_timing import WatchTiming

        metrics = KubernetesClientMetrics(registry)
        timing = WatchTiming(list_interval_seconds=settings.check_interval_seconds)  # without watch
        watched = KubernetesPodSource(
            connect(access, environ), settings.kubernetes, timing=timing, metrics=metrics
        )
        log.info("pod source: kubernetes via %s, pods labelled %r in %s", access.reason,
                 settings.kubernetes.agent_selector, watched.scope)  # fmt: skip
        return watched
    log.info(
        "pod source: none (no -pods-file, no -kubeconfig or $KUBECONFIG, not in a pod): "
        "every agent that reports is expected"
    )
    return ReportedPodSource()


def _load_yaml(path: str) -> object:
    try:
        return yaml.safe_load(read_text(path))
    except OSError as error:
        raise ConfigError([f"{path}: cannot read: {error.strerror or error}"]) from error
    except yaml.YAMLError as error:
        raise ConfigError([f"{path}: not valid YAML: {error}"]) from error


def build_shard(settings: Settings, registry: CollectorRegistry) -> MetricsShard:
    """This replica's shard of /metrics (docs/scaling.md), and the gauges that say which it is."""
    shard = MetricsShard(settings.metrics.shard, settings.metrics.total_shards)
    registry.register(ShardMetrics(shard))
    return shard


def build_registry() -> tuple[CollectorRegistry, Counter]:
    """One private registry: ingest counter, process and client metrics.

    The snapshot's families are not in it: MetricsExposition renders those from cached lines.
    """
    # *_created series only add noise to every dashboard query (the function is untyped upstream).
    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry(auto_describe=True)
    process_collector.ProcessCollector(registry=registry)
    platform_collector.PlatformCollector(registry=registry)
    gc_collector.GCCollector(registry=registry)
    received = Counter(
        "netchecker_reports_received",
        "Reports POSTed by agents, by outcome: accepted, rejected (bad input), failed (store unavailable).",
        ["result"],
        registry=registry,
    )
    for result in ("accepted", "rejected", "failed"):
        received.labels(result=result)
    return registry, received


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python exporter.py` and the `netchecker-exporter` script; returns the exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        settings = load_settings(args, os.environ, read_text)
    except HelpRequestedError:
        sys.stdout.write(format_help("netchecker-exporter"))
        return 0
    except ConfigError as error:
        sys.stderr.write(f"netchecker-exporter: {error}\n")
        return 2
    configure_logging(settings.verbosity)
    log.info("netchecker-exporter %s starting: %s", __version__, settings.describe())
    try:
        return run(settings, os.environ)
    except ConfigError as error:
        log.error("%s", error)
        return 2


def run(settings: Settings, environ: Mapping[str, str]) -> int:
    """Wire everything up and serve until SIGTERM or SIGINT."""
    registry, received = build_registry()
    field_bytes = stored_field_bytes(settings)
    log.info(
        "a record keeps up to %d bytes of ips and of nslookup (the fair share of each entry beyond)",
        field_bytes,
    )
    pods = build_pod_source(settings, environ, registry)
    store = build_store(settings, registry, pods)
    history = build_history_store(settings, store)
    reconciler = Reconciler(store=store, pods=pods, check_interval_seconds=settings.check_interval_seconds,
                            diagnosis=settings.diagnosis, history_store=history)  # fmt: skip
    shard = build_shard(settings, registry)
    registry.register(DiagnosisCollector(lambda: reconciler.snapshot, shard))
    metrics = MetricsExposition(
        lambda: reconciler.snapshot,
        registry,
        version=__version__,
        legacy_metrics=settings.metrics.legacy_metrics,
        shard=shard,
    )
    app = make_app(
        ApiDependencies(
            store=store,
            judge_agents_now=reconciler.judge_agents_now,
            snapshot=lambda: reconciler.snapshot,
            reports_received=received,
            max_report_bytes=settings.max_report_bytes,
            clock=time.time,
            metrics=metrics,
            max_probes_per_report=settings.limits.max_probes_per_report,
            max_stored_field_bytes=field_bytes,
            counters=ApiCounters.register(registry),
            page_links=page_links(settings),
            runbook_text=read_runbook(),
            report_accepted=reconciler.report_accepted,
            diagnosis_settings=settings.diagnosis,
        )
    )
    front = settings.front
    server = GranianFront(
        app,
        FrontSettings(
            host=settings.listen_host,
            port=settings.listen_port,
            max_body_bytes=settings.max_report_bytes,
            # Threads for the memory store too: POSTs on the event loop saved ~15% CPU per report
            # at saturation but stalled the loop behind the reconcile pass (BENCHMARKS.md).
            ingest_threads=SERVER_THREADS,
            drain_seconds=SHUTDOWN_DRAIN_SECONDS,
            budgets=FrontBudgets(front.max_connections, front.max_connections_per_client,
                                 front.max_inflight_bytes, front.max_heavy_reads),
            max_head_bytes=front.max_head_bytes,
            read_threads=front.max_heavy_reads + LIGHT_READ_THREADS,
        ),
        health=HealthEndpoints(
            store.health,
            lambda: reconciler.snapshot.reconciled,
            lambda: reconciler.snapshot.pod_source.up,
        ),
        registry=registry,
    )  # fmt: skip
    stop = threading.Event()
    signals = StopOnSignals(stop)
    signals.install()
    tune_interpreter()
    tune_malloc()
    pods.start()
    trimmer = MallocTrimmer()

    writer = None
    if pods.kind == "kubernetes":  # its client is loaded already; other sources have no cluster to write to
        from netchecker_exporter.kube_writes.assembly import build_kube_writer

        writer = build_kube_writer(settings, environ, registry)

    def after_pass() -> None:
        metrics.warm()
        # Records in the new snapshot (the old one is gone now): a flood expiring shows as a drop.
        trimmer.observe(sum(1 for verdict in reconciler.snapshot.verdicts if verdict.record is not None))
        if writer is not None:
            writer.offer(reconciler.snapshot)

    loop = threading.Thread(target=reconciler.run, args=(stop, after_pass), name="reconcile", daemon=True)
    loop.start()
    writing = None
    if writer is not None:
        writing = threading.Thread(target=writer.run, args=(stop,), name="kube-writer", daemon=True)
        writing.start()
    log.info("listening on %s:%d", settings.listen_host, server.port)
    try:
        server.serve_until(stop)
    finally:
        stop.set()
        loop.join(timeout=1)
        if writing is not None:
            writing.join(timeout=5)  # it releases the Lease, so another replica takes over at once
        pods.close()
        history.close()
        store.close()
        signals.ignore_further()
    log.info("stopped")
    return 0


def page_links(settings: Settings) -> PageLinks:
    refresh = max(5, round(settings.check_interval_seconds))
    return PageLinks(runbook_url=settings.diagnosis.runbook_url or "runbook", refresh_seconds=refresh)


def read_runbook() -> str | None:
    try:
        return RUNBOOK.read_text(encoding="utf-8")
    except OSError:  # an installed package has no alerts/: the page links to -runbook-url instead
        return None
