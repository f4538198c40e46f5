"""The embedded store: records, running totals, TTL expiry, thread safety."""

from __future__ import annotations

import threading
from typing import Any

from netchecker_exporter.report import AgentReport, parse_report
from netchecker_exporter.store.memory import MemoryStore
from tests.support.clock import FakeClock


def report_named(template: dict[str, Any], name: str) -> AgentReport:
    return parse_report({**template, "podname": name}, name)


def test_a_stored_report_reads_back_with_counters(clock: FakeClock, hostnet_report: dict[str, Any]) -> None:
    store = MemoryStore(report_ttl_seconds=300, clock=clock)
    report = report_named(hostnet_report, "a")
    store.put_report(report, clock())
    clock.advance(9)  # interval 2 s: two full 4 s windows missed
    record = store.put_report(report, clock())
    assert store.get_record("a") == record
    assert (record.report_count, record.missed_keepalives) == (2, 2)
    assert dict(store.list_records()) == {"a": record}


def test_records_expire_after_the_report_ttl(clock: FakeClock, hostnet_report: dict[str, Any]) -> None:
    store = MemoryStore(report_ttl_seconds=30, clock=clock)
    store.put_report(report_named(hostnet_report, "a"), clock())
    clock.advance(29.9)
    assert store.get_record("a") is not None
    clock.advance(0.1)
    assert store.get_record("a") is None
    assert store.list_records() == {}
    # an expired record does not carry its totals into a new life
    assert store.put_report(report_named(hostnet_report, "a"), clock()).report_count == 1


def test_concurrent_writers_lose_no_report(hostnet_report: dict[str, Any]) -> None:
    store = MemoryStore(report_ttl_seconds=300)
    report = report_named(hostnet_report, "a")

    def write() -> None:
        for _ in range(500):
            store.put_report(report, 1e12)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    record = store.get_record("a")
    assert record is not None
    assert record.report_count == 4000
    assert store.health().up
