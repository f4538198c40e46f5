"""The benchmark harness's logic: agent-shaped payloads, percentiles, parsing of tool output."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bench import fleet
from bench.payload import agent_identity, load_fixtures, render_report, report_template, request_bytes
from bench.stats import (
    count_samples,
    cpu_seconds,
    parse_wrk_output,
    percentile,
    rss_bytes,
    sample_value,
    summarize,
)
from bench.table import markdown_table
from netchecker_exporter.report import parse_report, validate_pod_name
from tests.support.paths import FIXTURES, REPO

NOW = 1_800_000_000.5


def test_agents_come_two_per_node_one_of_each_kind() -> None:
    pod, hostnet = agent_identity(6), agent_identity(7)
    assert (pod.pod, pod.node, pod.hostnet) == ("netchecker-agent-n00003", "node-n00003", False)
    assert (hostnet.pod, hostnet.node, hostnet.hostnet) == (
        "netchecker-agent-hostnet-n00003",
        "node-n00003",
        True,
    )
    names = {agent_identity(i).pod for i in range(10_000)}
    assert len(names) == 10_000
    assert all(validate_pod_name(name) for name in names)


def test_a_rendered_report_is_the_fixture_with_new_names_and_the_same_size() -> None:
    fixtures = load_fixtures()
    identity = agent_identity(41)
    body = render_report(fixtures[True], identity, now=NOW, report_interval=10)
    fixture_size = (FIXTURES / "agent-report-hostnet.json").stat().st_size
    assert abs(len(body) - fixture_size) < 40  # only the names and the date differ
    report = parse_report(json.loads(body), identity.pod)
    assert (report.nodename, report.report_interval) == (identity.node, 10)
    assert report.hostdate == "2027-01-15T08:00:00.500000000Z"
    assert len(json.loads(body)["zero_extender"]) == 1500


def test_failing_urls_turn_those_probes_into_failed_connections() -> None:
    fixture = load_fixtures()[True]
    url = fixture["network_probes"][0]["URL"]
    body = render_report(fixture, agent_identity(1), now=NOW, failing_urls=frozenset({url}))
    probes = parse_report(json.loads(body), agent_identity(1).pod).network_probes
    assert [(p.connection_result, p.http_code) for p in probes] == [(0, 0), (1, 200)]


def test_the_template_marks_where_the_names_go() -> None:
    template = report_template(load_fixtures()[False], now=NOW)
    assert template.count("@POD@") == 1 and template.count("@NODE@") == 1
    identity = agent_identity(0)
    filled = template.replace("@POD@", identity.pod).replace("@NODE@", identity.node)
    assert parse_report(json.loads(filled), identity.pod).podname == identity.pod


def test_requests_are_sent_as_the_go_agent_sends_them() -> None:
    request = request_bytes("127.0.0.1", 8081, "netchecker-agent-n00001", b"{}")
    head, body = request.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /api/v1/agents/netchecker-agent-n00001 HTTP/1.1"
    assert {"Connection: close", "Content-Type: application/json", "Content-Length: 2"} <= set(lines)
    assert body == b"{}"


@pytest.mark.parametrize(("fraction", "expected"), [(0.5, 50), (0.9, 90), (0.99, 99), (1.0, 100), (0.001, 1)])
def test_percentile_is_nearest_rank(fraction: float, expected: float) -> None:
    values = list(range(100, 0, -1))  # unsorted on purpose
    assert percentile(values, fraction) == expected


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match="fraction"):
        percentile([1.0], 0)


def test_summary_of_one_slow_request_among_many() -> None:
    summary = summarize([0.001] * 990 + [0.5] * 10)
    assert (summary.count, summary.p50, summary.p99, summary.max) == (1000, 0.001, 0.001, 0.5)
    summary = summarize([0.001] * 989 + [0.5] * 11)
    assert summary.p99 == 0.5


WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8081
  1 threads and 16 connections
Requests/sec:   3421.08
WRK_RESULT {"duration_us": 10000000, "requests": 30000, "bytes": 1, "errors": {"connect": 1, "read": 2, \
"write": 0, "status": 27, "timeout": 0}, "latency_us": {"p50": 2148, "p90": 2718, "p99": 36271, \
"max": 76034, "mean": 3029.9}}
"""


def test_wrk_output_is_parsed_from_the_scripts_summary_line() -> None:
    result = parse_wrk_output(WRK_OUTPUT)
    assert (result.requests, result.non_2xx, result.socket_errors) == (30000, 27, 3)
    assert result.rate == 3000
    assert result.p50 == pytest.approx(0.002148)
    assert result.p99 == pytest.approx(0.036271)
    assert result.error_fraction == pytest.approx(30 / 30003)


