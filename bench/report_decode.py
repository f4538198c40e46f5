"""CPU per report of decoding and validating a POSTed body: json.loads + parse_report against
msgspec's one pass (report_wire.decode_report), on the real agents' bodies.

    .venv/bin/python -m bench.report_decode [--reports 20000] [--repeat 5]

Each reader takes the same bodies (the captured reports under distinct pod names, compact with
their padding, as bench.payload writes them for wrk) on this one thread; the figure is process
CPU time over the reports, the best of --repeat rounds (the least disturbed by other work on the
machine), and the median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.payload import agent_identity, load_fixtures, render_report
from netchecker_exporter.report import AgentReport, parse_report
from netchecker_exporter.report_wire import decode_report, loads_report

Reader = Callable[[bytes, str], AgentReport]
READERS: dict[str, Reader] = {
    "json+parse_report": lambda body, name: parse_report(loads_report(body), name),
    "msgspec decode_report": decode_report,
}


def bodies(count: int) -> list[tuple[bytes, str]]:
    """`count` real reports as the agents send them (bench.payload), two agents a node."""
    fixtures, now = load_fixtures(), time.time()
    identities = [agent_identity(index) for index in range(count)]
    return [(render_report(fixtures[i.hostnet], i, now=now), i.pod) for i in identities]


def cpu_us_per_report(read: Reader, reports: list[tuple[bytes, str]]) -> float:
    started = time.process_time()
    for body, name in reports:
        read(body, name)
    return (time.process_time() - started) / len(reports) * 1e6


def measure(count: int, repeat: int) -> dict[str, Any]:
    reports = bodies(count)
    rounds: dict[str, list[float]] = {label: [] for label in READERS}
    for _ in range(repeat):  # interleaved, so a busy moment on the machine hits both
        for label, read in READERS.items():
            rounds[label].append(cpu_us_per_report(read, reports))
    return {
        label: {"best_us": min(times), "median_us": statistics.median(times), "rounds_us": times}
        for label, times in rounds.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    result = measure(args.reports, args.repeat)
    print(json.dumps(result, indent=2))
    old, new = (result[label]["best_us"] for label in READERS)
    print(f"json+parse_report {old:.1f} us, decode_report {new:.1f} us per report: {old / new:.2f} x")


if __name__ == "__main__":
    main()
