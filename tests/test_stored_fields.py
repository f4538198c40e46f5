"""What a record keeps of `ips` and `nslookup`: everything up to -max-stored-field-bytes of compact
JSON, beyond it the longest prefix that fits, marked truncated; bad entries refused wherever they are."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netchecker_exporter.errors import InvalidReportError
from netchecker_exporter.report import (
    AgentRecord,
    parse_report,
    record_from_stored_json,
    record_to_json,
    record_to_stored_json,
)
from netchecker_exporter.stored_fields import (
    BoundedStringLists,
    json_string_bytes,
    keep_within,
    read_bounded_string_lists,
)
from tests.support.busy_node import busy_node_report

ORIGINAL_RECORD_KEYS = {"report_interval", "nodename", "podname", "hostdate", "last_updated", "uptime",
                        "nslookup", "ips", "network_probes"}  # fmt: skip
strings = st.one_of(st.text(max_size=12), st.sampled_from(['q"uo\\te', "\x00\x1f\x7f", "ü€𝄞", "fe80::1/64"]))
entries = st.lists(
    st.tuples(strings, st.lists(strings, max_size=6).map(tuple)), max_size=8, unique_by=lambda e: e[0]
)


def compact(value: Any) -> int:
    """Bytes of `value` as the stores write it."""
    return len(json.dumps(value, separators=(",", ":")))


def one_step_more(
    entries: list[tuple[str, tuple[str, ...]]], kept: dict[str, tuple[str, ...]]
) -> dict[str, Any]:
    """`kept` grown by the next thing a prefix could take: an item of its last entry, else the next
    entry with its first item."""
    grown = {name: list(items) for name, items in kept.items()}
    if kept:
        last = list(kept)[-1]
        whole = dict(entries)[last]
        if len(kept[last]) < len(whole):
            grown[last].append(whole[len(kept[last])])
            return grown
    name, items = entries[len(kept)]
    grown[name] = list(items[:1])
    return grown


@given(strings)
def test_a_strings_json_size_is_what_json_dumps_writes(text: str) -> None:
    assert json_string_bytes(text) == len(json.dumps(text))


@given(entries, st.integers(min_value=0, max_value=400))
def test_the_kept_prefix_is_the_longest_that_fits(
    entries: list[tuple[str, tuple[str, ...]]], limit: int
) -> None:
    kept = keep_within(entries, limit)
    assert list(kept.entries) == [name for name, _ in entries][: len(kept.entries)]
    for name, items in kept.entries.items():
        assert items == dict(entries)[name][: len(items)]
        assert items or not dict(entries)[name]  # no empty list the agent did not send
    if not kept.truncated:
        assert kept.entries == dict(entries)
        assert compact(kept.entries) <= max(limit, 2)
    else:
        assert compact(kept.entries) <= limit or not kept.entries
        assert compact(one_step_more(entries, kept.entries)) > limit


def test_a_field_exactly_at_the_bound_is_whole_and_one_byte_less_is_truncated() -> None:
    ips = busy_node_report()["ips"]
    size = compact(ips)
    assert read_bounded_string_lists({"ips": ips}, "ips", size).truncated is False
    less = read_bounded_string_lists({"ips": ips}, "ips", size - 1)
    assert less.truncated is True
    assert compact(less.entries) <= size - 1


def test_a_bad_entry_beyond_the_bound_is_still_refused() -> None:
    payload = {"ips": {"eth0": ["192.0.2.1/24"] * 100, "zz": ["192.0.2.2/24", 7]}}
    with pytest.raises(InvalidReportError, match=re.escape("field 'ips.zz' must be a list of strings")):
        read_bounded_string_lists(payload, "ips", 64)


def test_there_is_no_count_cap_on_entries_or_items(hostnet_report: dict[str, Any]) -> None:
    hostnet_report["nslookup"] = {f"host-{i}": [f"10.0.{i // 250}.{i % 250}"] * 3 for i in range(1000)}
    hostnet_report["ips"] = {"kube-ipvs0": [f"10.233.{i // 250}.{i % 250}/32" for i in range(5000)]}
    report = parse_report(hostnet_report, hostnet_report["podname"])
    assert (len(report.nslookup), len(report.ips["kube-ipvs0"]), report.truncated) == (1000, 5000, ())


def test_both_fields_truncated_are_named_in_order(hostnet_report: dict[str, Any]) -> None:
    hostnet_report["nslookup"] = {f"host-{i}": ["10.0.0.1"] for i in range(100)}
    hostnet_report["ips"] = {f"eth{i}": ["192.0.2.1/24"] for i in range(100)}
    report = parse_report(hostnet_report, hostnet_report["podname"], max_field_bytes=500)
    assert report.truncated == ("ips", "nslookup")
    assert compact(dict(report.ips)) <= 500 and compact(dict(report.nslookup)) <= 500


def record_of(payload: dict[str, Any], max_field_bytes: int) -> AgentRecord:
    report = parse_report(payload, payload["podname"], max_field_bytes=max_field_bytes)
    return AgentRecord(report, 1_800_000_000.0, report_count=3, missed_keepalives=1)


def test_an_untruncated_record_has_exactly_the_originals_keys() -> None:
    record = record_of(busy_node_report(), 512 * 1024)
    assert set(record_to_json(record)) == ORIGINAL_RECORD_KEYS


def test_the_truncation_marker_survives_the_store_and_shows_in_the_api() -> None:
    record = record_of(busy_node_report(), 20_000)
    stored = json.loads(json.dumps(record_to_stored_json(record), separators=(",", ":")))
    assert stored["netchecker"]["truncated"] == ["ips"]
    assert "truncated" not in {k for k in stored if k != "netchecker"}
    back = record_from_stored_json(stored)
    assert back == record
    assert record_to_json(back)["truncated"] == ["ips"]
    assert set(record_to_json(back)) == ORIGINAL_RECORD_KEYS | {"truncated"}


@pytest.mark.parametrize("marker", ["ips", ["eth0"], [["ips"]], {"ips": 1}])
def test_a_stored_marker_that_is_not_a_list_of_field_names_is_refused(marker: Any) -> None:
    stored = record_to_stored_json(record_of(busy_node_report(pods=1, services=1), 512 * 1024))
    stored["netchecker"]["truncated"] = marker
    with pytest.raises(InvalidReportError, match=re.escape("netchecker.truncated")):
        record_from_stored_json(stored)


def test_a_cut_never_leaves_an_empty_answer_that_would_read_as_a_failed_lookup() -> None:
    nslookup = {"a.example": ["192.0.2.1"], "netchecker-service": ["10.233.0.10"]}
    first = compact({"a.example": ["192.0.2.1"]})
    room_for_the_key_only = first + len(',"netchecker-service":[]')
    kept = read_bounded_string_lists({"nslookup": nslookup}, "nslookup", room_for_the_key_only)
    assert kept == BoundedStringLists({"a.example": ("192.0.2.1",)}, truncated=True)