def test_wrk_output_without_the_summary_is_an_error() -> None:
    with pytest.raises(ValueError, match="WRK_RESULT"):
        parse_wrk_output("Requests/sec: 1\n")


EXPOSITION = """# HELP netchecker_reconcile_duration_seconds Duration.
# TYPE netchecker_reconcile_duration_seconds gauge
netchecker_reconcile_duration_seconds 0.0649
netchecker_agents_expected 10000.0
ncagent_report_count_total{agent="node-1-host_network"} 3.0
"""


def test_samples_are_read_from_the_exposition() -> None:
    assert sample_value(EXPOSITION, "netchecker_reconcile_duration_seconds") == 0.0649
    assert sample_value(EXPOSITION, 'ncagent_report_count_total{agent="node-1-host_network"}') == 3
    assert sample_value(EXPOSITION, "netchecker_agents") is None
    assert count_samples(EXPOSITION) == 3


def test_proc_figures() -> None:
    assert rss_bytes("Name:\tpython\nVmRSS:\t  204800 kB\nVmSwap:\t0 kB\n") == 200 * 1024 * 1024
    stat = "4242 (python3 (x) y) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 9"
    assert cpu_seconds(stat, 100) == 3.0


def test_response_status_is_parsed_or_zero() -> None:
    assert fleet.parse_status(b"HTTP/1.1 200 OK\r\n\r\n") == 200
    assert fleet.parse_status(b"HTTP/1.0 503 Service Unavailable\r\n") == 503
    assert fleet.parse_status(b"") == 0
    assert fleet.parse_status(b"garbage here") == 0


def test_the_fleet_spreads_reports_evenly_over_each_interval() -> None:
    offsets = fleet.due_offsets(agents=4, interval_seconds=2.0, reports=8)
    assert offsets == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]


