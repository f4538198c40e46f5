"""A real `python exporter.py` process: the fixtures give COMPAT.md's answers, signals, exit codes."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.exporter import LEGACY_MS_LINT, ExporterProcess, metric_value, run_exporter
from tests.support.paths import fixture_paths, original_fixture_paths
from tests.support.polling import wait_until

pytestmark = [pytest.mark.process]


@pytest.fixture
def exporter() -> Iterator[ExporterProcess]:
    process = ExporterProcess("-check-interval=0.2")
    yield process
    process.stop()


def test_the_fixtures_get_exactly_the_originals_answers(exporter: ExporterProcess) -> None:
    for path in original_fixture_paths():
        response = exporter.post_fixture(path)
        assert response.status_code == 200, response.text
    listing = exporter.get("/api/v1/agents/").json()
    assert sorted(listing) == ["netchecker-agent-7fq2m", "netchecker-agent-hostnet-x7k2p"]
    check = exporter.get("/api/v1/connectivity_check")
    assert check.status_code == 200
    assert check.json() == {
        "Message": "All 2 pods successfully reported back to the server",
        "Absent": None,
        "Outdated": None,
    }
    assert exporter.get("/api/v1/ping").status_code == 200
    metrics = wait_until(lambda: _reconciled_metrics(exporter), 5, "a reconcile pass with both agents")
    assert metric_value(metrics, 'ncagent_report_count_total{agent="node-1-host_network"}') == 1
    assert metric_value(metrics, 'ncagent_error_count_total{agent="node-1-private_network"}') == 0
    unreachable = 'ncagent_http_probe_connection_result{agent="node-1-private_network",url="http://127.0.0.1:1/unreachable"}'
    assert metric_value(metrics, unreachable) == 0


def _reconciled_metrics(exporter: ExporterProcess) -> str | None:
    text = exporter.get("/metrics").text
    return text if metric_value(text, "netchecker_agents_expected") == 2 else None


def test_promtool_accepts_the_live_metrics(exporter: ExporterProcess) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: `make test` installs Debian's prometheus package")
    for path in original_fixture_paths():
        exporter.post_fixture(path)
    text = wait_until(lambda: _reconciled_metrics(exporter), 5, "a reconcile pass")
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    # Exit 3 is lint only; 1 would be an exposition promtool cannot parse. The one lint allowed is
    # on the ncagent_*_time_ms names, which COMPAT.md requires exactly as the original spelled them.
    findings = (result.stdout + result.stderr).splitlines()
    assert result.returncode in {0, 3}, findings
    assert [f for f in findings if not LEGACY_MS_LINT.fullmatch(f)] == []
    assert len(findings) == 6


def test_a_silent_agent_turns_outdated_and_counts_missed_keepalives_by_the_clock(
    exporter: ExporterProcess,
) -> None:
    hostnet = next(p for p in fixture_paths() if "hostnet" in p.name)  # report_interval 2 s
    exporter.post_fixture(hostnet)

    def outdated() -> dict[str, Any] | None:
        response = exporter.get("/api/v1/connectivity_check")
        return response.json() if response.status_code == 400 else None

    body = wait_until(outdated, 8, "the agent to be outdated")
    assert body["Outdated"] == ["netchecker-agent-hostnet-x7k2p"]
    assert body["Absent"] is None
    errors = 'ncagent_error_count_total{agent="node-1-host_network"}'
    wait_until(
        lambda: (metric_value(exporter.get("/metrics").text, errors) or 0) >= 1, 5, "a missed keepalive"
    )
    exporter.post_fixture(hostnet)  # it comes back: fresh again, the missed window stays counted
    assert exporter.get("/api/v1/connectivity_check").status_code == 200
    assert metric_value(exporter.get("/metrics").text, errors) == 1


def test_a_pods_file_makes_a_silent_agent_absent(tmp_path: Path) -> None:
    pods = tmp_path / "pods.yml"
    pods.write_text(
        "agents:\n  - {pod: netchecker-agent-hostnet-x7k2p, node: node-1}\n  - {pod: silent, node: node-2}\n"
    )
    exporter = ExporterProcess(f"-pods-file={pods}", "-check-interval=0.2")
    try:
        exporter.post_fixture(next(p for p in fixture_paths() if "hostnet" in p.name))
        response = exporter.get("/api/v1/connectivity_check")
        assert response.status_code == 400
        assert response.json()["Absent"] == ["silent"]
    finally:
        exporter.stop()


def test_kubesprays_flags_start_the_server(tmp_path: Path) -> None:
    exporter = ExporterProcess("-v=5", "-logtostderr", "-kubeproxyinit=false", "-check-interval=1")
    code, stderr = exporter.stop()
    assert code == 0
    assert "starting: endpoint=127.0.0.1:" in stderr


def refuses_connections(exporter: ExporterProcess) -> bool:
    try:
        requests.get(exporter.url + "/healthz", timeout=1)
    except requests.ConnectionError:
        return True
    return False


def test_sigterm_finishes_the_request_in_flight_and_exits_0_within_5_seconds(
    exporter: ExporterProcess,
) -> None:
    body = next(iter(fixture_paths())).read_bytes()
    name = json.loads(body)["podname"]
    head = (
        f"POST /api/v1/agents/{name} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", exporter.port), timeout=5) as conn:
        conn.sendall(head + body[:100])
        time.sleep(0.2)
        started = time.monotonic()
        exporter.process.send_signal(signal.SIGTERM)
        wait_until(lambda: refuses_connections(exporter), 3, "the listener to close")  # no new connections
        conn.sendall(body[100:])
        reply = conn.recv(4096)
    assert reply.startswith(b"HTTP/1.1 200"), reply
    code = exporter.process.wait(timeout=10)  # on its own: a 2nd SIGTERM during exit kills it (-15)
    _, stderr = exporter.stop()
    assert code == 0
    assert time.monotonic() - started < 5
    assert "stopped" in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-check-interval=0", "-nope"], "unknown flag -nope"),
        (["-pods-file=/does/not/exist.yml"], "/does/not/exist.yml: cannot read"),
        (
            ["-total-shards=3", "-pod=netchecker-server-1"],
            "-total-shards=3 needs -etcd-endpoints: on the memory store a replica sees only the reports",
        ),
    ],
)
def test_invalid_configuration_exits_2_with_the_problem_named(args: list[str], message: str) -> None:
    result = run_exporter(*args)
    assert result.returncode == 2
    assert message in result.stderr


def test_help_prints_grouped_flags_and_exits_0() -> None:
    result = run_exporter("-h")
    assert result.returncode == 0
    assert "Store (etcd):" in result.stdout


def test_the_console_script_runs_the_same_program() -> None:
    script = Path(sys.executable).parent / "netchecker-exporter"
    if not script.exists():
        pytest.fail(f"{script} is missing: `make deps` installs the package with its console script")
    result = subprocess.run([str(script), "-h"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: netchecker-exporter [flags]")
