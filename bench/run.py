"""`make bench`: every scenario of BENCHMARKS.md in one run, results to bench/results/<time>.json.

Cores: the Python server (ours, a no-op ceiling, or the etcd client of the etcd ceiling) on
--server-cpu; the load tool (wrk, bench.fleet or bench.slow_clients), this script and etcd on
--client-cpu. A scenario that fails records its error in the results and the run goes on.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import kube_sync, processes, replica_ingest, shard_scrape, sizing
from bench.payload import write_templates
from bench.processes import NOOP_FRONTS, Child, http_get, pinned
from bench.stats import count_samples, parse_wrk_output, sample_value, summarize
from bench.table import machine_facts, markdown_table
from tests.support.paths import REPO

AGENTS = 10_000
WRK_SCRIPT = REPO / "bench" / "wrk_agents.lua"


def run_wrk(cpu: int | None, port: int, args: argparse.Namespace, templates: Path) -> dict[str, Any]:
    command = pinned(cpu, [
        "wrk", "-t1", f"-c{args.connections}", f"-d{args.duration}s", "--timeout", "5s",
        "-s", str(WRK_SCRIPT), f"http://127.0.0.1:{port}", "--", str(templates), str(AGENTS), "1",
    ])  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.duration + 30, check=True)
    result = parse_wrk_output(done.stdout)
    return {**asdict(result), "rate": result.rate, "error_fraction": result.error_fraction}


def with_cpu(server: Child, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `measure` and add the server's CPU use over it (1.0 = one core busy)."""
    cpu_before, started = server.cpu_seconds(), time.monotonic()
    result = measure()
    elapsed = time.monotonic() - started
    return {**result, "server_cpu_fraction": (server.cpu_seconds() - cpu_before) / elapsed}


def max_ingest(server: Child, args: argparse.Namespace, templates: Path) -> list[dict[str, Any]]:
    return [
        with_cpu(server, lambda: run_wrk(args.client_cpu, server.port, args, templates))
        for _ in range(args.repeat)
    ]


def steady_fleet(server: Child, args: argparse.Namespace) -> list[dict[str, Any]]:
    runs = []
    for _ in range(args.fleet_repeat):
        command = pinned(args.client_cpu, [
            sys.executable, "-m", "bench.fleet", f"--port={server.port}", f"--agents={AGENTS}",
            "--interval=10", f"--duration={args.fleet_duration}",
        ])  # fmt: skip
        rss_before = server.rss_bytes()

        def measure(command: list[str] = command) -> dict[str, Any]:
            timeout = args.fleet_duration + 60
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
            result: dict[str, Any] = json.loads(done.stdout)
            return result

        run = with_cpu(server, measure)
        runs.append({**run, "server_rss_bytes_before": rss_before, "server_rss_bytes": server.rss_bytes()})
    return runs


STORED_FRACTION = 0.95
"""Scenario 3 runs once this share of the 10,000 agents is stored: reports lost by an overloaded
fleet run must not lose the scrape figures (the table says how many agents there were)."""


def wait_for_reconcile_after(server: Child, moment: float, expected: int, seconds: float = 60.0) -> str:
    """The /metrics text once a pass that started after `moment` judged at least 95% of `expected`."""
    deadline, seen = time.monotonic() + seconds, 0.0
    while time.monotonic() < deadline:
        text = http_get(server.port, "/metrics", timeout=30)[1].decode()
        last = sample_value(text, "netchecker_reconcile_last_success_timestamp_seconds") or 0
        seen = sample_value(text, "netchecker_agents_expected") or 0
        if last > moment and seen >= STORED_FRACTION * expected:
            return text
        time.sleep(0.5)
    raise RuntimeError(f"no reconcile pass with {expected} agents within {seconds}s (last saw {seen:.0f})")


def time_scrapes(server: Child, count: int, headers: dict[str, str] | None) -> tuple[list[float], bytes]:
    """Seconds per GET /metrics (new connection, whole body read), and the last body."""
    times, body = [], b""
    for _ in range(count):
        started = time.monotonic()
        status, body = http_get(server.port, "/metrics", timeout=30, headers=headers)
        times.append(time.monotonic() - started)
        if status != 200:
            raise RuntimeError(f"/metrics answered {status}")
    return times, body


