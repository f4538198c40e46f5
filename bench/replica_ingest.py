"""Ingest of 1, 2 and 3 replicas on one etcd, side by side in one run: what does a replica add?

    python -m bench.replica_ingest [--replicas 1,2,3] [--replica-seconds 10] [--replica-repeat 2]
                                   [--profile-replicas 2] [--shard-agents 10000]

Every replica is `python exporter.py` on the same etcd (Debian's etcd, default fsync), shard i of
R (`-total-shards`), each pinned to a core of its own where the machine has one: replica i on
CPU (--server-cpu + i) mod nproc; etcd and wrk on --client-cpu. wrk runs one thread per replica
(bench/wrk_replicas.lua), so the connections are split evenly, as a Service spreads new connections
over its endpoints (here an agent always reaches the same replica; its reports are seconds apart,
so every replica still reads every other replica's writes through its watch, as behind a Service).
The replica counts take turns, `--replica-repeat` rounds, so a shared machine's drift hits them alike.
Per run: reports/s in all and per replica, CPU per report, etcd's puts/s and CPU over the same window.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import processes, shard_scrape
from bench.payload import write_templates
from bench.processes import Child, http_get, pinned
from bench.stats import parse_wrk_output, sample_value
from tests.support.paths import REPO
from tests.support.ports import free_port

AGENTS = 10_000
GOAL_RATIO = 1.7
"""Issue 18: two replicas sustain at least 1.7 x one replica's reports/s on etcd."""
WRK_REPLICAS = REPO / "bench" / "wrk_replicas.lua"
WRK_AGENTS = REPO / "bench" / "wrk_agents.lua"
ACCEPTED = 'netchecker_reports_received_total{result="accepted"}'
ETCD_PUTS = "etcd_mvcc_put_total"


def replica_cpu(server_cpu: int, index: int) -> int:
    return (server_cpu + index) % (os.cpu_count() or 1)


def start_replicas(count: int, etcd: Child, args: argparse.Namespace, log_dir: Path) -> list[Child]:
    """`count` replicas on one etcd, replica i shard i of `count`, each answering /readyz."""
    replicas: list[Child] = []
    try:
        for index in range(count):
            flags = [f"-etcd-endpoints=http://127.0.0.1:{etcd.port}", "-check-interval=10"]
            flags += [f"-total-shards={count}", f"-shard={index}"] if count > 1 else []
            cpu = replica_cpu(args.server_cpu, index)
            replicas.append(start_replica(cpu, log_dir / f"{count}-replicas-{index}", flags))
    except Exception:
        stop_all(replicas)
        raise
    return replicas


READY_SECONDS = 120.0
"""A replica loads every record and the diagnosis history before /readyz: on a shared 2-core machine
that took over 30 s (bench.processes.start_exporter's wait)."""


def start_replica(cpu: int, log_dir: Path, flags: Sequence[str]) -> Child:
    port = free_port()
    command = [sys.executable, "exporter.py", f"-endpoint=127.0.0.1:{port}", *flags]
    child = processes.start_child("exporter", pinned(cpu, command), port, log_dir)
    try:
        processes.wait_until_answers(child, "/readyz", READY_SECONDS)
    except RuntimeError:
        child.stop()
        raise
    return child


def stop_all(children: Sequence[Child]) -> None:
    for child in children:
        child.stop()


def counter(port: int, sample: str) -> float:
    status, body = http_get(port, "/metrics", timeout=30)
    value = sample_value(body.decode(), sample) if status == 200 else None
    if value is None:
        raise RuntimeError(f"no {sample} on :{port}/metrics (status {status})")
    return value


def wrk_spread(
    ports: Sequence[int], connections: int, seconds: int, templates: Path, cpu: int | None
) -> dict[str, Any]:
    """wrk with one thread per replica (its port), `connections` split evenly over them."""
    count = len(ports)
    command = pinned(cpu, [
        "wrk", f"-t{count}", f"-c{connections - connections % count}", f"-d{seconds}s", "--timeout", "5s",
        "-s", str(WRK_REPLICAS), f"http://127.0.0.1:{ports[0]}", "--", str(templates),
        str(AGENTS), str(count),
    ])  # fmt: skip
    env = {
        **os.environ,
        "REPLICA_PORTS": ",".join(map(str, ports)),
        "WRK_AGENTS_LUA": str(WRK_AGENTS),
    }
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True, env=env)
    result = parse_wrk_output(done.stdout)
    return {"requests": result.requests, "rate": result.rate, "error_fraction": result.error_fraction,
            "p99_ms": result.p99 * 1000}  # fmt: skip


