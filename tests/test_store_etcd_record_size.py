"""Stored records in a real etcd: compact UTF-8, old escaped records still read, and a record too
large for etcd is that report's 413 alone: never sent, no retries, no breaker, others still stored."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from netchecker_exporter.report import AgentRecord, AgentReport, record_to_stored_json
from netchecker_exporter.store.capacity import AgentCapacity
from netchecker_exporter.store.record_size import (
    MAX_REQUEST_VALUE_BYTES,
    StoredRecordTooLargeError,
    max_stored_record_bytes,
)
from tests.support.etcd import EtcdProcess
from tests.support.reports import agent_report
from tests.test_store_etcd import (
    PING_TIMEOUT_SECONDS,
    StoreFactory,
    etcd_settings,
    make_store,
    tree,
    tree_store,
    wait_healthy,
)

__all__ = ["make_store", "tree", "tree_store"]  # the fixtures, shared with the etcd store suite
pytestmark = [pytest.mark.etcd]

EMOJI_ITEM = "\U0001f600" * 63
"""252 bytes in UTF-8, the most one list item may hold; 756 bytes as json's ASCII escapes."""
MAX_AGENTS = 20_000
"""A cap that makes the bound 53,687 bytes: a few interfaces of emoji reach it."""


def emoji_report(podname: str, interfaces: int) -> AgentReport:
    report = agent_report(podname)
    ips = {f"if{i}": (EMOJI_ITEM,) * 64 for i in range(interfaces)}
    return dataclasses.replace(report, ips=ips)


def test_the_bound_is_half_the_default_quota_shared_among_the_agents_at_most_a_request() -> None:
    assert max_stored_record_bytes(12_000) == 89_478
    assert max_stored_record_bytes(12_000) * 12_000 <= 1024**3
    assert max_stored_record_bytes(100) == MAX_REQUEST_VALUE_BYTES < 1_572_864
    assert max_stored_record_bytes(None) == MAX_REQUEST_VALUE_BYTES


def test_records_are_stored_as_compact_utf8_and_escaped_ones_still_read(
    shared_etcd: EtcdProcess, tree_store: StoreFactory, tree: str
) -> None:
    store = tree_store()
    report = emoji_report("netchecker-agent-emoji", interfaces=1)
    store.put_report(report, 1_800_000_000.5)
    value = shared_etcd.etcdctl("get", f"/{tree}/agents/netchecker-agent-emoji", "--print-value-only")
    assert EMOJI_ITEM in value and "\\ud83d" not in value
    assert len(value.encode()) < 64 * 252 + 4096
    old = AgentRecord(
        agent_report("netchecker-agent-old"), 1_800_000_000.0, report_count=7, missed_keepalives=0
    )
    escaped = json.dumps(record_to_stored_json(dataclasses.replace(old, report=dataclasses.replace(
        old.report, nodename="n\u00f6de"))))  # fmt: skip
    shared_etcd.etcdctl("put", f"/{tree}/agents/netchecker-agent-old", escaped)
    reader = tree_store()
    loaded = reader.get_record("netchecker-agent-old")
    assert loaded is not None and loaded.report.nodename == "n\u00f6de" and loaded.report_count == 7


def test_a_record_too_large_for_etcd_is_refused_alone_and_the_others_are_stored(
    shared_etcd: EtcdProcess, tree_store: StoreFactory, tree: str
) -> None:
    store = tree_store(capacity=AgentCapacity(max_agents=MAX_AGENTS))
    assert store.max_record_bytes == 53_687
    wait_healthy(store)
    start = threading.Barrier(9)

    def put(index: int) -> object:
        start.wait()
        if index == 0:
            with pytest.raises(StoredRecordTooLargeError, match="53687 bytes one agent may store"):
                store.put_report(emoji_report("netchecker-agent-huge", interfaces=4), 1.0)
            return None
        return store.put_report(agent_report(f"netchecker-agent-ok-{index}"), 1.0)

    with ThreadPoolExecutor(9) as pool:
        results = list(pool.map(put, range(9)))
    assert all(result is not None for result in results[1:])
    assert store.health().up
    assert store.get_record("netchecker-agent-huge") is None
    assert "netchecker-agent-huge" not in shared_etcd.etcdctl("get", "--prefix", f"/{tree}/", "--keys-only")
    assert store.put_report(agent_report("netchecker-agent-after"), 2.0).report_count == 1  # no breaker
    assert len(store.list_records()) == 9


@pytest.fixture
def strict_etcd(tmp_path: Path) -> Iterator[EtcdProcess]:
    """An etcd that takes requests of at most 16 KiB (its default is 1.5 MiB)."""
    process = EtcdProcess(tmp_path / "etcd", extra_args=["--max-request-bytes=16384"])
    process.start()
    yield process
    process.kill()


def ascii_report(podname: str, interfaces: int) -> AgentReport:
    """About 16 KB stored per interface: 64 addresses of 253 bytes."""
    return dataclasses.replace(
        agent_report(podname), ips={f"if{i}": ("x" * 253,) * 64 for i in range(interfaces)}
    )


@pytest.mark.parametrize(
    ("interfaces", "refusal"),
    [(2, "etcd's own 'request is too large'"), (40, "gRPC's 'larger than max' in front of etcd")],
)
def test_a_record_over_etcds_configured_request_limit_is_413_at_once_and_trips_nothing(
    strict_etcd: EtcdProcess, make_store: StoreFactory, interfaces: int, refusal: str
) -> None:
    store = make_store(etcd_settings(strict_etcd.url))
    wait_healthy(store)
    start = threading.Barrier(5)

    def put(index: int) -> object:
        start.wait()
        if index == 0:
            started = time.monotonic()
            with pytest.raises(StoredRecordTooLargeError, match="more than etcd accepts in one request"):
                store.put_report(ascii_report("netchecker-agent-fat", interfaces), 1.0)
            return time.monotonic() - started
        return store.put_report(agent_report(f"netchecker-agent-ok-{index}"), 1.0)

    with ThreadPoolExecutor(5) as pool:
        elapsed, *stored = list(pool.map(put, range(5)))
    assert isinstance(elapsed, float) and elapsed < PING_TIMEOUT_SECONDS, (
        refusal
    )  # not retried to the deadline
    assert all(isinstance(record, AgentRecord) for record in stored)
    assert store.health().up
    assert store.put_report(agent_report("netchecker-agent-after"), 2.0).report_count == 1
