"""Memory per 1,000 agents in one process: RSS, and tracemalloc's share by component.

    python -m bench.memory_per_agent [--agents 10000] [--rounds 2]
    PYTHONPATH=OTHER_CHECKOUT python -m bench.memory_per_agent    # the same steps on other code

The agents go through the real code, as the server takes them: each body decoded and validated
(report_wire) into the memory store, a full pass, a plain-text and an OpenMetrics + gzip scrape
read whole; `--rounds` times (from the second on, every agent reports again and its cached lines
are renumbered). Run twice in child processes under the server's allocator (tuning.py: jemalloc
where installed): once for VmRSS, once under tracemalloc (which costs memory of its own), whose
live blocks are charged to the innermost frame of netchecker_exporter that allocated them.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
TRACE_FRAMES = 1
"""Frames kept per traced block: enough to reach our package from msgspec or bytes.join; more is slow."""
OPENMETRICS = "application/openmetrics-text; version=1.0.0"
SETTLE_SECONDS = 2.0
"""Before RSS is read: jemalloc hands freed pages back a second after they are free (tuning.py)."""
PACKAGE = "netchecker_exporter"
COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "records (report, report_wire, stored_fields, store)",
        ("report", "report_wire", "stored_fields", "store/"),
    ),
    ("verdicts and the pass (check, reconcile, snapshot, pods)", ("check", "reconcile", "snapshot", "pods/")),
    ("diagnosis", ("diagnosis/",)),
    ("cached lines (agent_lines, agent_renumber)", ("metrics/agent_lines", "metrics/agent_renumber")),
    ("compressed runs of lines (agent_runs, deflate_run)", ("metrics/agent_runs", "metrics/deflate_run")),
    ("layout, gzip and the rest of metrics/", ("metrics/",)),
)
"""Module path prefixes (under netchecker_exporter/) per component, first match wins."""


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def agent_bodies(agents: int, now: float) -> Iterator[tuple[str, bytes]]:
    """(pod, body) of each agent at `now`, made one at a time (a list of them would be measured too),
    from a template per DaemonSet: json.dumps of each body under tracemalloc took minutes."""
    from bench.payload import NODE_MARKER, POD_MARKER, agent_identity, load_fixtures, report_template

    templates = {hostnet: report_template(fixture, now=now) for hostnet, fixture in load_fixtures().items()}
    for index in range(agents):
        identity = agent_identity(index)
        body = (
            templates[identity.hostnet].replace(POD_MARKER, identity.pod).replace(NODE_MARKER, identity.node)
        )
        yield identity.pod, body.encode()


def decoder() -> Callable[[bytes, str], Any]:
    """The server's reader of a body (report_wire), or json and parse_report where there is none."""
    try:
        from netchecker_exporter.report_wire import decode_report
    except ImportError:
        from netchecker_exporter.report import parse_report

        return lambda body, pod: parse_report(json.loads(body), pod)
    return decode_report


