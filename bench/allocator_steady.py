"""The steady fleet's cost under the allocator chosen by the environment: server CPU per report, VmRSS.

    python -m bench.allocator_steady                      # jemalloc where installed (the default)
    PYTHONMALLOC=malloc python -m bench.allocator_steady  # glibc's malloc

10,000 agents reporting every 10 s (bench.fleet, CPU 1) to the memory store (server on CPU 0) for
40 s, a pass, then 3 text scrapes. Prints one JSON object (docs/performance.md, The allocator).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.processes import http_get
from bench.stats import rss_bytes, sample_value
from bench.table import MIB
from tests.support.exporter import ExporterProcess
from tests.support.paths import REPO

AGENTS = 10_000
SECONDS = 40


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    server = ExporterProcess("-check-interval=10", cpu=0)
    port = server.port
    try:
        started = cpu_seconds(server.pid)
        fleet = ["taskset", "-c", "1", sys.executable, "-m", "bench.fleet", f"--port={port}",
                 f"--agents={AGENTS}", "--interval=10", f"--duration={SECONDS}"]  # fmt: skip
        subprocess.run(fleet, cwd=REPO, capture_output=True, check=True)
        time.sleep(11)  # a pass after the last report
        scrapes = []
        for _ in range(3):
            begun = time.monotonic()
            _, body = http_get(port, "/metrics", timeout=60)
            scrapes.append(round(time.monotonic() - begun, 3))
        accepted = sample_value(body.decode(), 'netchecker_reports_received_total{result="accepted"}') or 1.0
        used = cpu_seconds(server.pid) - started
        rss = rss_bytes(Path(f"/proc/{server.pid}/status").read_text()) / MIB
    finally:
        server.stop()
    result = {
        "allocator": "glibc" if os.environ.get("PYTHONMALLOC") else "default (jemalloc where installed)",
        "accepted": accepted,
        "server_cpu_ms_per_report": round(1000 * used / accepted, 3),
        "rss_mib": round(rss, 1),
        "scrape_seconds": scrapes,
        "metrics_mib": round(len(body) / MIB, 1),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
