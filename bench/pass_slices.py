"""A reconcile pass at 10,000 agents in CPU time: its total, and its longest stretch between pauses.

    python -m bench.pass_slices [--agents 10000] [--runs 5]
    PYTHONPATH=OTHER_CHECKOUT python bench/pass_slices.py    # the same passes on other code

A pass gives the GIL back only where it calls its pause (gil_slices.py); between two calls it runs
on, and every request thread that wakes then waits behind it at each of its handoffs. So the
figure that bounds what a pass does to a request is its longest stretch between two pauses (from
the pass's start to its first pause and from its last to its end included), in the reconcile
thread's own CPU time (time.thread_time), which a shared machine moves far less than wall time.
Beside it, the longest collection of the cyclic GC's older generations that ran during the pass
(the worst of the runs): a step that holds the GIL as long, whoever triggered it.

The passes, as the server runs them under a steady fleet of agents reporting every 10 s (memory
store, no pod source): a full
pass with nothing reported since the last one (an idle fleet; the clock moves a second), a full
pass after every agent reported and was refreshed in batches of BATCH (a check interval of steady
ingest), and one refresh after BATCH reports.
"""

from __future__ import annotations

import gc
import itertools
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import netchecker_exporter
from bench.metrics_path import Fleet, fleet_arguments

BATCH = 500
REPORT_INTERVAL_SECONDS = 10
"""As bench.fleet's agents report (the captured reports say 2 s)."""
"""Reports between two refreshes at 1,000 reports/s (the refresh runs at most every 0.5 s)."""


class Marks:
    """The reconcile thread's CPU clock at every pause: a stand-in for GilSlices that never sleeps."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def pause(self) -> None:
        self.times.append(time.thread_time())

    def factory(self) -> Callable[[], None]:
        return self.pause


class Collections:
    """The CPU time of each cyclic-GC collection, per generation (gc.callbacks): one step that
    never gives the GIL back, triggered by whatever allocates at the time."""

    def __init__(self) -> None:
        self.milliseconds: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._started = 0.0
        gc.callbacks.append(self._observe)

    def _observe(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.milliseconds[info["generation"]].append((time.thread_time() - self._started) * 1000)

    def older(self) -> list[float]:
        """The collections of generations 1 and 2 (a pass's own allocations trigger the young ones)."""
        return self.milliseconds[1] + self.milliseconds[2]

    def clear(self) -> None:
        for pauses in self.milliseconds.values():
            pauses.clear()

    def close(self) -> None:
        gc.callbacks.remove(self._observe)


Row = tuple[float, float, int, float]


def stretches_ms(marks: Marks, collections: Collections, step: Callable[[], object]) -> Row:
    """(CPU ms of `step`, its longest CPU ms between pauses, pauses, its longest older-generation
    collection in ms or 0) as the thread ran it."""
    marks.times.clear()
    collections.clear()
    started = time.thread_time()
    marks.times.append(started)
    step()
    marks.times.append(time.thread_time())
    times = marks.times
    longest = max(b - a for a, b in itertools.pairwise(times))
    return (
        (times[-1] - started) * 1000,
        longest * 1000,
        len(times) - 2,
        max(collections.older(), default=0.0),
    )


def report_everyone(fleet: Fleet) -> None:
    """Every agent reports once, a refresh after each BATCH of them, as a check interval of steady ingest."""
    for start in range(0, len(fleet.bodies), BATCH):
        fleet.report(fleet.bodies[start : start + BATCH])
        fleet.pass_after_reports()


def measure(agents: int, runs: int) -> dict[str, list[Row]]:
    fleet = Fleet(agents)
    for _pod, body in fleet.bodies:  # the steady fleet's interval: the agents stay fresh between passes
        body["report_interval"] = REPORT_INTERVAL_SECONDS
    fleet.report(fleet.bodies)
    marks, collections = Marks(), Collections()
    fleet.reconciler._slices = marks.factory  # the stand-in that records where a pass pauses
    fleet.reconciler.reconcile_once()
    rows: dict[str, list[Row]] = {}
    for run in range(runs):
        fleet.now += 1
        rows.setdefault("full pass, nothing reported since the last", []).append(
            stretches_ms(marks, collections, fleet.reconciler.reconcile_once)
        )
        fleet.now += 1
        report_everyone(fleet)
        rows.setdefault("full pass after every agent reported", []).append(
            stretches_ms(marks, collections, fleet.reconciler.reconcile_once)
        )
        batch = fleet.bodies[(run * BATCH) % agents :][:BATCH]
        fleet.report(batch)
        rows.setdefault(f"refresh after {BATCH:,} reports", []).append(
            stretches_ms(marks, collections, fleet.pass_after_reports)
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = fleet_arguments(__doc__, argv, runs=5)
    print(f"{args.agents:,} agents, median (min-max) of {args.runs} runs, reconcile thread CPU ms")
    print(f"code: {Path(netchecker_exporter.__file__).parent.parent}")
    print(
        "| pass | CPU ms | longest stretch between pauses, ms | pauses | longest GC gen 1-2 collection, ms |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name, values in measure(args.agents, args.runs).items():
        cpu, longest, pauses, collection = ([v[i] for v in values] for i in range(4))
        print(
            f"| {name} | {statistics.median(cpu):.1f} ({min(cpu):.1f}-{max(cpu):.1f}) "
            f"| {statistics.median(longest):.1f} ({min(longest):.1f}-{max(longest):.1f}) "
            f"| {statistics.median(pauses):.0f} | {max(collection):.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
