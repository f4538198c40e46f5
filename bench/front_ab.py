"""CPU per request of no-op fronts from several checkouts, side by side in one session.

    .venv/bin/python -m bench.front_ab [--rounds 3] [--seconds 6] LABEL=DIR:FRONT ...

FRONT is one of bench/noop_server.py's (`ours`, `ours-inline`) or `granian-wsgi`; DIR a checkout
(`git archive COMMIT | tar -x -C DIR`) whose bench.noop_server and package this venv runs. Each
round starts every variant afresh on --server-cpu, sends 2 s of wrk (not counted), then the
measured run, as bench/run.py's run_wrk does (wrk pinned to --client-cpu). The figure is the
server's utime + stime over the measured run / the requests wrk counted; the medians close it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.payload import write_templates
from bench.processes import LOOPBACK, Child, pinned, wait_until_answers
from bench.run import WRK_SCRIPT
from bench.stats import parse_wrk_output
from tests.support.ports import free_port

AGENTS = 10_000
WARMUP_SECONDS = 2


def serve_command(front: str, port: int) -> list[str]:
    bin_dir = Path(sys.executable).parent
    if front == "granian-wsgi":
        return [str(bin_dir / "granian"), "--interface", "wsgi", "--workers", "1", "--blocking-threads", "32",
                "--host", LOOPBACK, "--port", str(port), "--no-ws", "--http", "1",
                "bench.noop_server:noop_app"]  # fmt: skip
    return [sys.executable, "-m", "bench.noop_server", str(port), "--front", front]


def wrk(cpu: int, port: int, seconds: float, templates: Path) -> int:
    command = pinned(cpu, [
        "wrk", "-t1", "-c32", f"-d{seconds:g}s", "--timeout", "5s", "-s", str(WRK_SCRIPT),
        f"http://{LOOPBACK}:{port}", "--", str(templates), str(AGENTS), "1",
    ])  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True)
    return parse_wrk_output(done.stdout).requests


def measure(label: str, spec: str, args: argparse.Namespace, out: Path) -> float:
    directory, _, front = spec.rpartition(":")
    port = free_port()
    log_path = out / f"{label}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(pinned(args.server_cpu, serve_command(front, port)), cwd=directory,
                                   stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    child = Child(label, process, port, log_path)
    try:
        wait_until_answers(child, "/")
        wrk(args.client_cpu, port, WARMUP_SECONDS, out / "templates")
        cpu_before, started = child.cpu_seconds(), time.monotonic()
        requests = wrk(args.client_cpu, port, args.seconds, out / "templates")
        cpu, elapsed = child.cpu_seconds() - cpu_before, time.monotonic() - started
        print(f"{label}: {cpu / requests * 1e6:.1f} us per request, {requests / elapsed:.0f}/s", flush=True)
        return cpu / requests * 1e6
    finally:
        child.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", help="LABEL=DIR:FRONT")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    args = parser.parse_args(argv)
    variants = [text.split("=", 1) for text in args.variants]
    figures: dict[str, list[float]] = {label: [] for label, _ in variants}
    with tempfile.TemporaryDirectory(prefix="front-ab-") as directory:
        out = Path(directory)
        write_templates(out / "templates")
        for _ in range(args.rounds):
            for label, spec in variants:
                figures[label].append(measure(label, spec, args, out))
    for label, values in figures.items():
        runs = ", ".join(f"{value:.0f}" for value in values)
        print(f"{label}: median {statistics.median(values):.0f} us per request (runs {runs})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