def stored_agents(server: Child, args: argparse.Namespace) -> dict[str, Any]:
    """10,000 agents stored and idle: scrape time and size, one reconcile pass, RSS."""
    text = wait_for_reconcile_after(server, time.time(), AGENTS)
    plain, body = time_scrapes(server, args.scrapes, None)
    prometheus, zipped = time_scrapes(server, args.scrapes, processes.PROMETHEUS_HEADERS)
    passes = []
    for _ in range(args.reconcile_passes):
        text = wait_for_reconcile_after(server, time.time(), AGENTS)
        passes.append(sample_value(text, "netchecker_reconcile_duration_seconds") or 0.0)
    return {
        "agents": sample_value(text, "netchecker_agents_expected"),
        "scrape_seconds": asdict(summarize(plain)),
        "scrape_bytes": len(body),
        "scrape_samples": count_samples(body.decode()),
        "prometheus_scrape_seconds": asdict(summarize(prometheus)),
        "prometheus_scrape_bytes": len(zipped),
        "reconcile_seconds": asdict(summarize(passes)),
        "server_rss_bytes": server.rss_bytes(),
    }


def recorded(name: str, measure: Callable[[], Any]) -> Any:
    """`measure()`, or {"error": ...} when it fails: one broken scenario must not lose the others."""
    try:
        return measure()
    except Exception as error:  # recorded in results.json and the tables, and the run goes on
        print(f"bench: {name} failed: {type(error).__name__}: {error}", file=sys.stderr)
        return {"error": f"{type(error).__name__}: {error}"}


def ceiling_noop(
    args: argparse.Namespace, templates: Path, log_dir: Path, front: str = "ours", app: str = "noop"
) -> list[dict[str, Any]]:
    server = processes.start_noop_server(args.server_cpu, log_dir, front, app)
    try:
        return max_ingest(server, args, templates)
    finally:
        server.stop()


def front_ceilings(args: argparse.Namespace, templates: Path, log_dir: Path) -> dict[str, Any]:
    """The no-op app on every candidate front, then behind a bottle route on the fastest ones."""
    pairs = [(front, "noop") for front in args.fronts] + [(f, "bottle") for f in args.bottle_fronts]
    results: dict[str, Any] = {}
    for front, app in pairs:
        results[f"{front}/{app}"] = recorded(
            f"{front}/{app}", functools.partial(ceiling_noop, args, templates, log_dir, front, app)
        )
    return results


def ceiling_etcd(args: argparse.Namespace, etcd: Child, txn_size: int = 1) -> list[dict[str, Any]]:
    command = pinned(args.server_cpu, [
        sys.executable, "-m", "bench.etcd_ceiling", f"--endpoint=127.0.0.1:{etcd.port}",
        f"--duration={args.duration}", "--threads=8", f"--txn-size={txn_size}",
    ])  # fmt: skip
    runs = []
    for _ in range(args.repeat):
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.duration + 60, check=True)
        runs.append(json.loads(done.stdout))
    return runs


def store_scenarios(
    args: argparse.Namespace, templates: Path, log_dir: Path, flags: list[str]
) -> dict[str, Any]:
    server = processes.start_exporter(args.server_cpu, log_dir, "-check-interval=10", *flags)
    try:
        results: dict[str, Any] = {
            "max_ingest": recorded("max ingest", lambda: max_ingest(server, args, templates))
        }
        # every one of the 10,000 agents reports
        results["steady_fleet"] = recorded("steady fleet", lambda: steady_fleet(server, args))
        results["stored_10k"] = recorded("10,000 agents stored", lambda: stored_agents(server, args))
        return results
    finally:
        server.stop()


