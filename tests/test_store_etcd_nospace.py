"""NOSPACE against a real etcd with a tiny --quota-backend-bytes: the store fills it, the alarm is
raised and shown, and once the records expire the store compacts, defragments and disarms by itself,
and ingest comes back with no operator (issue 23: the alarm outlived the flood)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from netchecker_exporter.errors import StoreUnavailableError
from netchecker_exporter.report import AgentReport
from netchecker_exporter.store.etcd import EtcdStore
from netchecker_exporter.store.nospace import NoSpaceRecovery
from tests.support.etcd import EtcdProcess
from tests.support.polling import wait_until
from tests.support.reports import agent_report
from tests.test_store_etcd import etcd_settings

pytestmark = [pytest.mark.etcd]

QUOTA_BYTES = 4 * 1024 * 1024
TTL_SECONDS = 2


@pytest.fixture
def small_etcd(tmp_path: Path) -> Iterator[EtcdProcess]:
    process = EtcdProcess(tmp_path / "etcd", extra_args=[f"--quota-backend-bytes={QUOTA_BYTES}"])
    process.start()
    yield process
    process.kill()


def fat_report(index: int) -> AgentReport:
    """About 170 KB stored: ten interfaces of 64 addresses of 253 bytes."""
    address = ("x" * 250) + f"{index % 1000:03}"
    ips = {f"if{i}": (address,) * 64 for i in range(10)}
    return dataclasses.replace(agent_report(f"netchecker-agent-fat-{index}"), ips=ips)


def alarms(etcd: EtcdProcess) -> str:
    return etcd.etcdctl("alarm", "list")


def fill_until_refused(store: EtcdStore) -> None:
    for index in range(200):
        try:
            store.put_report(fat_report(index), 1.0)
        except StoreUnavailableError:
            return
    raise AssertionError("the quota was never reached")


def recovering_store(etcd: EtcdProcess) -> EtcdStore:
    return EtcdStore(
        etcd_settings(etcd.url),
        report_ttl_seconds=TTL_SECONDS,
        registry=CollectorRegistry(),
        nospace=NoSpaceRecovery(retry_seconds=1.0),
    )


def assert_recovers(store: EtcdStore, etcd: EtcdProcess) -> None:
    """The keeper compacts, defragments and disarms; then the breaker closes on its probe write."""
    wait_until(lambda: "NOSPACE" not in alarms(etcd), 30, "the store to disarm NOSPACE")
    wait_until(lambda: store.health().up, 15, f"the store to be up again ({store.health()})")
    assert store.put_report(agent_report("netchecker-agent-after"), 2.0).report_count == 1
    status = json.loads(etcd.etcdctl("endpoint", "status", "-w", "json"))[0]["Status"]
    assert status["dbSize"] < 0.8 * QUOTA_BYTES


def test_a_nospace_alarm_is_recovered_from_by_the_store_once_records_expire(small_etcd: EtcdProcess) -> None:
    store = recovering_store(small_etcd)
    try:
        fill_until_refused(store)
        wait_until(lambda: "NOSPACE" in alarms(small_etcd), 10, "etcd to raise NOSPACE")
        wait_until(lambda: "NOSPACE" in store.health().detail, 10, "the store to show the alarm")
        # The records' leases run out (TTL plus the lease pool's rounding) while the store watches.
        assert_recovers(store, small_etcd)
    finally:
        store.close()


def test_a_store_that_finds_etcd_full_of_expired_records_recovers_it(small_etcd: EtcdProcess) -> None:
    """Every record and lease is gone before the keeper compacts, so the compaction is etcd's last
    commit and its dbSizeInUse still counts the pages it freed (etcd measures at the start of the
    next write transaction, before bbolt releases them): only a defragmentation can tell. On
    etcd 3.4 this stayed at NOSPACE for good when the keeper trusted that figure."""
    filler = EtcdStore(
        dataclasses.replace(etcd_settings(small_etcd.url), compact_interval_seconds=0),
        report_ttl_seconds=TTL_SECONDS,
        registry=CollectorRegistry(),
    )
    try:
        fill_until_refused(filler)
    finally:
        filler.close()
    wait_until(lambda: "NOSPACE" in alarms(small_etcd), 10, "etcd to raise NOSPACE")
    wait_until(
        lambda: (
            not small_etcd.etcdctl("get", "", "--from-key", "--keys-only").split()
            and "found 0 leases" in small_etcd.etcdctl("lease", "list")
        ),
        30,
        "every record and lease to expire",
    )
    store = recovering_store(small_etcd)
    try:
        assert_recovers(store, small_etcd)
    finally:
        store.close()
