"""What a record keeps of `ips` and `nslookup`: everything up to the field bound of compact JSON,
beyond it a max-min fair share of the bound for each entry (the largest cut to a prefix, every other
whole), marked truncated; bad entries refused wherever they are."""

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
    DEFAULT_MAX_STORED_FIELD_BYTES,
    MAX_STORED_FIELD_BYTES_LIMIT,
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


def entry_bytes(name: str, items: Any) -> int:
    """What one entry adds to the object: "name":[...] and a comma."""
    return len(json.dumps(name)) + 1 + compact(list(items)) + 1


def fair_shares(entries: list[tuple[str, tuple[str, ...]]], limit: int) -> dict[str, tuple[str, ...]]:
    """The rule written out the slow way, as a reference: the first entries whose first strings fit,
    then the highest level L at which each taking min(its size, max(L, its first string)) fits; an
    entry above L keeps the longest prefix within its share, one string at a time."""
    budget = limit - 1
    least = [min(entry_bytes(n, i), entry_bytes(n, i[:1])) for n, i in entries]
    served = next(k for k in range(len(entries) + 1) if sum(least[: k + 1]) > budget or k == len(entries))
    entries, least = entries[:served], least[:served]
    size = [entry_bytes(n, i) for n, i in entries]

    def total(level: int) -> int:
        return sum(min(s, max(level, f)) for s, f in zip(size, least, strict=True))

    level = max((lv for lv in range(limit + 1) if total(lv) <= budget), default=0)
    kept = {}
    for (name, items), whole, floor in zip(entries, size, least, strict=True):
        count = len(items) if whole <= level else 0
        while count < len(items) and entry_bytes(name, items[: count + 1]) <= max(level, floor):
            count += 1
        kept[name] = items[:count]
    return kept


@given(strings)
def test_a_strings_json_size_is_what_json_dumps_writes(text: str) -> None:
    assert json_string_bytes(text) == len(json.dumps(text))


@given(entries, st.integers(min_value=0, max_value=400))
def test_beyond_the_bound_each_entry_keeps_its_fair_share_in_the_agents_order(
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
        return
    assert compact(kept.entries) <= limit or not kept.entries
    assert kept.entries == fair_shares(entries, limit)
    cut = [name for name, items in kept.entries.items() if items != dict(entries)[name]]
    # the largest are the ones cut (of those that hold more than the one string an entry keeps)
    whole = [name for name, items in kept.entries.items() if name not in cut and len(items) > 1]
    for name in cut:
        assert all(entry_bytes(n, dict(entries)[n]) < entry_bytes(name, dict(entries)[name]) for n in whole)
    if len(kept.entries) < len(entries):  # left out whole only when not even first strings fit
        firsts = {name: list(items[:1]) for name, items in entries[: len(kept.entries) + 1]}
        assert compact(firsts) > limit


def test_on_the_busy_node_every_interface_stays_whole_and_only_kube_ipvs0_is_cut() -> None:
    ips = busy_node_report()["ips"]
    kept = read_bounded_string_lists({"ips": ips}, "ips", DEFAULT_MAX_STORED_FIELD_BYTES)
    assert kept.truncated is True
    assert list(kept.entries) == list(ips)
    assert {name: list(items) for name, items in kept.entries.items() if name != "kube-ipvs0"} == {
        name: items for name, items in ips.items() if name != "kube-ipvs0"
    }
    ipvs = kept.entries["kube-ipvs0"]
    assert 1000 < len(ipvs) < 10_000 and list(ipvs) == ips["kube-ipvs0"][: len(ipvs)]
    used = compact(kept.entries)
    assert (
        DEFAULT_MAX_STORED_FIELD_BYTES - 20 <= used <= DEFAULT_MAX_STORED_FIELD_BYTES
    )  # one /32 short at most


def test_when_first_strings_do_not_all_fit_the_first_entries_in_order_keep_one_each() -> None:
    ips = busy_node_report()["ips"]
    kept = read_bounded_string_lists({"ips": ips}, "ips", 8 * 1024)
    assert kept.truncated is True
    assert 100 < len(kept.entries) < len(ips)
    assert list(kept.entries) == list(ips)[: len(kept.entries)]
    assert all(items == tuple(ips[name][: len(items)]) and items for name, items in kept.entries.items())
    assert compact(kept.entries) <= 8 * 1024


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
    report = parse_report(
        hostnet_report, hostnet_report["podname"], max_field_bytes=MAX_STORED_FIELD_BYTES_LIMIT
    )
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
