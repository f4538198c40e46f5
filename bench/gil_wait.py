"""How long another thread waits for the GIL while the /metrics path's long steps run, 10,000 agents.

    python -m bench.gil_wait [--agents 10000] [--runs 3]
    PYTHONPATH=OTHER_CHECKOUT python -m bench.gil_wait    # the same steps on other code

A ticker thread sleeps 0.5 ms in a loop, as a request thread blocks on its socket, and records how
late each wake-up came back with the GIL; the steps (bench.metrics_path's: a full pass, the write
of every agent after it, the write of 1,000 changed agents, a gzip scrape) run on the main thread
meanwhile, as the reconcile and scrape threads do in the server. Per step: the longest wait and
the p99 of the ticker's waits, and how many turns it got. Wall time: run it alone on the machine,
and compare two checkouts in one session.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence

from bench.metrics_path import BATCH, Fleet, fleet_arguments
from netchecker_exporter.tuning import SWITCH_INTERVAL_SECONDS

TICK_SECONDS = 0.0005


class Ticker:
    """A thread that wakes every TICK_SECONDS and records how late it got the GIL back."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            time.sleep(TICK_SECONDS)
            self.waits.append(time.perf_counter() - started - TICK_SECONDS)

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def waits_during(step: Callable[[], object]) -> tuple[float, float, int]:
    """(longest wait ms, p99 wait ms, turns) of a ticker while `step` runs."""
    with Ticker() as ticker:
        time.sleep(0.01)  # the ticker is running
        ticker.waits.clear()
        step()
        waits = list(ticker.waits)
    if len(waits) < 2:
        return (max(waits, default=0.0) * 1000, max(waits, default=0.0) * 1000, len(waits))
    return max(waits) * 1000, statistics.quantiles(waits, n=100)[98] * 1000, len(waits)


def measure(agents: int, runs: int) -> dict[str, list[tuple[float, float, int]]]:
    fleet = Fleet(agents)
    fleet.reconciler.reconcile_once()
    fleet.metrics.warm()
    rows: dict[str, list[tuple[float, float, int]]] = {}
    for run in range(runs):
        fleet.now += 1
        batch = fleet.bodies[(run * BATCH) % agents :][:BATCH]
        steps: list[tuple[str, Callable[[], object]]] = [
            ("full pass (judge + diagnose)", fleet.reconciler.reconcile_once),
            ("write after the full pass", fleet.metrics.warm),
            ("gzip scrape, new Snapshot", fleet.gzip_scrape),
        ]
        for name, step in steps:
            rows.setdefault(name, []).append(waits_during(step))
        fleet.report(batch)
        fleet.pass_after_reports()
        rows.setdefault(f"write after {BATCH:,} reports", []).append(waits_during(fleet.metrics.warm))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = fleet_arguments(__doc__, argv, runs=3)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    tick = TICK_SECONDS * 1000
    print(f"{args.agents:,} agents; a {tick} ms ticker's wait for the GIL, median of {args.runs} runs")
    print("| step | longest wait, ms | p99 wait, ms | ticker turns |")
    print("| --- | --- | --- | --- |")
    for name, values in measure(args.agents, args.runs).items():
        longest, p99, turns = (statistics.median(v[i] for v in values) for i in range(3))
        print(f"| {name} | {longest:.1f} | {p99:.1f} | {turns:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
