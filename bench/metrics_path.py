"""The /metrics path at 10,000 agents in one process, in CPU time: passes, writing lines, scrapes.

    python -m bench.metrics_path [--agents 10000] [--runs 5]
    PYTHONPATH=OTHER_CHECKOUT python -m bench.metrics_path    # the same steps on other code

Memory store, no pod source, the captured reports. Each run: a full pass and the write after it,
a gzip scrape of that new Snapshot and a repeat, a text scrape; then 1,000 agents report, and the
pass that follows them (a refresh where the code has one), its write, and a gzip scrape; then
every agent reports, and the same again (every agent's lines renumbered, every run rebuilt).
Medians of CPU time (time.process_time), which a shared machine moves less than wall time.
"""

from __future__ import annotations

import argparse
import functools
import gc
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from bench.payload import fleet_payloads
from netchecker_exporter.metrics.exposition import MetricsExposition
from netchecker_exporter.pods.none import ReportedPodSource
from netchecker_exporter.reconcile import Reconciler
from netchecker_exporter.report import parse_report
from netchecker_exporter.settings import DiagnosisSettings
from netchecker_exporter.store.history import MemoryHistory
from netchecker_exporter.store.memory import MemoryStore
from netchecker_exporter.tuning import GC_THRESHOLDS

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
BATCH = 1000


def cpu_ms(step: Callable[[], object]) -> float:
    started = time.process_time()
    step()
    return (time.process_time() - started) * 1000


def read_all(body: Any) -> bytes:
    return body if isinstance(body, bytes) else body.read()


def fleet_reconciler(store: MemoryStore, clock: Callable[[], float]) -> Reconciler:
    """The reconciler a bench fleet runs: its memory store, every reporter expected, the default
    diagnosis, a 10 s check interval, the fleet's clock."""
    return Reconciler(
        diagnosis=DiagnosisSettings(),
        history_store=MemoryHistory(),
        store=store,
        pods=ReportedPodSource(),
        check_interval_seconds=10,
        clock=clock,
    )


def fleet_arguments(doc: str | None, argv: Sequence[str] | None, *, runs: int) -> argparse.Namespace:
    """--agents and --runs of a bench over a Fleet, with the cyclic GC tuned as the server runs it
    (tuning.py), so that its collections weigh in the figures as they do in the server."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=runs)
    args = parser.parse_args(argv)
    gc.set_threshold(*GC_THRESHOLDS)
    return args


class Fleet:
    """A store of real reports, its reconciler and exposition, and a clock the runs move."""

    def __init__(self, agents: int) -> None:
        self.now = 1_800_000_000.0
        self.bodies = fleet_payloads(agents, now=self.now)
        self.store = MemoryStore(report_ttl_seconds=3600, clock=lambda: self.now)
        for pod, body in self.bodies:
            self.store.put_report(parse_report(body, pod), self.now)
        self.reconciler = fleet_reconciler(self.store, lambda: self.now)
        registry = CollectorRegistry()
        self.metrics = MetricsExposition(lambda: self.reconciler.snapshot, registry, version="bench")

    def report(self, bodies: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Store `bodies` as reports, and tell the reconciler who reported where it asks (a refresh)."""
        refresh = getattr(self.reconciler, "refresh_reported", None)
        for pod, body in bodies:
            self.store.put_report(parse_report(body, pod), self.now)
            if refresh is not None:
                self.reconciler.report_accepted(pod)

    def gzip_scrape(self) -> object:
        return self.metrics.render(OPENMETRICS, "gzip")

    def pass_after_reports(self) -> object:
        refresh = getattr(self.reconciler, "refresh_reported", None)
        return refresh() if refresh is not None else self.reconciler.reconcile_once(diagnose_nodes=False)


def measure(agents: int, runs: int) -> dict[str, list[float]]:
    fleet = Fleet(agents)
    fleet.reconciler.reconcile_once()
    fleet.metrics.warm()
    gzip_scrape = fleet.gzip_scrape
    rows: dict[str, list[float]] = {}
    for run in range(runs):
        fleet.now += 1
        steps: list[tuple[str, Callable[[], object]]] = [
            ("full pass (judge + diagnose)", fleet.reconciler.reconcile_once),
            ("write after the full pass", fleet.metrics.warm),
            ("gzip scrape, new Snapshot", gzip_scrape),
            ("gzip scrape, same Snapshot", gzip_scrape),
            ("text scrape (joined and read)", lambda: read_all(fleet.metrics.render("", "")[0])),
        ]
        batch = fleet.bodies[(run * BATCH) % agents :][:BATCH]
        steps += [
            (f"{BATCH:,} reports: parse + store", functools.partial(fleet.report, batch)),
            (f"pass after {BATCH:,} reports", fleet.pass_after_reports),
            (f"write after {BATCH:,} reports", fleet.metrics.warm),
            (f"gzip scrape after {BATCH:,} reports", gzip_scrape),
        ]
        steps += [
            ("every agent reports: parse + store", functools.partial(fleet.report, fleet.bodies)),
            ("pass after every agent reported", fleet.pass_after_reports),
            ("write after every agent reported", fleet.metrics.warm),
            ("gzip scrape after every agent reported", gzip_scrape),
            ("text scrape after every agent reported", lambda: read_all(fleet.metrics.render("", "")[0])),
        ]
        for name, step in steps:
            rows.setdefault(name, []).append(cpu_ms(step))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = fleet_arguments(__doc__, argv, runs=5)
    print(f"{args.agents:,} agents, median (min-max) CPU ms of {args.runs} runs")
    for name, values in measure(args.agents, args.runs).items():
        print(f"| {name} | {statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
