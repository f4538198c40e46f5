"""The server's memory and CPU as a function of the fleet size, fitted to a line for the Helm chart.

    python -m bench.sizing                        # memory and etcd stores, 1,000 / 5,000 / 10,000 agents
    python -m bench.sizing --sizing-agents 1000,10000 --sizing-stores memory

Each run starts the real server (on --server-cpu; etcd and the fleet on --client-cpu), has bench.fleet
send every agent's real-shaped report (captured fixtures, distinct pods and nodes) every 10 s for
three intervals, waits for a reconcile pass, scrapes /metrics three times, then reads VmRSS
and VmHWM from /proc/<pid>/status and the server's CPU time. RSS = a + b * agents is a least-squares
fit over the runs of one store; charts/netchecker sizes its requests and limits from it (README there).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import processes
from bench.processes import Child, http_get, pinned
from bench.stats import sample_value
from bench.table import MIB, machine_facts
from tests.support.paths import REPO

INTERVAL_SECONDS = 10
SCRAPES = 3
REPORTS_PER_AGENT = 3


@dataclass(frozen=True)
class SizingRun:
    """One server at one fleet size: what it held and what it burnt."""

    store: str
    agents: int
    accepted: float
    rss_mib: float
    """VmRSS after the fleet, the pass and the scrapes."""
    hwm_mib: float
    """VmHWM: the peak resident set over the whole run (what a memory limit must hold)."""
    cpu_cores: float
    """Server CPU seconds per wall second while the fleet reported (1.0 = one core busy): what it
    got, which on a loaded machine can be less than the fleet asked for."""
    cpu_ms_per_report: float
    """Server CPU per accepted report: the load-independent figure the chart's CPU request uses."""
    etcd_rss_mib: float | None = None
    etcd_cpu_ms_per_report: float | None = None
    """etcd's CPU over the whole run (reports, pass, scrapes) per accepted report."""


@dataclass(frozen=True)
class LineFit:
    """y = intercept + slope * x, least squares."""

    intercept: float
    slope: float

    def at(self, x: float) -> float:
        return self.intercept + self.slope * x


def fit_line(points: Sequence[tuple[float, float]]) -> LineFit:
    """The least-squares line through (x, y) points; needs two distinct x values."""
    xs = [x for x, _ in points]
    if len(set(xs)) < 2:
        raise ValueError("a line needs points at two different sizes at least")
    n = len(points)
    mean_x, mean_y = sum(xs) / n, sum(y for _, y in points) / n
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in points)
    variance = sum((x - mean_x) ** 2 for x in xs)
    slope = covariance / variance
    return LineFit(intercept=mean_y - slope * mean_x, slope=slope)


def status_bytes(proc_status: str, field: str) -> int:
    """A `<field>: N kB` line of /proc/<pid>/status (VmRSS, VmHWM), in bytes."""
    match = re.search(rf"^{field}:\s+(\d+) kB", proc_status, re.MULTILINE)
    if match is None:
        raise ValueError(f"no {field} line in /proc status text")
    return int(match.group(1)) * 1024


def fill_with_fleet(server: Child, agents: int, cpu: int | None) -> tuple[float, float]:
    """Every agent reports three times (each report rebuilds its record, as in a steady fleet);
    returns the server's CPU seconds meanwhile and the wall seconds it took."""
    duration = INTERVAL_SECONDS * REPORTS_PER_AGENT
    command = pinned(cpu, [sys.executable, "-m", "bench.fleet", f"--port={server.port}", f"--agents={agents}",
                           f"--interval={INTERVAL_SECONDS}", f"--duration={duration}"])  # fmt: skip
    cpu_before, started = server.cpu_seconds(), time.monotonic()
    subprocess.run(command, cwd=REPO, capture_output=True, check=True, timeout=duration + 120)
    return server.cpu_seconds() - cpu_before, time.monotonic() - started


def measure(server: Child, store: str, agents: int, client_cpu: int | None) -> SizingRun:
    cpu_seconds, wall_seconds = fill_with_fleet(server, agents, client_cpu)
    time.sleep(INTERVAL_SECONDS + 1)  # one reconcile pass (-check-interval=10) over the full fleet
    body = b""
    for _ in range(SCRAPES):
        _, body = http_get(server.port, "/metrics", timeout=60)
    accepted = sample_value(body.decode(), 'netchecker_reports_received_total{result="accepted"}') or 0.0
    if accepted < agents:
        raise RuntimeError(f"{store} store at {agents} agents accepted only {accepted:.0f} reports")
    status = Path(f"/proc/{server.pid}/status").read_text()
    return SizingRun(
        store=store,
        agents=agents,
        accepted=accepted,
        rss_mib=round(status_bytes(status, "VmRSS") / MIB, 1),
        hwm_mib=round(status_bytes(status, "VmHWM") / MIB, 1),
        cpu_cores=round(cpu_seconds / wall_seconds, 3),
        cpu_ms_per_report=round(1000 * cpu_seconds / accepted, 3),
    )