def measured_run(
    replicas: Sequence[Child], etcd: Child, args: argparse.Namespace, templates: Path
) -> dict[str, Any]:
    """One wrk run, with each replica's accepted reports and CPU, and etcd's puts and CPU, over it.

    The CPU is read right before and after wrk, the counters outside that window: a replica's
    /metrics at 10,000 agents is tens of MiB, and its render must not count as ingest."""
    accepted, puts = [counter(r.port, ACCEPTED) for r in replicas], counter(etcd.port, ETCD_PUTS)
    before, started = cpu_now(replicas, etcd), time.monotonic()
    load = wrk_spread(
        [r.port for r in replicas], args.connections, args.replica_seconds, templates, args.client_cpu
    )
    after, elapsed = cpu_now(replicas, etcd), time.monotonic() - started
    *used, etcd_used, busy = (end - start for start, end in zip(before, after, strict=True))
    reports = [counter(r.port, ACCEPTED) - a for r, a in zip(replicas, accepted, strict=True)]
    return {
        "replicas": len(replicas),
        "seconds": elapsed,
        "wrk": load,
        "reports_per_second": sum(reports) / elapsed,
        "cpu_us_per_report": per_report_us(sum(used), sum(reports)),
        "per_replica": [replica_figures(n, c, elapsed) for n, c in zip(reports, used, strict=True)],
        "etcd_puts_per_second": (counter(etcd.port, ETCD_PUTS) - puts) / elapsed,
        "etcd_cpu_cores": etcd_used / elapsed,
        "machine_busy_cores": busy / elapsed,
        "load_average": os.getloadavg()[0],
    }


def cpu_now(replicas: Sequence[Child], etcd: Child) -> list[float]:
    """CPU seconds so far of each replica, then of etcd, then of the whole machine."""
    return [*(r.cpu_seconds() for r in replicas), etcd.cpu_seconds(), machine_busy_seconds()]


def machine_busy_seconds() -> float:
    """CPU seconds every core spent on anything but idle and iowait since boot (/proc/stat): on a
    shared machine, the other jobs are in it too."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / processes.TICKS_PER_SECOND


def replica_figures(reports: float, cpu_seconds: float, elapsed: float) -> dict[str, float]:
    return {
        "reports_per_second": reports / elapsed,
        "cpu_cores": cpu_seconds / elapsed,
        "cpu_us_per_report": per_report_us(cpu_seconds, reports),
    }


def per_report_us(cpu_seconds: float, reports: float) -> float:
    return cpu_seconds / reports * 1e6 if reports else 0.0


def profile_replica(replica: Child, seconds: int, out: Path) -> dict[str, dict[str, float]]:
    """py-spy (GIL samples) of one replica for `seconds`: the shares of its samples (leaf_shares)."""
    raw = out / f"py-spy-{replica.pid}.txt"
    py_spy = Path(sys.executable).parent / "py-spy"
    command = [str(py_spy), "record", "-p", str(replica.pid), "-d", str(seconds), "--gil", "--format", "raw",
               "-o", str(raw)]  # fmt: skip
    subprocess.run(command, capture_output=True, timeout=seconds + 60, check=True)
    return leaf_shares(raw.read_text())


def leaf_shares(collapsed: str, top: int = 12) -> dict[str, dict[str, float]]:
    """From py-spy's raw (collapsed) stacks: the `top` leaf functions and leaf modules by share of
    all samples (with --gil, a sample is the thread holding the GIL)."""
    functions: Counter[str] = Counter()
    modules: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not (stack and count.isdigit()):
            continue
        name, _, where = stack.rsplit(";", 1)[-1].partition(" (")
        module = where.rsplit(":", 1)[0]
        functions[f"{name} ({module})"] += int(count)
        modules[module] += int(count)
    total = sum(modules.values()) or 1
    return {
        "functions": {name: n / total for name, n in functions.most_common(top)},
        "modules": {name: n / total for name, n in modules.most_common(top)},
        "samples": {"all": float(total)},
    }


def scenario(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Every replica count in turn for `--replica-repeat` rounds on one etcd, after a warm-up (wrk's
    report templates in `out`/templates, as bench.run writes them)."""
    runs: dict[str, list[dict[str, Any]]] = {str(n): [] for n in args.replicas}
    profile: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as data_dir:
        etcd = processes.start_etcd(args.client_cpu, Path(data_dir) / "data", out / "replicas")
        try:
            replica_run(1, etcd, args, out)  # not counted: every agent's key exists after it
            for round_ in range(args.replica_repeat):
                for count in args.replicas:
                    profiling = round_ == 0 and count == args.profile_replicas
                    run, shares = replica_run(count, etcd, args, out, profiling=profiling)
                    runs[str(count)].append(run)
                    profile = shares or profile
        finally:
            etcd.stop()
    return {"runs": runs, "summary": summary(runs), "profile": profile}


