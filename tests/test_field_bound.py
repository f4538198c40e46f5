"""The field bound and etcd's record bound agree by construction: on etcd a real agent's record,
even the busy node's, fits what one of -max-agents may store, so it is never refused (413)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from netchecker_exporter.assemble import stored_field_bytes
from netchecker_exporter.report import AgentRecord, parse_report
from netchecker_exporter.settings import load_settings
from netchecker_exporter.store.etcd_plan import encode_stored
from netchecker_exporter.store.field_bound import (
    MIN_FIELD_BYTES,
    OTHER_FIELDS_ALLOWANCE_BYTES,
    field_bytes_within_record,
)
from netchecker_exporter.store.record_size import max_stored_record_bytes
from netchecker_exporter.stored_fields import DEFAULT_MAX_STORED_FIELD_BYTES, MAX_STORED_FIELD_BYTES_LIMIT
from tests.support.busy_node import busy_node_report
from tests.support.paths import fixture_paths

ETCD = "-etcd-endpoints=http://127.0.0.1:2379"


def stored_bytes(payload: dict[str, object], field_bytes: int) -> int:
    report = parse_report(payload, str(payload["podname"]), max_field_bytes=field_bytes)
    return len(
        encode_stored(AgentRecord(report, 1_800_000_000.0, report_count=2**40, missed_keepalives=2**40))
    )


def test_at_the_default_agent_cap_the_default_field_bound_stands() -> None:
    assert max_stored_record_bytes(12_000) == 89_478
    assert field_bytes_within_record(DEFAULT_MAX_STORED_FIELD_BYTES, 89_478) == 32 * 1024
    assert 2 * 32 * 1024 + OTHER_FIELDS_ALLOWANCE_BYTES <= 89_478


@pytest.mark.parametrize(
    ("max_agents", "share"),
    [(100, 691_808), (12_000, 36_547), (20_000, 18_651), (40_000, 5_229), (43_690, 4_096), (200_000, 4_096)],
)
def test_more_agents_leave_each_field_less_down_to_the_floor(max_agents: int, share: int) -> None:
    record = max_stored_record_bytes(max_agents)
    assert field_bytes_within_record(10**9, record) == share
    assert field_bytes_within_record(MAX_STORED_FIELD_BYTES_LIMIT, record) == min(
        share, MAX_STORED_FIELD_BYTES_LIMIT
    )
    assert field_bytes_within_record(DEFAULT_MAX_STORED_FIELD_BYTES, record) == min(share, 32 * 1024)
    assert share == MIN_FIELD_BYTES or 2 * share + OTHER_FIELDS_ALLOWANCE_BYTES <= record


def test_the_flag_stays_the_upper_bound() -> None:
    assert field_bytes_within_record(1000, max_stored_record_bytes(12_000)) == 1000
    assert field_bytes_within_record(1000, max_stored_record_bytes(10**6)) == 1000


def test_the_rest_of_a_captured_agents_record_fits_the_allowance_many_times_over() -> None:
    for path in fixture_paths():
        payload = json.loads(path.read_text())
        rest = {**payload, "ips": {}, "nslookup": {}}
        assert stored_bytes(rest, DEFAULT_MAX_STORED_FIELD_BYTES) * 16 < OTHER_FIELDS_ALLOWANCE_BYTES


def many_probes(payload: dict[str, Any], url_bytes: int) -> list[dict[str, Any]]:
    probe = payload["network_probes"][0]
    return [{**probe, "URL": f"http://{i:02}.example/" + "u" * (url_bytes - 18)} for i in range(32)]


def test_the_allowance_holds_32_probes_of_350_byte_urls_and_the_busy_node_fits_with_them() -> None:
    busy = busy_node_report()
    probes = many_probes(busy, 350)
    assert stored_bytes({**busy, "ips": {}, "nslookup": {}, "network_probes": probes}, 1) <= (
        OTHER_FIELDS_ALLOWANCE_BYTES
    )
    field_bytes = field_bytes_within_record(MAX_STORED_FIELD_BYTES_LIMIT, max_stored_record_bytes(12_000))
    fat_nslookup = {f"svc-{i}.example": ["10.233.0.1"] for i in range(20_000)}
    fat = {**busy, "nslookup": fat_nslookup, "network_probes": probes}
    assert stored_bytes(fat, field_bytes) <= max_stored_record_bytes(12_000)


@pytest.mark.parametrize("max_agents", [1, 100, 1_000, 12_000, 20_000, 30_000, 43_690])
@pytest.mark.parametrize("dual_stack", [False, True])
def test_the_busy_nodes_record_fits_the_store_whatever_the_agent_cap(
    max_agents: int, dual_stack: bool
) -> None:
    record = max_stored_record_bytes(max_agents)
    field_bytes = field_bytes_within_record(MAX_STORED_FIELD_BYTES_LIMIT, record)
    busy = busy_node_report(dual_stack=dual_stack)
    # nslookup as large as ips: the worst a real agent's two fields can be once kept
    busy["nslookup"] = {f"svc-{i}.example": ["10.233.0.1"] for i in range(20_000)}
    assert stored_bytes(busy, field_bytes) <= record


def test_cli_uses_the_flag_on_memory_and_the_derived_bound_on_etcd() -> None:
    def load(*argv: str) -> int:
        return stored_field_bytes(load_settings(list(argv), {}, lambda _path: ""))

    assert load() == DEFAULT_MAX_STORED_FIELD_BYTES
    assert load("-max-stored-field-bytes=600000") == 600_000
    assert load(ETCD) == 32 * 1024
    assert load(ETCD, "-max-stored-field-bytes=600000") == 36_547
    assert load(ETCD, "-max-agents=20000") == 18_651
    assert load(ETCD, "-max-agents=20000", "-max-stored-field-bytes=9000") == 9000


def test_a_record_over_the_bound_takes_hostile_probes() -> None:
    busy = busy_node_report()
    field_bytes = field_bytes_within_record(MAX_STORED_FIELD_BYTES_LIMIT, max_stored_record_bytes(12_000))
    probes = many_probes(busy, 2048)
    assert stored_bytes({**busy, "network_probes": probes}, field_bytes) > max_stored_record_bytes(12_000)
