"""Scrapes of 10,000 agents, idle and under a paced fleet (1,000 reports/s), of the exporter in --repo.

`python -m bench.scrape_ingest [--repo DIR] [--flags=-legacy-metrics=false]`: the server on CPU 0,
the fleet (bench.fleet) and these scrapes on CPU 1. Pass another checkout as --repo to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.processes import PROMETHEUS_HEADERS, http_get
from bench.stats import count_samples, sample_value
from tests.support.exporter import ExporterProcess
from tests.support.paths import REPO

AGENTS = 10_000


def fleet(port: int, seconds: int) -> subprocess.Popen[bytes]:
    command = ["taskset", "-c", "1", sys.executable, "-m", "bench.fleet", f"--port={port}",
               f"--agents={AGENTS}", "--interval=10", f"--duration={seconds}"]  # fmt: skip
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def scrape(port: int, headers: dict[str, str] | None = None) -> tuple[float, bytes]:
    started = time.monotonic()
    _, body = http_get(port, "/metrics", timeout=60, headers=headers)
    return round(time.monotonic() - started, 3), body


def measure(port: int) -> dict[str, Any]:
    for _ in range(3):  # every agent reports (again, if some reports failed on a busy machine)
        fleet(port, 11).wait()
        if sample_value(scrape(port)[1].decode(), "netchecker_agents_expected") == AGENTS:
            break
    time.sleep(11)  # and a pass after the last report
    idle = [scrape(port) for _ in range(5)]
    idle_gzip = [scrape(port, PROMETHEUS_HEADERS) for _ in range(5)]
    steady = fleet(port, 40)
    time.sleep(5)
    busy, busy_gzip = [], []
    for _ in range(6):  # one scrape of each kind every 5 s: a busy Prometheus (15-30 s is usual)
        busy.append(scrape(port)[0])
        busy_gzip.append(scrape(port, PROMETHEUS_HEADERS)[0])
        time.sleep(5)
    reports = json.loads(steady.communicate()[0] or b"{}")
    return {
        "samples": count_samples(idle[-1][1].decode()),
        "text_bytes": len(idle[-1][1]),
        "gzip_bytes": len(idle_gzip[-1][1]),
        "idle_text_seconds": [t for t, _ in idle],
        "idle_gzip_seconds": [t for t, _ in idle_gzip],
        "ingest_text_seconds": busy,
        "ingest_gzip_seconds": busy_gzip,
        "fleet": {key: reports.get(key) for key in ("completed", "errors")},
        "load_average": os.getloadavg(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=str(REPO))
    parser.add_argument("--flags", default="", help="extra server flags, space-separated")
    args = parser.parse_args(argv)
    server = ExporterProcess("-check-interval=10", *args.flags.split(), cwd=Path(args.repo), cpu=0)
    try:
        print(json.dumps({"repo": args.repo, "flags": args.flags, **measure(server.port)}))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
