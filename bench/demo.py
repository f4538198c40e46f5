"""`make demo`: the server on the embedded store, a simulated fleet of 20 nodes, and Prometheus.

Prints where to look; Ctrl-C stops the fleet, then the server and Prometheus, and cleans up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import tempfile
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.demo_faults import DEMO_FAULTS
from bench.demo_fleet import DemoFleet, pods_file_text, run_demo_fleet
from bench.processes import Child, start_child, start_exporter, wait_until_answers
from tests.support.paths import RULES_FILE

JOB = "netchecker"
DASHBOARD_QUERIES = (
    f'max(netchecker_agents_absent{{job="{JOB}"}} + netchecker_agents_outdated{{job="{JOB}"}})',
    f'max by (node, pod, network, status) (netchecker_agent_status{{job="{JOB}"}} == 1)',
    f'avg by (network, url) (netchecker_agent_probe_success{{job="{JOB}"}})',
    f'time() - max by (node, pod, network) (netchecker_agent_last_report_timestamp_seconds{{job="{JOB}"}})',
    f'netchecker_node_verdict{{job="{JOB}", verdict!="healthy"}}',
    f'sum by (result) (rate(netchecker_reports_received_total{{job="{JOB}"}}[1m]))',
)
"""A few of the Grafana dashboard's queries (config/grafana/netchecker.json), with job filled in."""


RULES = RULES_FILE


def prometheus_config(server_port: int) -> str:
    """Scrape the server and evaluate the alert rules, so the demo's faults show as alerts too."""
    return (
        "global: {scrape_interval: 5s, evaluation_interval: 5s}\n"
        f"rule_files: ['{RULES}']\n"
        "scrape_configs:\n"
        f"  - job_name: {JOB}\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{server_port}']}}]\n"
    )


@contextlib.contextmanager
def running(child: Child) -> Iterator[Child]:
    try:
        yield child
    finally:
        child.stop(grace_seconds=8)


def start_server(fleet: DemoFleet, work: Path) -> Child:
    pods = work / "pods.yml"
    pods.write_text(pods_file_text(fleet))
    return start_exporter(
        None, work, f"-pods-file={pods}", "-check-interval=5", "-startup-grace=15", port=fleet.port,
        ready_path="/healthz",
    )  # fmt: skip


def start_prometheus(server_port: int, port: int, work: Path) -> Child | None:
    binary = shutil.which("prometheus")
    if binary is None:
        print("(prometheus is not installed: `make debian-deps` installs it; skipping)")
        return None
    config = work / "prometheus.yml"
    config.write_text(prometheus_config(server_port))
    command = [binary, f"--config.file={config}", f"--storage.tsdb.path={work / 'tsdb'}",
               f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]  # fmt: skip
    child = start_child("prometheus", command, port, work)
    wait_until_answers(child, "/-/ready")
    return child


def where_to_look(fleet: DemoFleet, prometheus_port: int | None, work: Path) -> str:
    base = f"http://127.0.0.1:{fleet.port}"
    lines = [
        f"netchecker-exporter demo: {fleet.nodes} nodes x 2 agents reporting every "
        f"{fleet.report_interval_seconds} s; pod-network probes fail on nodes {sorted(fleet.failing_nodes)}; "
        f"node {fleet.silent_node} ({', '.join(fleet.silent_pods())}) goes silent after "
        f"{fleet.silent_after_seconds:.0f} s.",
        "Diagnosis verdicts shown (node index: verdict): "
        + ", ".join(
            f"{node}: {fault.value}" for node, fault in sorted(fleet.faults.items()) if node < fleet.nodes
        )
        + ("; one probe target down everywhere" if fleet.target_down else ""),
        "",
        f"  open {base}/                                  # the status page: what is broken, where",
        f"  curl -s {base}/api/v1/diagnosis | python3 -m json.tool | head -60",
        f"  curl -si {base}/api/v1/connectivity_check     # 400: an agent is missing, then the silent node",
        f"  curl -s {base}/api/v1/agents/ | python3 -m json.tool | head -40",
        f"  curl -s {base}/metrics | grep -E '^netchecker_agents_|probe_success.*}} 0'",
        f"  curl -s {base}/readyz",
    ]
    if prometheus_port is not None:
        prom = f"http://127.0.0.1:{prometheus_port}"
        lines += [
            "",
            f"Prometheus at {prom} scrapes the server every 5 s (job={JOB}) and evaluates the alert rules",
            f"({prom}/alerts: the faults' alerts fire after their `for:`); dashboard queries:",
        ]
        for query in DASHBOARD_QUERIES:
            lines.append(f"  {prom}/graph?g0.tab=1&g0.expr={urllib.parse.quote(query)}")
    lines += ["", f"Logs in {work}. Ctrl-C stops everything.", ""]
    return "\n".join(lines)


async def simulate(fleet: DemoFleet) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    counts = await run_demo_fleet(fleet, stop)
    print(f"\nfleet stopped: reports by outcome {dict(counts.outcomes)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8081, help="the server's port on 127.0.0.1")
    parser.add_argument("--prometheus-port", type=int, default=9090, help="0: no Prometheus")
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--silent-after", type=float, default=60.0, help="seconds until one node goes silent")
    parser.add_argument("--duration", type=float, default=3600.0, help="the demo stops by itself after this")
    args = parser.parse_args(argv)
    fleet = DemoFleet(
        port=args.port,
        nodes=args.nodes,
        silent_after_seconds=args.silent_after,
        silent_node=min(7, args.nodes - 1),
        duration_seconds=min(args.duration, 86_400),
        faults=DEMO_FAULTS,
        target_down=True,
    )
    with tempfile.TemporaryDirectory(prefix="netchecker-demo-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        stack.enter_context(running(start_server(fleet, work)))
        prometheus = None
        if args.prometheus_port:
            prometheus = start_prometheus(fleet.port, args.prometheus_port, work)
        if prometheus is not None:
            stack.enter_context(running(prometheus))
        print(where_to_look(fleet, args.prometheus_port if prometheus else None, work), flush=True)
        asyncio.run(simulate(fleet))
        print("stopping the server and Prometheus ...", flush=True)
    print("demo stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
