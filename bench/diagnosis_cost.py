"""What the diagnosis costs at N nodes: the pass (diagnose), the status page, the JSON, the scrape.

`python -m bench.diagnosis_cost [--nodes 5000]`: two agents per node, one node in 50 broken, the
real fixture-shaped reports; prints the median of several runs of each step, in milliseconds, and
the size of each output. The scrape is prometheus_client's text encoder over diagnosis_families()
(the families are built once per Snapshot and cached, so both the first and a repeat scrape count).
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from prometheus_client import CollectorRegistry

from bench.payload import agent_identity, fleet_payloads
from netchecker_exporter.check import AgentVerdict, ExpectedPod, Network, judge_agent
from netchecker_exporter.diagnosis.flapping import apply_flapping
from netchecker_exporter.diagnosis.history import EMPTY_HISTORY, HistoryLimits, record_pass
from netchecker_exporter.diagnosis.nodes import EMPTY_DIAGNOSIS, Diagnosis, diagnose
from netchecker_exporter.diagnosis.to_json import diagnosis_to_json
from netchecker_exporter.http.status_page import PageLinks, render_status_page
from netchecker_exporter.metrics.diagnosis_metrics import diagnosis_families
from netchecker_exporter.metrics.exposition import MetricsExposition, encode
from netchecker_exporter.pods.base import PodSourceHealth
from netchecker_exporter.pods.none import ReportedPodSource
from netchecker_exporter.reconcile import Reconciler
from netchecker_exporter.report import next_record, parse_report
from netchecker_exporter.settings import DiagnosisSettings
from netchecker_exporter.snapshot import Snapshot
from netchecker_exporter.store.base import StoreHealth
from netchecker_exporter.store.history import MemoryHistory
from netchecker_exporter.store.memory import MemoryStore
from netchecker_exporter.tuning import GC_THRESHOLDS

NOW = 1_800_000_000.0


def fleet_verdicts(nodes: int, silent_offset: int = 0) -> tuple[AgentVerdict, ...]:
    """Two agents per node from the captured reports; every 50th node's pod agent is silent (with
    `silent_offset` 1, another node's host agent: the history's changing passes alternate them)."""
    verdicts = []
    for index, (pod, body) in enumerate(fleet_payloads(2 * nodes, now=NOW)):
        identity = agent_identity(index)
        silent = index % 100 == silent_offset
        record = next_record(None, parse_report(body, pod), NOW - (300 if silent else 1))
        network = Network.HOST if identity.hostnet else Network.POD
        verdicts.append(
            judge_agent(ExpectedPod(identity.pod, "netchecker", identity.node, network), record, NOW)
        )
    return tuple(verdicts)


CLOCK = time.perf_counter
"""Wall time by default; --cpu switches to this process's CPU time, steadier on a shared machine."""


