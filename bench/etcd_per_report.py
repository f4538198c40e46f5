"""What the etcd store adds per accepted report: server CPU per report, etcd vs memory store, side by side.

    .venv/bin/python -m bench.etcd_per_report [--rounds 3] [--duration 10] \
        [--variants memory,etcd,etcd@/tmp/before] [--report-interval 60] [--paced-interval 16] [--profile DIR]

One etcd (Debian's 3.4, every commit fsynced) on --client-cpu for the whole session. Each round
starts every variant afresh on --server-cpu (`exporter.py -check-interval 10`, `-etcd-endpoints`
for the etcd ones), sends a warm-up wrk run (not counted: it fills the store with the 10,000
agents), then the measured one, as bench/run.py's run_wrk does (wrk pinned to --client-cpu). CPU
per report = the server's utime + stime over the measured run / the requests wrk counted. A
variant `NAME@DIR` runs the exporter from another checkout (e.g. `git archive main | tar -x -C
DIR`), with this venv, so two versions of the code are measured in one session. --profile records
py-spy (raw stacks, 200 Hz, --gil) of every variant's measured run into DIR. --paced-interval
measures with bench.fleet instead of wrk: 10,000 agents each reporting at that interval, the same
reports/s for every variant (below their ceilings), so the reconcile passes cost them all the same
and the difference in CPU per report is what the store adds. An etcd variant's row also has its
mean reports per Txn over the measured run (the store's batch histogram, scraped around it).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.payload import write_templates
from bench.processes import LOOPBACK, Child, http_get, pinned, start_etcd, start_exporter
from bench.run import WRK_SCRIPT
from bench.stats import parse_wrk_output
from tests.support.paths import REPO

AGENTS = 10_000
BATCH_SAMPLE = re.compile(rb"^netchecker_etcd_commit_batch_reports_(sum|count) (\S+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Variant:
    label: str
    store: str  # "memory" or "etcd"
    repo: Path


def parse_variant(text: str) -> Variant:
    store, _, directory = text.partition("@")
    if store not in {"memory", "etcd"}:
        raise argparse.ArgumentTypeError(f"{text}: a variant is memory or etcd, optionally @DIR")
    return Variant(text, store, Path(directory).resolve() if directory else REPO)


def start_server(variant: Variant, etcd_url: str, cpu: int, log_dir: Path, tree: str) -> Child:
    flags = ["-check-interval=10"]
    if variant.store == "etcd":
        flags += [f"-etcd-endpoints={etcd_url}", f"-etcd-tree={tree}"]
    name = variant.label.replace("/", "_").replace("@", "-at-")
    return start_exporter(cpu, log_dir, *flags, name=name, tree=variant.repo)


def wrk(cpu: int, port: int, seconds: float, templates: Path) -> dict[str, Any]:
    command = pinned(cpu, [
        "wrk", "-t1", "-c32", f"-d{seconds:g}s", "--timeout", "5s", "-s", str(WRK_SCRIPT),
        f"http://{LOOPBACK}:{port}", "--", str(templates), str(AGENTS), "1",
    ])  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True)
    result = parse_wrk_output(done.stdout)
    return {"requests": result.requests, "rate": result.rate, "p99_ms": result.p99 * 1e3,
            "errors": result.non_2xx + result.socket_errors}  # fmt: skip


def fleet(cpu: int, port: int, seconds: float, interval: float) -> dict[str, Any]:
    """A paced load (bench.fleet): the same reports/s for every variant, so what differs is the store."""
    command = pinned(cpu, [
        sys.executable, "-m", "bench.fleet", f"--port={port}", f"--agents={AGENTS}",
        f"--interval={interval:g}", f"--duration={seconds:g}",
    ])  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True, cwd=REPO)
    result = json.loads(done.stdout)
    latency = result["latency_seconds"] or {"p99": 0.0}
    return {"requests": result["statuses"].get("200", 0), "rate": result["rate_per_second"],
            "p99_ms": latency["p99"] * 1e3, "errors": result["errors"]}  # fmt: skip


def batch_totals(port: int) -> tuple[float, float]:
    """(reports, commits) of the etcd store's batch histogram so far; zeros on the memory store."""
    _, body = http_get(port, "/metrics", timeout=30)
    samples = {name: float(value) for name, value in BATCH_SAMPLE.findall(body)}
    return samples.get(b"sum", 0.0), samples.get(b"count", 0.0)