def slow_clients(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    """bench.slow_clients against a fresh server on the memory store."""
    server = processes.start_exporter(args.server_cpu, log_dir, "-check-interval=10")
    try:
        command = pinned(args.client_cpu, [
            sys.executable, "-m", "bench.slow_clients", f"--port={server.port}", f"--trickle={args.trickle}",
            f"--idle={args.idle}", f"--duration={args.attack_duration}",
        ])  # fmt: skip
        timeout = args.attack_duration + 60
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
        result: dict[str, Any] = json.loads(done.stdout)
        return {**result, "server_rss_bytes": server.rss_bytes()}
    finally:
        server.stop()


def front_budgets(args: argparse.Namespace) -> dict[str, Any]:
    """bench.budgets: issue 23's attacks at full size on a server of its own (RSS, /healthz p99)."""
    command = [sys.executable, "-m", "bench.budgets", f"--seconds={args.budget_seconds}",
               f"--server-cpu={args.server_cpu}", f"--client-cpu={args.client_cpu}"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = Path(args.out) / stamp
    templates = out / "templates"
    write_templates(templates)
    results: dict[str, Any] = {"machine": machine_facts(), "args": vars(args), "started": stamp}
    results["fronts"] = front_ceilings(args, templates, out)
    if "memory" in args.stores:
        results["memory"] = recorded("memory store", lambda: store_scenarios(args, templates, out, []))
    if "etcd" in args.stores:
        etcd_results = recorded("etcd", lambda: etcd_scenarios(args, templates, out))
        # etcd never started: its error stands for the whole store (bench.table shows it so)
        results.update({"etcd": etcd_results} if "error" in etcd_results else etcd_results)
    if args.attack_duration > 0:
        results["slow_clients"] = recorded("slow clients", lambda: slow_clients(args, out))
    if args.budget_seconds > 0:
        results["budgets"] = recorded("front budgets", lambda: front_budgets(args))
    if args.kube_quiet > 0:
        results["kube"] = recorded("kube", lambda: [
            kube_sync.kube_scenario(args.server_cpu, out / "kube", quiet_seconds=args.kube_quiet)
            for _ in range(args.kube_repeat)
        ])  # fmt: skip
    if args.sizing_agents:  # RSS and CPU against the fleet size, for the Helm chart's sizing
        results["sizing"] = recorded("sizing", lambda: sizing.sizing_scenario(args, out))
    if args.shard_agents:  # one replica's /metrics at 1 and 2 shards (docs/scaling.md)
        results["shards"] = recorded("shards", lambda: shard_scrape.measure(args.shard_agents, (1, 2), 3))
    if args.replicas:  # 1, 2 and 3 replicas' ingest on one etcd (docs/scaling.md)
        results["replicas"] = recorded("replicas", lambda: replica_ingest.scenario(args, out))
    results["finished"] = time.strftime("%Y%m%dT%H%M%S")
    results["load_average_at_end"] = os.getloadavg()
    (out / "results.json").write_text(json.dumps(results, indent=2))
    return results


def etcd_scenarios(args: argparse.Namespace, templates: Path, out: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-etcd-") as data_dir:
        etcd = processes.start_etcd(args.client_cpu, Path(data_dir) / "data", out)
        try:
            results["ceiling_etcd"] = recorded("etcd ceiling", lambda: ceiling_etcd(args, etcd))
            results["ceiling_etcd_txn"] = recorded("etcd ceiling, Txn", lambda: ceiling_etcd(args, etcd, 50))
            endpoint = f"-etcd-endpoints=http://127.0.0.1:{etcd.port}"
            results["etcd"] = recorded(
                "etcd store", lambda: store_scenarios(args, templates, out, [endpoint])
            )
        finally:
            etcd.stop()
    return results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="memory,etcd", help="comma-separated: memory, etcd")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (at most 120)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each maximum-rate scenario")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--fleet-duration", type=int, default=60, help="seconds per steady-fleet run")
    parser.add_argument("--fleet-repeat", type=int, default=2)
    parser.add_argument("--scrapes", type=int, default=5)
    parser.add_argument("--reconcile-passes", type=int, default=3)
    parser.add_argument("--kube-quiet", type=float, default=120, help="seconds of quiet cluster (0: skip)")
    parser.add_argument("--kube-repeat", type=int, default=2)
    parser.add_argument(
        "--fronts", default=",".join(NOOP_FRONTS), help="no-op ceilings: " + ", ".join(NOOP_FRONTS)
    )
    parser.add_argument(
        "--bottle-fronts", default="ours,granian-wsgi,waitress", help="bottle no-op route on these"
    )
    parser.add_argument("--trickle", type=int, default=1500, help="slow-client attack: trickling connections")
    parser.add_argument("--idle", type=int, default=1000, help="slow-client attack: idle connections")
    parser.add_argument("--attack-duration", type=float, default=20, help="seconds of attack (0: skip)")
    parser.add_argument("--budget-seconds", type=float, default=20, help="bench.budgets per attack (0: skip)")
    parser.add_argument("--shard-agents", type=int, default=10_000, help="sharded /metrics fleet (0: skip)")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    sizing.add_arguments(parser)
    replica_ingest.add_arguments(parser)
    args = parser.parse_args(argv)
    sizing.parse_sizes(args)
    replica_ingest.parse_replicas(args)
    args.stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    args.fronts = [f.strip() for f in args.fronts.split(",") if f.strip()]
    args.bottle_fronts = [f.strip() for f in args.bottle_fronts.split(",") if f.strip()]
    args.attack_duration = min(args.attack_duration, 300)
    args.duration = min(args.duration, 120)
    args.fleet_duration = min(args.fleet_duration, 600)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.sched_setaffinity(0, {args.client_cpu})  # this script's scrapes and waits stay off the server's core
    results = run_all(args)
    print(markdown_table(results))
    if "sizing" in results and "error" not in results["sizing"]:
        print(sizing.sizing_table(results["sizing"]))
    if "replicas" in results and "error" not in results["replicas"]:
        print(replica_ingest.table(results["replicas"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