def replica_run(
    count: int, etcd: Child, args: argparse.Namespace, out: Path, *, profiling: bool = False
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """`count` fresh replicas: one measured run, then (when `profiling`) one under py-spy."""
    templates = out / "templates"
    replicas = start_replicas(count, etcd, args, out / "replicas")
    try:
        run = measured_run(replicas, etcd, args, templates)
        return run, profiled(replicas, etcd, args, templates, out) if profiling else {}
    finally:
        stop_all(replicas)


def profiled(
    replicas: Sequence[Child], etcd: Child, args: argparse.Namespace, templates: Path, out: Path
) -> dict[str, dict[str, float]]:
    """A run of its own (not counted: py-spy costs the replica CPU) with py-spy on replica 0."""
    with ThreadPoolExecutor(1) as pool:
        shares = pool.submit(profile_replica, replicas[0], max(args.replica_seconds - 2, 1), out)
        measured_run(replicas, etcd, args, templates)
        return shares.result()


def summary(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Median reports/s and CPU per report by replica count, and each count's ratio to one replica."""
    medians = {
        count: {
            "reports_per_second": statistics.median(r["reports_per_second"] for r in done),
            "cpu_us_per_report": statistics.median(r["cpu_us_per_report"] for r in done),
            "etcd_puts_per_second": statistics.median(r["etcd_puts_per_second"] for r in done),
        }
        for count, done in runs.items()
        if done
    }
    one = medians.get("1", {}).get("reports_per_second")
    for figures in medians.values():
        figures["ratio_to_one"] = figures["reports_per_second"] / one if one else None
    two = medians.get("2", {}).get("ratio_to_one")
    return {
        "by_replicas": medians,
        "goal_ratio": GOAL_RATIO,
        "goal_holds": two is not None and two >= GOAL_RATIO,
    }


def table(result: dict[str, Any]) -> str:
    """The runs as Markdown rows: one per run, then the medians and whether the goal holds."""
    rows = [
        "| replicas | reports/s | each replica's reports/s | CPU per report | each replica's cores "
        "| etcd puts/s | etcd cores | machine busy cores | wrk errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for count, done in result["runs"].items():
        for run in done:
            each = " / ".join(f"{r['reports_per_second']:,.0f}" for r in run["per_replica"])
            cores = " / ".join(f"{r['cpu_cores']:.2f}" for r in run["per_replica"])
            rows.append(
                f"| {count} | {run['reports_per_second']:,.0f} | {each} | {run['cpu_us_per_report']:,.0f} us "
                f"| {cores} | {run['etcd_puts_per_second']:,.0f} | {run['etcd_cpu_cores']:.2f} "
                f"| {run['machine_busy_cores']:.2f} "
                f"| {run['wrk']['error_fraction'] * 100:.1f}% |"
            )
    for count, median in result["summary"]["by_replicas"].items():
        rows.append(
            f"| {count}, median | {median['reports_per_second']:,.0f} "
            f"| {median['ratio_to_one'] or 0:.2f} x one "
            f"| {median['cpu_us_per_report']:,.0f} us | | {median['etcd_puts_per_second']:,.0f} | | | |"
        )
    holds = "holds" if result["summary"]["goal_holds"] else "does not hold"
    rows.append(f"\nGoal: two replicas >= {GOAL_RATIO} x one replica's reports/s: {holds}.")
    return "\n".join(rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--replicas", default="1,2,3", help="replica counts side by side ('': skip)")
    parser.add_argument("--replica-seconds", type=int, default=10, help="seconds per wrk run (at most 120)")
    parser.add_argument("--replica-repeat", type=int, default=2, help="rounds over the replica counts")
    parser.add_argument(
        "--profile-replicas", type=int, default=2, help="py-spy one replica at this count (0: no)"
    )


def parse_replicas(args: argparse.Namespace) -> None:
    args.replicas = [int(n) for n in str(args.replicas).split(",") if n.strip()]
    if any(not 1 <= n <= 8 for n in args.replicas):
        raise SystemExit("--replicas: each count must be from 1 to 8")
    args.replica_seconds = min(max(args.replica_seconds, 1), 120)
    args.replica_repeat = max(args.replica_repeat, 1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--connections", type=int, default=30, help="wrk connections in all")
    parser.add_argument("--shard-agents", type=int, default=10_000, help="sharded /metrics fleet (0: skip)")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = parser.parse_args(argv)
    parse_replicas(args)

    out = Path(args.out) / time.strftime("%Y%m%dT%H%M%S")
    write_templates(out / "templates")
    result = scenario(args, out)
    if args.shard_agents:  # each replica's /metrics at 1 and 2 shards (bench.shard_scrape)
        result["shards"] = shard_scrape.measure(args.shard_agents, (1, 2), 3)
    (out / "replicas.json").write_text(json.dumps(result, indent=2))
    print(table(result))
    print(json.dumps({"profile": result["profile"], "shards": result.get("shards")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
