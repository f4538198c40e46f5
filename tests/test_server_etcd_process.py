"""`python exporter.py -etcd-endpoints=...` on a real etcd: restarts keep counters, outages answer 503."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from tests.support.etcd import EtcdProcess
from tests.support.exporter import ExporterProcess, metric_value
from tests.support.paths import fixture_paths
from tests.support.polling import wait_until

pytestmark = [pytest.mark.etcd, pytest.mark.process]

PING_TIMEOUT_SECONDS = 1.5
REPORT_COUNT = 'ncagent_report_count_total{agent="node-1-host_network"}'


def start_exporter(etcd: EtcdProcess, *args: str) -> ExporterProcess:
    """Started and ready: /healthz answers before the store has reached etcd, and a POST in between
    is a correct 503 (it failed the outage test on a loaded machine)."""
    exporter = ExporterProcess(
        f"-etcd-endpoints={etcd.url}", "-check-interval=0.2", f"-ping-timeout={PING_TIMEOUT_SECONDS}", *args
    )
    try:
        wait_until(lambda: exporter.get("/readyz").status_code == 200, 20, "/readyz to answer 200")
    except BaseException:
        exporter.stop()
        raise
    return exporter


def hostnet_fixture() -> Path:
    return next(p for p in fixture_paths() if "hostnet" in p.name)


def reported_count(exporter: ExporterProcess) -> float | None:
    return metric_value(exporter.get("/metrics").text, REPORT_COUNT)


def test_counters_continue_after_the_server_restarts(etcd: EtcdProcess) -> None:
    exporter = start_exporter(etcd)
    try:
        for _ in range(2):
            assert exporter.post_fixture(hostnet_fixture()).status_code == 200
        wait_until(lambda: reported_count(exporter) == 2, 5, "the count of 2 in /metrics")
    finally:
        exporter.stop()
    exporter = start_exporter(etcd)
    try:
        assert exporter.get("/api/v1/agents/netchecker-agent-hostnet-x7k2p").status_code == 200
        assert exporter.post_fixture(hostnet_fixture()).status_code == 200
        wait_until(lambda: reported_count(exporter) == 3, 5, "the count of 3 in /metrics")
    finally:
        exporter.stop()


def test_etcd_outage_answers_503_in_time_keeps_reads_and_recovers(etcd: EtcdProcess) -> None:
    exporter = start_exporter(etcd)
    try:
        assert exporter.post_fixture(hostnet_fixture()).status_code == 200
        wait_until(lambda: exporter.get("/readyz").status_code == 200, 5, "/readyz to answer 200")
        etcd.kill()
        started = time.monotonic()
        response = exporter.post_fixture(hostnet_fixture())
        assert time.monotonic() - started <= PING_TIMEOUT_SECONDS + 1
        assert response.status_code == 503
        assert response.headers["Content-Type"].startswith("application/json")
        assert "error" in response.json()
        wait_until(lambda: exporter.get("/readyz").status_code == 503, 5, "/readyz to answer 503")
        assert list(exporter.get("/api/v1/agents/").json()) == ["netchecker-agent-hostnet-x7k2p"]
        etcd.start()
        wait_until(
            lambda: exporter.post_fixture(hostnet_fixture()).status_code == 200, 10, "a POST to succeed again"
        )
        wait_until(lambda: exporter.get("/readyz").status_code == 200, 10, "/readyz to recover")
        wait_until(lambda: reported_count(exporter) == 2, 5, "the count of 2 in /metrics")
    finally:
        exporter.stop()


def test_a_report_too_large_for_etcd_is_413_for_it_alone_and_the_store_stays_up(etcd: EtcdProcess) -> None:
    """Issue 23: an emoji report grew threefold for etcd, was retried to the deadline and tripped the
    breaker (503 for every agent for 5 s). Now it is stored compactly, its emoji `ips` are cut to
    the field bound derived from the record bound (18,651 bytes at -max-agents=20000) and stored;
    one that still cannot fit the record bound (53,687 bytes each), which takes hostile probes, is
    refused at once, and only it."""
    exporter = start_exporter(etcd, "-max-agents=20000")
    payload = json.loads(hostnet_fixture().read_bytes())
    emoji_ips = {f"if{i}": ["\U0001f600" * 63] * 64 for i in range(4)}
    kept = {**payload, "podname": "netchecker-agent-emoji", "ips": emoji_ips}
    probes = [
        {**payload["network_probes"][0], "URL": f"http://{i}.example/" + "\U0001f600" * 490}
        for i in range(32)
    ]
    huge = {**payload, "podname": "netchecker-agent-huge", "ips": emoji_ips, "network_probes": probes}
    headers = {"Content-Type": "application/json; charset=utf-8"}
    try:
        url = f"{exporter.url}/api/v1/agents/netchecker-agent-emoji"
        stored = requests.post(
            url, data=json.dumps(kept, ensure_ascii=False).encode(), headers=headers, timeout=10
        )
        assert stored.status_code == 200, stored.text
        assert exporter.get("/api/v1/agents/netchecker-agent-emoji").json()["truncated"] == ["ips"]
        for _ in range(3):
            started = time.monotonic()
            url = f"{exporter.url}/api/v1/agents/netchecker-agent-huge"
            refused = requests.post(
                url, data=json.dumps(huge, ensure_ascii=False).encode(), headers=headers, timeout=10
            )
            assert time.monotonic() - started < PING_TIMEOUT_SECONDS
            assert refused.status_code == 413
            assert "53687 bytes one agent may store in etcd" in refused.json()["error"]
            assert exporter.post_fixture(hostnet_fixture()).status_code == 200
        text = exporter.get("/metrics").text
        assert metric_value(text, "netchecker_store_up") == 1
        assert metric_value(text, 'netchecker_reports_refused_total{reason="too_large"}') == 3
        assert exporter.get("/api/v1/agents/netchecker-agent-huge").status_code == 404
    finally:
        exporter.stop()


def node_history(exporter: ExporterProcess) -> dict[str, object]:
    answer = exporter.get("/api/v1/diagnosis/history?node=node-1")
    return dict(answer.json()) if answer.status_code == 200 else {}


def verdict_moves(exporter: ExporterProcess) -> list[tuple[str, str]]:
    return [(t["from"], t["to"]) for t in node_history(exporter).get("transitions", [])]  # type: ignore[attr-defined]


def test_the_diagnosis_history_survives_the_server_restarting(etcd: EtcdProcess) -> None:
    """The fixture agent reports every 2 s: silent for over 4 s it is outdated, its node unreachable.
    (Its hostdate is the day it was captured: reporting, its node shows clock_skew.)"""
    went_and_came_back = [("clock_skew", "node_unreachable"), ("node_unreachable", "clock_skew")]
    exporter = start_exporter(etcd)
    try:
        assert exporter.post_fixture(hostnet_fixture()).status_code == 200
        wait_until(lambda: node_history(exporter).get("verdict") == "clock_skew", 5, "node-1 judged")
        wait_until(lambda: verdict_moves(exporter) == went_and_came_back[:1], 10, "node-1 unreachable")
        assert exporter.post_fixture(hostnet_fixture()).status_code == 200
        wait_until(lambda: verdict_moves(exporter) == went_and_came_back, 5, "node-1 reporting again")
    finally:
        code, _ = exporter.stop()  # SIGTERM writes what the flush interval had not written yet
    assert code == 0
    exporter = start_exporter(etcd)
    try:
        wait_until(lambda: verdict_moves(exporter)[:2] == went_and_came_back, 15, "the history restored")
        restored = node_history(exporter)
        assert restored["changes_total"] == len(restored["transitions"])  # type: ignore[arg-type]
        changes = metric_value(
            exporter.get("/metrics").text, 'netchecker_node_verdict_changes_total{node="node-1"}'
        )
        assert changes is not None and changes >= 2
    finally:
        exporter.stop()
