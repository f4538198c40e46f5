"""Ingest throughput of the etcd store with 32 concurrent writers: put_report directly, then over HTTP.

    .venv/bin/python -m bench.etcd_ingest [--seconds 10] [--writers 32] [--pods 1000] [--http]
        [--endpoint URL --tree NAME]

Starts its own etcd (Debian's etcd 3.4) on a free loopback port with a temp data dir; --http also
starts `python exporter.py -etcd-endpoints=...` and drives it with wrk (Connection: close, as agents do).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from netchecker_exporter.report import parse_report
from netchecker_exporter.settings import EtcdSettings
from netchecker_exporter.store.etcd import EtcdStore
from tests.support.etcd import EtcdProcess
from tests.support.exporter import ExporterProcess
from tests.support.paths import FIXTURES

WRK_SCRIPT = """
local template = [[%s]]
local pods = %d
local counter = 0
function request()
  counter = counter + 1
  local name = string.format("netchecker-agent-bench-%%d", counter %% pods)
  local body = string.gsub(template, "PODNAME", name)
  return wrk.format("POST", "/api/v1/agents/" .. name,
    {["Content-Type"] = "application/json", ["Connection"] = "close"}, body)
end
"""


def bench_store(url: str, seconds: float, writers: int, pods: int, tree: str = "bench") -> dict[str, float]:
    payload = json.loads((FIXTURES / "agent-report-podnet-failed-probe.json").read_text())
    reports = [
        parse_report({**payload, "podname": f"netchecker-agent-bench-{i}"}, f"netchecker-agent-bench-{i}")
        for i in range(pods)
    ]
    settings = EtcdSettings((url,), tree, None, None, None, 5.0)
    registry = CollectorRegistry()
    store = EtcdStore(settings, report_ttl_seconds=300, registry=registry)
    latencies: list[list[float]] = [[] for _ in range(writers)]
    stop = threading.Event()

    def write(worker: int) -> None:
        index = worker
        while not stop.is_set():
            started = time.perf_counter()
            store.put_report(reports[index % pods], time.time())
            latencies[worker].append(time.perf_counter() - started)
            index += writers

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    started, cpu_started = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    batch = "netchecker_etcd_commit_batch_reports"
    committed = registry.get_sample_value(f"{batch}_sum") or 0
    batches = registry.get_sample_value(f"{batch}_count") or 0
    txns = registry.get_sample_value("netchecker_etcd_requests_total", {"rpc": "txn", "result": "ok"})
    store.close()
    flat = sorted(x for worker in latencies for x in worker)
    return {
        "puts": len(flat),
        "puts_per_second": len(flat) / elapsed,
        "cpu_us_per_put": 1e6 * cpu / max(1, len(flat)),
        "txns": txns or 0,
        "mean_batch": committed / max(1, batches),
        "p50_ms": 1000 * statistics.median(flat),
        "p99_ms": 1000 * flat[int(len(flat) * 0.99)],
    }


def bench_http(url: str, seconds: float, writers: int, pods: int, workdir: Path) -> str:
    server = ExporterProcess(f"-etcd-endpoints={url}", "-etcd-tree=bench-http")
    port = server.port
    try:
        payload = json.loads((FIXTURES / "agent-report-podnet-failed-probe.json").read_text())
        template = json.dumps({**payload, "podname": "PODNAME"})
        script = workdir / "post.lua"
        script.write_text(WRK_SCRIPT % (template, pods))
        result = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{writers}",
                f"-d{int(seconds)}s",
                "--latency",
                "-s",
                str(script),
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--writers", type=int, default=32)
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--endpoint", help="an etcd already running (its client URL): no etcd of our own")
    parser.add_argument("--tree", default="bench")
    args = parser.parse_args()
    if args.endpoint:
        result = bench_store(args.endpoint, args.seconds, args.writers, args.pods, args.tree)
        print("put_report:", json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as workdir:
        etcd = EtcdProcess(Path(workdir) / "etcd")
        etcd.start()
        try:
            print("put_report:", json.dumps(bench_store(etcd.url, args.seconds, args.writers, args.pods)))
            if args.http:
                print(bench_http(etcd.url, args.seconds, args.writers, args.pods, Path(workdir)))
        finally:
            etcd.kill()


if __name__ == "__main__":
    main()
