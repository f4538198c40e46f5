"""`python exporter.py -etcd-endpoints=...` on a real etcd: restarts keep counters, outages answer 503."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.etcd import EtcdProcess
from tests.support.exporter import ExporterProcess, metric_value
from tests.support.paths import fixture_paths
from tests.support.polling import wait_until

pytestmark = [pytest.mark.etcd, pytest.mark.process]

PING_TIMEOUT_SECONDS = 1.5
REPORT_COUNT = 'ncagent_report_count_total{agent="node-1-host_network"}'


def start_exporter(etcd: EtcdProcess) -> ExporterProcess:
    return ExporterProcess(
        f"-etcd-endpoints={etcd.url}", "-check-interval=0.2", f"-ping-timeout={PING_TIMEOUT_SECONDS}"
    )


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
