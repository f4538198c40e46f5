"""Flood a real server with one-shot pod names, then let them expire: series, RSS before, during, after.

    python -m bench.flood [--names 50000] [--ttl 15] [--max-agents 12000] [--threads 8] [--fleet 1000]

Memory store, no pod source (every name that reports is expected), as the issue's attack, on a
server that has a steady fleet of real agents reporting all along. Prints
one JSON object: statuses, /metrics series and bytes at the peak, VmRSS of the server before the
flood, at its peak and after the TTL expired every flooded name (docs/performance.md, The allocator).
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bench.processes import LOOPBACK, http_get
from bench.stats import rss_bytes
from bench.table import MIB
from tests.support.exporter import ExporterProcess
from tests.support.paths import FIXTURES

FIXTURE = FIXTURES / "agent-report-hostnet.json"


def vm_rss_mib(pid: int) -> float:
    return rss_bytes(Path(f"/proc/{pid}/status").read_text()) / MIB


def post_names(port: int, names: range, prefix: str, statuses: Counter[int], lock: threading.Lock) -> None:
    """POST one report per name on one keep-alive connection."""
    template = json.loads(FIXTURE.read_text())
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    seen: Counter[int] = Counter()
    for index in names:
        name = f"{prefix}-{index}"
        body = json.dumps({**template, "podname": name}).encode()
        connection.request("POST", f"/api/v1/agents/{name}", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        seen[response.status] += 1
    connection.close()
    with lock:
        statuses.update(seen)


def flood(port: int, count: int, threads: int, prefix: str) -> Counter[int]:
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    workers = [
        threading.Thread(target=post_names, args=(port, range(i, count, threads), prefix, statuses, lock))
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return statuses


class SteadyFleet:
    """`agents` agents reporting every `interval` seconds in the background: the server's real work,
    so 'before' is a warmed-up server (every worker thread used), not an idle one."""

    def __init__(self, port: int, agents: int, interval: float) -> None:
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(port, range(i, agents, 4), interval), daemon=True)
            for i in range(4)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, port: int, names: range, interval: float) -> None:
        statuses: Counter[int] = Counter()
        while not self._stop.is_set():
            started = time.monotonic()
            post_names(port, names, "netchecker-agent-fleet", statuses, threading.Lock())
            self._stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def scrape(port: int) -> tuple[int, int]:
    """(series, bytes) of one text scrape."""
    status, body = http_get(port, "/metrics", timeout=60)
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    return series, len(body)


def settle(port: int, seconds: float) -> None:
    """Wait, scraping now and then as Prometheus would (the render cache follows the snapshot)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        scrape(port)
        time.sleep(1.0)


def run(args: argparse.Namespace) -> dict[str, object]:
    server = ExporterProcess(f"-report-ttl={args.ttl}", "-check-interval=1", f"-max-agents={args.max_agents}")
    port = server.port
    try:
        fleet = SteadyFleet(port, args.fleet, interval=5.0)
        flood(port, 2000, args.threads, "netchecker-agent-warmup")  # every worker thread has run
        settle(port, 2 * args.ttl)
        before = vm_rss_mib(server.pid)
        started = time.monotonic()
        statuses = flood(port, args.names, args.threads, "netchecker-agent-flood")
        elapsed = time.monotonic() - started
        time.sleep(2)
        series, size = scrape(port)
        peak = vm_rss_mib(server.pid)
        settle(port, args.ttl + 5)
        after = vm_rss_mib(server.pid)
        fleet.stop()
        return {
            "names": args.names,
            "fleet": args.fleet,
            "max_agents": args.max_agents,
            "statuses": dict(statuses),
            "reports_per_second": round(args.names / elapsed),
            "peak_series": series,
            "peak_metrics_bytes": size,
            "rss_mib_before": round(before, 1),
            "rss_mib_peak": round(peak, 1),
            "rss_mib_after_expiry": round(after, 1),
            "after_over_before": round(after / before, 3),
            "series_after_expiry": scrape(port)[0],
        }
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--names", type=int, default=50_000)
    parser.add_argument("--ttl", type=int, default=15)
    parser.add_argument("--max-agents", type=int, default=12_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--fleet", type=int, default=1000, help="agents reporting all along (every 5 s)")
    print(json.dumps(run(parser.parse_args(argv)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
