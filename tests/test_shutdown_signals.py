"""A burst of SIGTERMs (or SIGINTs) stops a real server cleanly: exit 0, every time, in bounded time.

The old handler set a threading.Event inside the signal handler; a second signal landing while
the first handler held the Event's lock hung the process for good (about 1 run in 12 with six).
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.support.exporter import ExporterProcess, run_exporter
from tests.support.paths import REPO
from tests.support.polling import wait_until

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


def test_with_a_shutdown_delay_it_leaves_the_service_and_still_serves_until_the_delay_ends() -> None:
    """-shutdown-delay: /readyz 503 at once (Kubernetes takes the endpoint out), reports still
    stored and /healthz 200 meanwhile, then a clean exit: a rolling restart refuses nothing."""
    delay = 4.0
    exporter = ExporterProcess("-check-interval=0.2", f"-shutdown-delay={delay}", ready_path="/readyz")
    report = REPO / "tests" / "fixtures" / "agent-report-hostnet.json"
    signalled = time.monotonic()
    os.kill(exporter.process.pid, signal.SIGTERM)
    try:
        wait_until(lambda: exporter.get("/readyz").status_code == 503, 2, "/readyz 503 after SIGTERM")
        assert "shutting down" in exporter.get("/readyz").text
        assert exporter.get("/healthz").status_code == 200
        assert exporter.post_fixture(report).status_code == 200
        assert time.monotonic() - signalled < delay, "the checks above ran inside the delay"
        code = exporter.process.wait(timeout=delay + EXIT_SECONDS)
        stopped_after = time.monotonic() - signalled
    finally:
        _, log = exporter.kill()
    assert code == 0, log[-2000:]
    assert stopped_after >= delay, stopped_after
    assert "serving 4 s more before stopping (-shutdown-delay)" in log


def test_a_negative_shutdown_delay_is_refused() -> None:
    finished = run_exporter("-shutdown-delay=-1")
    assert finished.returncode == 2
    assert "-shutdown-delay must not be negative" in finished.stderr
