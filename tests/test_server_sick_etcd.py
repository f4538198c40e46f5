"""A real `python exporter.py` on a real etcd that is hung (SIGSTOP), full (NOSPACE) or poisoned:
the health endpoints keep answering, ingest fails fast, store_up tells the truth."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.etcd import EtcdProcess
from tests.support.exporter import ExporterProcess, metric_value
from tests.support.polling import wait_until
from tests.support.sick_etcd import (
    HEALTH_DEADLINE_SECONDS,
    PING_TIMEOUT_SECONDS,
    IngestLoad,
    post,
    report_body,
    slowest_health_answer,
    start_exporter,
)

pytestmark = [pytest.mark.etcd, pytest.mark.process]


def metrics_with(exporter: ExporterProcess, text: str) -> str | None:
    metrics = exporter.get("/metrics").text
    return metrics if text in metrics else None


def store_up(exporter: ExporterProcess) -> float | None:
    return metric_value(exporter.get("/metrics").text, "netchecker_store_up")


@pytest.fixture
def exporter_on(etcd: EtcdProcess) -> Iterator[ExporterProcess]:
    exporter = start_exporter(etcd)
    yield exporter
    exporter.stop()


def test_a_paused_etcd_under_ingest_never_holds_the_health_endpoints(
    etcd: EtcdProcess, exporter_on: ExporterProcess
) -> None:
    exporter = exporter_on
    wait_until(lambda: exporter.get("/readyz").status_code == 200, 10, "/readyz to answer 200")
    # 40 agents, each reporting four times a second: while etcd hangs, every one of them holds a
    # write open until the ping timeout; once the breaker answers 503 at once, a loop as fast as
    # the answers spent more CPU than the rest of the test (and starved the health polls it times).
    load = IngestLoad(exporter, threads=40, every_seconds=0.25)
    etcd.pause()
    try:
        slowest, path = slowest_health_answer(exporter, seconds=2 * PING_TIMEOUT_SECONDS + 2)
        assert exporter.get("/readyz").status_code == 503
        assert store_up(exporter) == 0
    finally:
        etcd.resume()
        results = load.stop()
    assert slowest < HEALTH_DEADLINE_SECONDS, f"{path} took {slowest:.2f} s while etcd was paused"
    refused = [seconds for status, seconds in results if status == 503]
    assert refused, "no report was refused while etcd was paused"
    assert max(refused) <= PING_TIMEOUT_SECONDS + 1, f"a 503 took {max(refused):.2f} s"
    assert {status for status, _ in results} <= {200, 503}
    wait_until(lambda: post(exporter, "netchecker-agent-after")[0] == 200, 15, "ingest to recover")
    wait_until(lambda: store_up(exporter) == 1, 15, "store_up to recover")


def fill_etcd(etcd: EtcdProcess) -> None:
    """Put filler values until etcd raises its NOSPACE alarm."""
    filler = "x" * 8192
    for i in range(10_000):
        try:
            etcd.etcdctl("put", f"/filler/{i}", filler)
        except Exception:  # etcdctl exits 1: "database space exceeded"
            break
    assert "NOSPACE" in etcd.etcdctl("alarm", "list")


def free_etcd(etcd: EtcdProcess) -> None:
    etcd.etcdctl("del", "--prefix", "/filler/")
    status = json.loads(etcd.etcdctl("endpoint", "status", "--write-out=json"))[0]["Status"]
    etcd.etcdctl("compact", str(status["header"]["revision"]))
    etcd.etcdctl("defrag")
    etcd.etcdctl("alarm", "disarm")


def test_a_full_etcd_is_store_down_for_as_long_as_writes_fail_and_recovers_when_disarmed(
    tmp_path: Path,
) -> None:
    etcd = EtcdProcess(tmp_path / "etcd", extra_args=["--quota-backend-bytes=262144"])
    etcd.start()
    # An etcd whose compaction is left to its operator, so the operator disarms (free_etcd): with
    # its own compaction the store recovers by itself once a defragmentation leaves room, which on
    # etcd 3.6 it sometimes did within this test's 3 s, as bbolt's file grows past the quota before
    # the data does (that recovery: tests/test_store_etcd_nospace.py).
    exporter = start_exporter(etcd, "-etcd-compact-interval=0")
    try:
        assert post(exporter, "netchecker-agent-a")[0] == 200
        wait_until(lambda: store_up(exporter) == 1, 10, "store_up 1")
        fill_etcd(etcd)
        wait_until(lambda: store_up(exporter) == 0, 10, "store_up 0 once etcd is full")
        readyz = exporter.get("/readyz")
        assert readyz.status_code == 503 and "NOSPACE" in json.dumps(readyz.json())
        samples = []
        for _ in range(15):  # keeper passes every second: none may call a full etcd up
            status, seconds = post(exporter, "netchecker-agent-a")
            assert status == 503 and seconds <= PING_TIMEOUT_SECONDS + 1
            samples.append(store_up(exporter))
            time.sleep(0.2)
        assert samples == [0] * len(samples)
        free_etcd(etcd)
        wait_until(lambda: post(exporter, "netchecker-agent-a")[0] == 200, 15, "ingest after disarm")
        wait_until(lambda: store_up(exporter) == 1, 10, "store_up 1 after disarm")
    finally:
        _, log = exporter.stop()
        etcd.kill()
    assert log.count("etcd alarm NOSPACE raised") == 1, log


def test_poison_records_already_in_etcd_leave_every_other_agent_rendered(etcd: EtcdProcess) -> None:
    good = json.loads(report_body("netchecker-agent-good"))
    huge = {**good, "podname": "netchecker-agent-huge"}
    huge["network_probes"] = [{**huge["network_probes"][0], "HTTPCode": 10**309}]
    counters = {"netchecker": {"report_count": 1, "missed_keepalives": 0, "last_updated_epoch": time.time()}}
    etcd.etcdctl("put", "/netchecker/agents/netchecker-agent-huge", json.dumps({**huge, **counters}))
    etcd.etcdctl("put", "/netchecker/agents/netchecker-agent-broken", '{"podname": "netchecker-agent-b')
    stray = json.dumps({**good, **counters, "podname": "netchecker-agent-elsewhere"})
    etcd.etcdctl("put", "/netchecker/agents/netchecker-agent-key", stray)
    surrogate = json.dumps({**good, **counters, "podname": "netchecker-agent-s", "nodename": "\ud800"})
    etcd.etcdctl("put", "/netchecker/agents/netchecker-agent-s", surrogate)
    exporter = start_exporter(etcd)
    try:
        assert post(exporter, "netchecker-agent-good")[0] == 200
        assert list(exporter.get("/api/v1/agents/").json()) == ["netchecker-agent-good"]
        text = wait_until(lambda: metrics_with(exporter, "netchecker-agent-good"), 5, "the agent in /metrics")
        assert {f.name for f in text_string_to_metric_families(text)} >= {"netchecker_agent_status"}
        accept = {"Accept": "application/openmetrics-text; version=1.0.0"}
        openmetrics = requests.get(exporter.url + "/metrics", headers=accept, timeout=5)
        assert openmetrics.status_code == 200 and "netchecker-agent-good" in openmetrics.text
    finally:
        _, log = exporter.stop()
    assert "netchecker-agent-elsewhere" in log