def profile(pid: int, seconds: float, path: Path) -> subprocess.Popen[bytes] | None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    command = [py_spy, "record", "-p", str(pid), "-r", "200", "-f", "raw", "--nonblocking", "--gil",
               "-d", str(int(seconds) + 1), "-o", str(path)]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(
    variant: Variant, args: argparse.Namespace, etcd_url: str, run_dir: Path, tag: str
) -> dict[str, Any]:
    server = start_server(variant, etcd_url, args.server_cpu, run_dir / "logs", f"bench-{tag}")
    try:
        wrk(args.client_cpu, server.port, args.warmup, run_dir)
        spy = None
        if args.profile:
            spy = profile(server.pid, args.duration, args.profile / f"{tag}.txt")
        batched_before = batch_totals(server.port)
        before = server.cpu_seconds()
        if args.paced_interval:
            result = fleet(args.client_cpu, server.port, args.duration, args.paced_interval)
        else:
            result = wrk(args.client_cpu, server.port, args.duration, run_dir)
        cpu = server.cpu_seconds() - before
        reports, commits = (a - b for a, b in zip(batch_totals(server.port), batched_before, strict=True))
        if spy is not None:
            spy.wait(timeout=args.duration + 30)
    finally:
        server.stop()
    per_report = cpu / max(1, result["requests"]) * 1e6
    mean_batch = reports / commits if commits else None
    return {**result, "variant": variant.label, "cpu_s": cpu, "us_per_report": per_report,
            "mean_batch": mean_batch}  # fmt: skip


def set_report_interval(directory: Path, seconds: int) -> None:
    """The templates with another report_interval: the fixtures' 2 s makes every agent stale (and
    re-rendered) every 4 s when 10,000 agents report less often than that, at any ingest rate."""
    for template in directory.glob("*.json"):
        text = template.read_text()
        template.write_text(re.sub(r'"report_interval":\s*\d+', f'"report_interval":{seconds}', text))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--variants", default="memory,etcd", help="comma-separated: memory|etcd[@DIR]")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--report-interval", type=int, default=0, help="rewrite the templates' (0: keep 2 s)")
    parser.add_argument(
        "--paced-interval",
        type=float,
        default=0.0,
        help="measure with bench.fleet: 10,000 agents at this interval",
    )
    parser.add_argument("--profile", type=Path, default=None, help="directory for py-spy raw stacks")
    args = parser.parse_args()
    variants = [parse_variant(v) for v in args.variants.split(",") if v]
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="etcd-per-report-") as tmp:
        run_dir = Path(tmp)
        write_templates(run_dir)
        if args.report_interval:
            set_report_interval(run_dir, args.report_interval)
        etcd = start_etcd(args.client_cpu, run_dir / "etcd", run_dir / "logs")
        rows: list[dict[str, Any]] = []
        try:
            for round_index in range(args.rounds):
                for number, variant in enumerate(variants):
                    url, tag = f"http://{LOOPBACK}:{etcd.port}", f"r{round_index}v{number}"
                    row = measure(variant, args, url, run_dir, tag)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    time.sleep(1)
        finally:
            etcd.stop()
    for variant in variants:
        mine = [r["us_per_report"] for r in rows if r["variant"] == variant.label]
        rates = [r["rate"] for r in rows if r["variant"] == variant.label]
        runs = ", ".join(f"{x:.0f}" for x in mine)
        median, rate = statistics.median(mine), statistics.median(rates)
        print(f"{variant.label}: {median:.0f} us per report (runs {runs}); {rate:,.0f} reports/s")


if __name__ == "__main__":
    main()