class Server:
    """The memory store, its reconciler (no pod source) and /metrics, on a clock the rounds move."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry

        from bench.metrics_path import fleet_reconciler
        from netchecker_exporter.metrics.exposition import MetricsExposition
        from netchecker_exporter.store.memory import MemoryStore

        self.now = 1_800_000_000.0
        self.decode = decoder()
        self.store = MemoryStore(report_ttl_seconds=3600, clock=lambda: self.now)
        self.reconciler = fleet_reconciler(self.store, lambda: self.now)
        self.metrics = MetricsExposition(
            lambda: self.reconciler.snapshot, CollectorRegistry(), version="bench"
        )

    def round(self, agents: int) -> int:
        """Every agent reports, a full pass, a text and a gzip scrape; the bytes scraped."""
        self.now += 10
        for pod, body in agent_bodies(agents, self.now):
            self.store.put_report(self.decode(body, pod), self.now)
        self.now += 1
        self.reconciler.reconcile_once()
        text = read_all(self.metrics.render("", "")[0])
        zipped = read_all(self.metrics.render(OPENMETRICS, "gzip")[0])
        return len(text) + len(zipped)


def read_all(body: Any) -> bytes:
    return body if isinstance(body, bytes) else body.read()


def component(trace: tracemalloc.Traceback) -> str:
    """The component of the innermost frame in our package; 'elsewhere' if none is."""
    for frame in trace:  # most recent first
        _, found, inside = frame.filename.rpartition(f"/{PACKAGE}/")
        if found:
            for name, prefixes in COMPONENTS:
                if inside.startswith(prefixes):
                    return name
            return f"other {PACKAGE}/"
    return "elsewhere (imports, bench, libraries)"


def measure(agents: int, rounds: int, *, trace: bool) -> dict[str, Any]:
    """One child's figures: RSS before and after the rounds, or tracemalloc's shares by component."""
    from netchecker_exporter.tuning import GC_THRESHOLDS

    server = Server()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    if trace:
        tracemalloc.start(TRACE_FRAMES)
    idle = rss_bytes()
    scraped = 0
    for _ in range(rounds):
        scraped = server.round(agents)
    gc.collect()
    time.sleep(SETTLE_SECONDS)
    result: dict[str, Any] = {"agents": agents, "rss_idle": idle, "rss": rss_bytes(), "scraped": scraped}
    if trace:
        shares: Counter[str] = Counter()
        snapshot = tracemalloc.take_snapshot()
        for statistic in snapshot.statistics("traceback"):
            shares[component(statistic.traceback)] += statistic.size
        result["traced"] = dict(shares)
        result["traced_top"] = top_lines(snapshot)
    return result


def top_lines(snapshot: tracemalloc.Snapshot, count: int = 12) -> list[tuple[str, int, int]]:
    """The biggest allocation sites in our package: (file:line, bytes, blocks)."""
    rows = []
    for statistic in snapshot.statistics("lineno"):
        frame = statistic.traceback[0]
        _, found, inside = frame.filename.rpartition(f"/{PACKAGE}/")
        if found:
            rows.append((f"{inside}:{frame.lineno}", statistic.size, statistic.count))
    return rows[:count]


def child(agents: int, rounds: int, *, trace: bool) -> dict[str, Any]:
    """measure() in a process of its own, on the server's allocator (tuning.use_malloc_allocator)."""
    command = [
        sys.executable,
        "-m",
        "bench.memory_per_agent",
        "--child",
        f"--agents={agents}",
        f"--rounds={rounds}",
    ]
    if trace:
        command.append("--trace")
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=os.environ)
    return dict(json.loads(done.stdout.splitlines()[-1]))


def per_thousand(value: float, agents: int) -> str:
    return f"{value / MIB:.1f} MiB ({value / MIB / agents * 1000:.2f} per 1,000)"


def report(agents: int, rounds: int) -> None:
    plain, traced = child(agents, rounds, trace=False), child(agents, rounds, trace=True)
    grown = plain["rss"] - plain["rss_idle"]
    live = sum(traced["traced"].values())
    print(f"{agents:,} agents, {rounds} rounds, code from {code_origin()}")
    print(f"| RSS idle (imports, empty server) | {plain['rss_idle'] / MIB:.1f} MiB |")
    print(f"| RSS after the rounds | {plain['rss'] / MIB:.1f} MiB |")
    print(f"| RSS grown | {per_thousand(grown, agents)} |")
    print(f"| traced live blocks (tracemalloc) | {per_thousand(live, agents)} |")
    print(f"| RSS grown less traced (allocator, C libraries) | {per_thousand(grown - live, agents)} |")
    for name, size in sorted(traced["traced"].items(), key=lambda item: -item[1]):
        print(f"| traced: {name} | {per_thousand(size, agents)} |")
    for where, size, count in traced["traced_top"]:
        print(f"| top: {where} | {size / MIB:.2f} MiB in {count:,} blocks |")


def code_origin() -> str:
    import netchecker_exporter

    return str(Path(netchecker_exporter.__file__).resolve().parent.parent)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.child:
        report(args.agents, args.rounds)
        return 0
    from netchecker_exporter.tuning import use_malloc_allocator

    use_malloc_allocator()  # re-execs once, as the server's bootstrap does
    print(json.dumps(measure(args.agents, args.rounds, trace=args.trace)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
