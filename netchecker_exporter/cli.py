"""The only place that reads argv, the environment and files; it builds the edges (store, pod source,
registry), has assemble.py wire the house on them, and owns signals, threads and serving."""

from __future__ import annotations

import logging
import os
import sys
import threading
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
from netchecker_exporter.assemble import Edges, assemble
from netchecker_exporter.diagnosis.history import HistoryLimits
from netchecker_exporter.errors import ConfigError, PodSourceUnavailableError
from netchecker_exporter.flags import INGEST_THREADS, HelpRequestedError, format_help
from netchecker_exporter.http.front import FrontSettings, GranianFront
from netchecker_exporter.metrics.export_estimate import ExportEstimate
from netchecker_exporter.pods.base import PodSource
from netchecker_exporter.pods.cluster_access import find_cluster_access
from netchecker_exporter.pods.none import ReportedPodSource
from netchecker_exporter.pods.static import StaticPodSource, parse_pods_file
from netchecker_exporter.settings import Settings, load_settings
from netchecker_exporter.shutdown import StopOnSignals, stop_after_delay
from netchecker_exporter.store.base import ReportStore
from netchecker_exporter.store.capacity import AgentCapacity
from netchecker_exporter.store.history import HistoryStore, MemoryHistory
from netchecker_exporter.store.memory import MemoryStore
from netchecker_exporter.store.metrics_budget import MetricsBudget
from netchecker_exporter.tuning import tune_interpreter, tune_malloc

log = logging.getLogger("netchecker_exporter")

SHUTDOWN_DRAIN_SECONDS = 3.0
LIGHT_READ_THREADS = 2
"""Read threads beyond -max-heavy-reads, so single records, connectivity_check and ping never
wait behind the heavy renders."""
MEMORY_STORE_INGEST_THREADS = 1
"""The memory store's write never waits, so one thread takes every report: while it works, the next
reports queue without waking anyone, where 48 idle threads were each woken (and took the GIL in
turn) per report (docs/performance.md#fewer-wake-ups-per-report-one-ingest-thread-sched_batch)."""
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


def build_store(settings: Settings, registry: CollectorRegistry, pods: PodSource) -> ReportStore:
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


def ingest_threads(settings: Settings) -> int:
    """The front's threads for POSTs: on etcd each holds its report until the group commit lands."""
    return INGEST_THREADS if settings.etcd.endpoints else MEMORY_STORE_INGEST_THREADS


def build_history_store(settings: Settings, store: ReportStore) -> HistoryStore:
    """With etcd, the diagnosis history is kept there too (one writer among replicas); else in memory."""
    if not settings.etcd.endpoints:
        return MemoryHistory()
    from netchecker_exporter.store.etcd import EtcdStore

    assert isinstance(store, EtcdStore)
    return store.history(HistoryLimits.of(settings.diagnosis))


def build_capacity(settings: Settings, pods: PodSource) -> AgentCapacity:
    """With a pod list (kubernetes, static), pods it does not list get their own smaller bound.
    Either way the stored agents share -max-metrics-bytes, estimated for the families exported."""
    limits = settings.limits
    estimate = ExportEstimate.calibrate(legacy_metrics=settings.metrics.legacy_metrics)
    budget = MetricsBudget(max_bytes=limits.max_metrics_bytes, estimate=estimate)
    if pods.kind == "none":
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
    settings: Settings, environ: Mapping[str, str], registry: CollectorRegistry
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
    """Build the edges, assemble the house on them, and serve until SIGTERM or SIGINT."""
    registry, received = build_registry()
    pods = build_pod_source(settings, environ, registry)
    store = build_store(settings, registry, pods)
    history = build_history_store(settings, store)
    writer = None
    if pods.kind == "kubernetes":  # its client is loaded already; other sources have no cluster to write to
        from netchecker_exporter.kube_writes.assembly import build_kube_writer

        writer = build_kube_writer(settings, environ, registry)
    house = assemble(
        settings,
        Edges(store, pods, history, registry, received, writer=writer, runbook_text=read_runbook()),
        version=__version__,
    )
    log.info(
        "a record keeps up to %d bytes of ips and of nslookup (the fair share of each entry beyond)",
        house.stored_field_bytes,
    )
    front = settings.front
    server = GranianFront(
        house.app,
        FrontSettings(
            host=settings.listen_host,
            port=settings.listen_port,
            max_body_bytes=settings.max_report_bytes,
            drain_seconds=SHUTDOWN_DRAIN_SECONDS,
            budgets=front,
            ingest_threads=ingest_threads(settings),
            read_threads=front.max_heavy_reads + LIGHT_READ_THREADS,
        ),
        health=house.health,
        registry=registry,
    )  # fmt: skip
    stop, signalled = threading.Event(), threading.Event()
    signals = StopOnSignals(signalled)
    signals.install()
    threading.Thread(
        target=stop_after_delay,
        args=(signalled, stop, house.health.leave_service, settings.shutdown_delay_seconds),
        name="stop-after-delay",
        daemon=True,
    ).start()
    tune_interpreter()
    house.survivors.install()
    tune_malloc()
    pods.start()
    loop = threading.Thread(
        target=house.reconciler.run, args=(stop, house.after_pass), name="reconcile", daemon=True
    )
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


def read_runbook() -> str | None:
    try:
        return RUNBOOK.read_text(encoding="utf-8")
    except OSError:  # an installed package has no alerts/: the page links to -runbook-url instead
        return None