def run_once(store: str, agents: int, args: argparse.Namespace, out: Path) -> SizingRun:
    """A fresh server (and for the etcd store a fresh etcd) per run, so VmHWM is this size's peak."""
    if store == "memory":
        server = processes.start_exporter(args.server_cpu, out, "-check-interval=10")
        try:
            return measure(server, store, agents, args.client_cpu)
        finally:
            server.stop()
    with tempfile.TemporaryDirectory(prefix="bench-sizing-etcd-") as data_dir:
        etcd = processes.start_etcd(args.client_cpu, Path(data_dir) / "data", out)
        try:
            endpoint = f"-etcd-endpoints=http://127.0.0.1:{etcd.port}"
            server = processes.start_exporter(args.server_cpu, out, "-check-interval=10", endpoint)
            etcd_cpu_before = etcd.cpu_seconds()
            try:
                run = measure(server, store, agents, args.client_cpu)
            finally:
                server.stop()
            etcd_ms = 1000 * (etcd.cpu_seconds() - etcd_cpu_before) / run.accepted
            etcd_facts = {
                "etcd_rss_mib": round(etcd.rss_bytes() / MIB, 1),
                "etcd_cpu_ms_per_report": round(etcd_ms, 3),
            }
            return SizingRun(**{**asdict(run), **etcd_facts})
        finally:
            etcd.stop()


def fit_summary(points: Sequence[tuple[float, float]], digits: int) -> dict[str, float]:
    fit = fit_line(points)
    return {"intercept": round(fit.intercept, digits), "per_1000_agents": round(fit.slope * 1000, digits)}


def summarize_store(runs: Sequence[SizingRun]) -> dict[str, Any]:
    """The fits of one store: peak RSS (VmHWM) and CPU against the number of agents."""
    result: dict[str, Any] = {
        "hwm_mib": fit_summary([(r.agents, r.hwm_mib) for r in runs], 2),
        "cpu_cores": fit_summary([(r.agents, r.cpu_cores) for r in runs], 4),
        "cpu_ms_per_report": fit_summary([(r.agents, r.cpu_ms_per_report) for r in runs], 4),
    }
    etcd_points = [(r.agents, r.etcd_rss_mib) for r in runs if r.etcd_rss_mib is not None]
    if len(etcd_points) == len(runs):
        result["etcd_rss_mib"] = fit_summary(etcd_points, 2)
    etcd_cpu = [(r.agents, r.etcd_cpu_ms_per_report) for r in runs if r.etcd_cpu_ms_per_report is not None]
    if len(etcd_cpu) == len(runs):
        result["etcd_cpu_ms_per_report"] = fit_summary(etcd_cpu, 4)
    return result


def sizing_scenario(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Every store at every size: the runs and their fits (bench.run records it as "sizing")."""
    result: dict[str, Any] = {}
    for store in args.sizing_stores:
        runs = [run_once(store, n, args, out / f"sizing-{store}-{n}") for n in args.sizing_agents]
        result[store] = {"runs": [asdict(r) for r in runs], "fit": summarize_store(runs)}
    return result


SIZING_HEADER = (
    "| store | agents | RSS (MiB) | VmHWM (MiB) | accepted | server cores | server CPU per report (ms) "
    "| etcd RSS (MiB) | etcd CPU per report (ms) |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def _figure(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def sizing_table(result: dict[str, Any]) -> str:
    """The runs as the Markdown rows of charts/netchecker/README.md (Sizing)."""
    rows = [SIZING_HEADER]
    for store in result.values():
        for run in store["runs"]:
            etcd = (
                f"| {_figure(run.get('etcd_rss_mib'), 1)} | {_figure(run.get('etcd_cpu_ms_per_report'), 3)} |"
            )
            rows.append(
                f"| {run['store']} | {run['agents']:,} | {run['rss_mib']:.1f} | {run['hwm_mib']:.1f} "
                f"| {run['accepted']:,.0f} | {run['cpu_cores']:.3f} | {run['cpu_ms_per_report']:.3f} {etcd}"
            )
    return "\n".join(rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizing-agents", default="1000,5000,10000", help="fleet sizes (comma-separated)")
    parser.add_argument("--sizing-stores", default="memory,etcd", help="memory, etcd (comma-separated)")


def parse_sizes(args: argparse.Namespace) -> None:
    args.sizing_agents = [int(n) for n in str(args.sizing_agents).split(",") if n.strip()]
    args.sizing_stores = [s.strip() for s in str(args.sizing_stores).split(",") if s.strip()]
    if any(not 1 <= n <= 50_000 for n in args.sizing_agents):
        raise SystemExit("--sizing-agents: each size must be from 1 to 50,000")
    if not set(args.sizing_stores) <= {"memory", "etcd"}:
        raise SystemExit("--sizing-stores: memory or etcd")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = parser.parse_args(argv)
    parse_sizes(args)
    out = Path(args.out) / f"sizing-{time.strftime('%Y%m%dT%H%M%S')}"
    results: dict[str, Any] = {"machine": machine_facts(), "sizing": sizing_scenario(args, out)}
    results["load_average_at_end"] = list(os.getloadavg())
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(sizing_table(results["sizing"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
