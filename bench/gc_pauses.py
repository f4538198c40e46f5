"""The cyclic GC's pauses under steady ingest at 10,000 agents, for both policies, side by side.

    python -m bench.gc_pauses [--agents 10000] [--seconds 90]

Each policy runs in a child process of its own on the same simulated fleet (bench.metrics_path's
Fleet): every simulated second 1,000 agents report (decoded and stored) and the reconciler
refreshes, every 10 s a full pass runs and the reconcile thread's after-pass hook, every 15 s a
scrape writes the changed agents. `thresholds` is tuning.py's GC_THRESHOLDS alone; `frozen` adds
tuning.FrozenSurvivors, installed as cli.run installs it. Per generation: how many collections,
their total and longest CPU time (a collection holds the GIL throughout, so its length is how
long every request thread waited). CPU time, so another job on the machine does not inflate it.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.metrics_path import BATCH, Fleet
from bench.pass_slices import Collections
from netchecker_exporter.tuning import GC_THRESHOLDS, FrozenSurvivors

POLICIES = ("thresholds", "frozen")
PASS_EVERY = 10
SCRAPE_EVERY = 15


def simulate(policy: str, agents: int, seconds: int) -> dict[str, Any]:
    gc.set_threshold(*GC_THRESHOLDS)
    fleet = Fleet(agents)
    fleet.reconciler.reconcile_once()
    fleet.metrics.warm()
    gc.collect()
    gc.freeze()  # start-up, as tune_interpreter() freezes it
    collections = Collections()  # its callback first: a collection's time leaves out the freeze after it
    clock = [0.0]
    survivors = FrozenSurvivors(clock=lambda: clock[0])
    if policy == "frozen":
        survivors.install()
    started = time.thread_time()
    for second in range(seconds):
        fleet.now += 1
        clock[0] += 1
        first = (second * BATCH) % agents
        fleet.report(fleet.bodies[first : first + BATCH])
        fleet.pass_after_reports()
        if second % PASS_EVERY == PASS_EVERY - 1:
            fleet.reconciler.reconcile_once()
            survivors.sweep_if_due()
        if second % SCRAPE_EVERY == SCRAPE_EVERY - 1:
            fleet.metrics.warm()
    cpu = time.thread_time() - started
    collections.close()
    survivors.uninstall()
    return {"policy": policy, "cpu_seconds": cpu, "pauses": collections.milliseconds}


def row(result: dict[str, Any]) -> str:
    cells = []
    for generation in ("0", "1", "2"):
        pauses = result["pauses"][generation]
        longest = max(pauses, default=0.0)
        cells.append(f"{len(pauses)}, {sum(pauses):.0f} ms, longest {longest:.1f} ms")
    return f"| {result['policy']} | " + " | ".join(cells) + f" | {result['cpu_seconds']:.1f} s |"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=90, help="simulated seconds of ingest")
    parser.add_argument("--policy", choices=POLICIES, help="run one policy here (the children do)")
    args = parser.parse_args(argv)
    if args.policy:
        print(json.dumps(simulate(args.policy, args.agents, args.seconds)))
        return 0
    print(f"{args.agents:,} agents, {args.seconds} s of ingest at {BATCH:,} reports/s; collections, CPU")
    print("| policy | generation 0 | generation 1 | generation 2 | CPU in all |")
    print("| --- | --- | --- | --- | --- |")
    for policy in POLICIES:
        command = [sys.executable, "-m", "bench.gc_pauses", f"--agents={args.agents}",
                   f"--seconds={args.seconds}", f"--policy={policy}"]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        print(row(json.loads(done.stdout)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
