"""A burst of SIGTERMs (or SIGINTs) stops a real server cleanly: exit 0, every time, in bounded time.

The old handler set a threading.Event inside the signal handler; a second signal landing while
the first handler held the Event's lock hung the process for good (about 1 run in 12 with six).
"""

from __future__ import annotations

import os
import signal

import pytest

from tests.support.exporter import ExporterProcess

pytestmark = [pytest.mark.process]

RUNS = 12
BURST = 6
EXIT_SECONDS = 20


@pytest.mark.parametrize("run", range(RUNS))
def test_a_burst_of_stop_signals_exits_0(run: int) -> None:
    exporter = ExporterProcess("-check-interval=0.2")
    signum = signal.SIGINT if run % 4 == 3 else signal.SIGTERM
    for _ in range(BURST):
        os.kill(exporter.process.pid, signum)
    try:
        code = exporter.process.wait(timeout=EXIT_SECONDS)  # a hang fails here, not the whole suite
    finally:
        _, stderr = exporter.kill()  # hung: no process may outlive its test
    assert code == 0, stderr[-2000:]
    assert stderr.count(f"received {signum.name}: stopping") == 1
    assert " stopped\n" in stderr, stderr[-2000:]


def test_a_signal_while_the_server_is_busy_serving_also_stops_it() -> None:
    exporter = ExporterProcess("-check-interval=0.2")
    for _ in range(20):
        assert exporter.get("/metrics").status_code == 200
    os.kill(exporter.process.pid, signal.SIGTERM)
    try:
        assert exporter.process.wait(timeout=EXIT_SECONDS) == 0
    finally:
        exporter.kill()