class RecordingHandler(BaseHTTPRequestHandler):
    """Answers 200 and keeps (path, headers, body) of every request."""

    seen: list[tuple[str, dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def recorder() -> Iterator[tuple[int, list[tuple[str, dict[str, str], bytes]]]]:
    seen: list[tuple[str, dict[str, str], bytes]] = []
    handler = type("Handler", (RecordingHandler,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def _assert_agent_shaped(seen: list[tuple[str, dict[str, str], bytes]]) -> None:
    assert seen
    for path, headers, body in seen:
        pod = path.rsplit("/", 1)[1]
        assert headers["Connection"] == "close"
        assert headers["Content-Type"] == "application/json"
        report = parse_report(json.loads(body), pod)
        assert report.nodename == "node-" + pod.rsplit("-", 1)[1]


def test_the_paced_fleet_sends_every_planned_report(
    recorder: tuple[int, list[tuple[str, dict[str, str], bytes]]],
) -> None:
    port, seen = recorder
    plan = fleet.FleetPlan(port=port, agents=6, interval_seconds=1.0, duration_seconds=1.0)
    requests = fleet.agent_requests("127.0.0.1", port, plan.agents, now=NOW)
    result = asyncio.run(fleet.run_fleet(plan, requests.__getitem__))
    assert result.summary()["statuses"] == {"200": 6}
    assert sorted(path for path, _, _ in seen) == sorted(
        f"/api/v1/agents/{agent_identity(i).pod}" for i in range(6)
    )
    _assert_agent_shaped(seen)


def test_the_wrk_script_sends_distinct_agents_as_the_go_agent_does(
    recorder: tuple[int, list[tuple[str, dict[str, str], bytes]]], tmp_path: Path
) -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed: `make test` installs Debian's wrk package")
    port, seen = recorder
    fixtures = load_fixtures()
    (tmp_path / "podnet.json").write_text(report_template(fixtures[False], now=NOW))
    (tmp_path / "hostnet.json").write_text(report_template(fixtures[True], now=NOW))
    command = ["wrk", "-t2", "-c2", "-d1s", "-s", str(REPO / "bench" / "wrk_agents.lua"),
               f"http://127.0.0.1:{port}", "--", str(tmp_path), "4", "2"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    assert parse_wrk_output(done.stdout).requests > 0
    paths = {path for path, _, _ in seen}
    assert paths == {f"/api/v1/agents/{agent_identity(i).pod}" for i in range(4)}
    _assert_agent_shaped(seen)


def _wrk_run(rate: float) -> dict[str, Any]:
    return {"rate": rate, "p50": 0.002, "p99": 0.01, "error_fraction": 0.0, "server_cpu_fraction": 0.9}


def test_the_results_table_shows_medians_ranges_and_ratios() -> None:
    latency = {"p50": 0.001, "p99": 0.02}
    fleet_run = {"rate_per_second": 1000.0, "latency_seconds": latency, "error_fraction": 0.0,
                 "server_cpu_fraction": 0.3, "generator_lag_seconds": {"p99": 0.002},
                 "client_cpu_fraction": 0.25}  # fmt: skip
    stored = {"scrape_seconds": {"p50": 0.03, "max": 0.04}, "scrape_bytes": 2 * 1024 * 1024,
              "scrape_samples": 420_029, "prometheus_scrape_seconds": {"p50": 0.004, "max": 0.07},
              "prometheus_scrape_bytes": 1024 * 1024, "reconcile_seconds": {"p50": 0.04, "max": 0.05},
              "server_rss_bytes": 150 * 1024 * 1024, "agents": 10_000}  # fmt: skip
    results = {
        "fronts": {
            "ours/noop": [_wrk_run(8000), _wrk_run(9000), _wrk_run(10000)],
            "granian-wsgi/noop": [_wrk_run(18000)],
            "waitress/noop": {"error": "RuntimeError: it broke"},
        },
        "memory": {"max_ingest": [_wrk_run(4500)], "steady_fleet": [fleet_run], "stored_10k": stored},
        "ceiling_etcd": [{"rate_per_second": 7000.0, "latency_seconds": latency, "errors": 0}],
        "kube": [{"seconds_from_first_request": 1.0, "seconds_from_start": 1.7, "requests_to_sync": 11,
                  "quiet_requests_per_minute": 0.0, "quiet_seconds": 120, "reconcile_seconds": 0.004,
                  "server_rss_bytes": 100 * 1024 * 1024}],
    }  # fmt: skip
    table = markdown_table(results)
    assert (
        "| ours: granian embedded, RSGI + WSGI bridge (shipped) | 9,000/s (8,000/s-10,000/s) | 2.0 ms |"
        in table
    )
    assert "| waitress 3, 32 threads | failed: RuntimeError: it broke |" in table
    assert "| x our no-op | x fastest no-op (granian-wsgi) |" in table
    # CPU per report: 0.9 / 4,500 = 200 us; the ceilings' 0.9 / 9,000 = 100 us and 0.9 / 18,000 = 50 us.
    assert (
        "| memory store | 4,500/s | 2.0 ms | 10.0 ms | 0.00% | 90.00% | 200 us | 0.50 (0.50) | 0.25 (0.25) |"
        in table
    )
    assert "| memory | 1,000/s | 1.0 ms | 20.0 ms | 0.00% | 30.00% | 2.0 ms | 25.00% |" in table
    assert (
        "| memory, 10,000 agents | 30.0 ms (max 40.0 ms) | 2.0 MiB, 420,029 samples "
        "| 4.0 ms (max 70.0 ms) | 1.0 MiB " in table
    )
    assert (
        "| kubernetes pod source | 1000.0 ms | 1700.0 ms | 11 | 0.00 over 120 s | 4.0 ms | 100 MiB |" in table
    )
    assert "etcd store" not in table


def test_the_builtin_reports_are_the_captured_ones_for_clones_without_them(tmp_path: Path) -> None:
    assert load_fixtures(tmp_path) == load_fixtures()  # tmp_path holds no fixtures


def test_a_failed_scenario_shows_its_error_and_the_other_figures_stay() -> None:
    probe = {"requests": 300, "failed": 0, "latency_seconds": {"p50": 0.004, "p99": 0.3, "max": 0.6},
             "first_second_max_seconds": 0.5}  # fmt: skip
    results = {
        "fronts": {"ours/noop": [_wrk_run(9000)]},
        "memory": {"max_ingest": [_wrk_run(4500)], "steady_fleet": {"error": "TimeoutError: late"},
                   "stored_10k": {"error": "RuntimeError: no reconcile pass"}},
        "etcd": {"error": "RuntimeError: etcd did not answer"},
        "slow_clients": {"post": probe, "healthz": probe, "metrics": probe},
    }  # fmt: skip
    table = markdown_table(results)
    assert "| memory store | 4,500/s |" in table
    assert "| memory | failed: TimeoutError: late |" in table
    assert "| memory | failed: RuntimeError: no reconcile pass |" in table
    assert "| etcd store | failed: RuntimeError: etcd did not answer |" in table
    assert "| agent POSTs | 300 | 0 | 4.0 ms | 300.0 ms | 600.0 ms | 500.0 ms |" in table


def test_a_steady_fleet_left_out_by_fleet_repeat_0_reads_not_run() -> None:
    results = {"memory": {"max_ingest": [_wrk_run(4500)], "steady_fleet": [], "stored_10k": {"error": "x"}}}
    table = markdown_table(results)
    assert "| memory | not run | | | | | | |" in table
    assert "| memory store | 4,500/s |" in table