def median_ms(step: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = CLOCK()
        step()
        times.append((CLOCK() - started) * 1000)
    return statistics.median(times)


def snapshot_of(verdicts: tuple[AgentVerdict, ...], diagnosis: Diagnosis) -> Snapshot:
    return Snapshot(verdicts, StoreHealth(up=True), "static", PodSourceHealth(True, NOW),
                    last_success_timestamp=NOW, diagnosis=diagnosis)  # fmt: skip


def measure(nodes: int, runs: int) -> list[tuple[str, float, int]]:
    verdicts = fleet_verdicts(nodes)
    settings = DiagnosisSettings()
    snapshot = snapshot_of(verdicts, diagnose(verdicts, NOW, settings))

    def fresh_scrape() -> bytes:  # a new Snapshot each time: the families are built, then encoded
        fresh = snapshot_of(verdicts, snapshot.diagnosis)
        return encode(diagnosis_families(fresh.diagnosis, fresh.history), open_metrics=False)

    families = diagnosis_families(snapshot.diagnosis, snapshot.history)

    def same_scrape() -> bytes:  # the Snapshot's families built once, encoded at every scrape
        return encode(families, open_metrics=False)

    links = PageLinks()
    page = render_status_page(snapshot, now=NOW, links=links)
    body = json.dumps(diagnosis_to_json(snapshot.diagnosis))
    return [
        ("diagnose (per reconcile pass)", median_ms(lambda: diagnose(verdicts, NOW, settings), runs), 0),
        ("status page render", median_ms(lambda: render_status_page(snapshot, now=NOW, links=links), runs),
         len(page.encode())),
        ("/api/v1/diagnosis JSON", median_ms(lambda: json.dumps(diagnosis_to_json(snapshot.diagnosis)), runs),
         len(body)),
        ("scrape of the families, new Snapshot", median_ms(fresh_scrape, runs), len(fresh_scrape())),
        ("scrape of the families, same Snapshot", median_ms(lambda: same_scrape(), runs), len(same_scrape())),
    ]  # fmt: skip


class ChangingFleet:
    """Full passes in which 2 nodes in 50 change at every pass (and so flap after four)."""

    def __init__(self, nodes: int) -> None:
        self.settings, self.limits = DiagnosisSettings(), HistoryLimits()
        self.passes = [diagnose(fleet_verdicts(nodes, offset), NOW, self.settings) for offset in (0, 1)]
        self.history, self.step = EMPTY_HISTORY, 0

    @property
    def now(self) -> float:
        return NOW + 10 * self.step

    def one_pass(self) -> Diagnosis:
        """What the reconciler adds to its pass: record the checks' verdicts, apply the flapping rule."""
        self.step += 1
        checked = self.passes[self.step % 2]
        self.history, _ = record_pass(self.history, checked, self.now, self.limits)
        return apply_flapping(checked, self.history, self.settings)


def history_path(nodes: int, runs: int) -> list[tuple[str, float, int]]:
    """The history's part of a full pass, and the status page with a timeline per changing node."""
    fleet = ChangingFleet(nodes)
    for _ in range(5):
        fleet.one_pass()
    cost = median_ms(fleet.one_pass, runs)
    snapshot = replace(snapshot_of(fleet_verdicts(nodes), fleet.one_pass()), history=fleet.history)
    links, now = PageLinks(), fleet.now
    page = render_status_page(snapshot, now=now, links=links)
    return [
        ("history: record a pass + flapping rule", cost, 0),
        ("status page render, with timelines", median_ms(lambda: render_status_page(snapshot, now=now,
                                                         links=links), runs), len(page.encode())),
    ]  # fmt: skip


def server_path(nodes: int, runs: int) -> list[tuple[str, float, int]]:
    """The real path: a memory store of real reports, a reconcile pass, /metrics as Prometheus asks."""
    store = MemoryStore(report_ttl_seconds=3600, clock=lambda: NOW)
    for pod, payload in fleet_payloads(2 * nodes, now=NOW):
        store.put_report(parse_report(payload, pod), NOW - 1)
    reconciler = Reconciler(
        diagnosis=DiagnosisSettings(),
        history_store=MemoryHistory(),
        store=store,
        pods=ReportedPodSource(),
        check_interval_seconds=10,
        clock=lambda: NOW,
    )
    reconciler.reconcile_once()
    rows = [
        ("reconcile pass: judge only (check.py)", median_ms(reconciler.judge_agents_now, runs), 0),
        ("reconcile pass: judge + diagnose", median_ms(reconciler.reconcile_once, runs), 0),
    ]
    for with_diagnosis in (False, True):
        judged = reconciler.snapshot
        if not with_diagnosis:
            judged = replace(judged, diagnosis=EMPTY_DIAGNOSIS, history=EMPTY_HISTORY)
        exposition = MetricsExposition(functools.partial(_same, judged), CollectorRegistry(), version="bench")
        body, _ = exposition.render("text/plain", "gzip")  # the first scrape renders the snapshot
        size = len(body) if isinstance(body, bytes) else 0
        name = f"/metrics scrape (gzip), {'with' if with_diagnosis else 'without'} diagnosis"
        rows.append((name, median_ms(functools.partial(exposition.render, "text/plain", "gzip"), runs), size))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cpu", action="store_true", help="CPU time instead of wall time")
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.cpu else time.perf_counter
    gc.set_threshold(*GC_THRESHOLDS)  # as the server runs (tuning.py); the defaults add GC pauses
    kind = "CPU" if args.cpu else "wall"
    print(f"{args.nodes} nodes ({2 * args.nodes} agents), median {kind} time of {args.runs} runs")
    rows = [
        *measure(args.nodes, args.runs),
        *history_path(args.nodes, args.runs),
        *server_path(args.nodes, args.runs),
    ]
    for name, milliseconds, size in rows:
        print(f"  {name:<48} {milliseconds:8.1f} ms  {size / 1024:8.0f} KiB" if size else
              f"  {name:<48} {milliseconds:8.1f} ms")  # fmt: skip
    return 0


def _same(snapshot: Snapshot) -> Snapshot:
    return snapshot


if __name__ == "__main__":
    raise SystemExit(main())
