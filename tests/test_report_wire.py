"""decode_report and decode_stored_record: msgspec's one pass gives the same report (record), or
the same refusal, as json.loads and parse_report (record_from_stored_json), for the real agents'
bodies, the records the store writes, and generated hostile ones."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netchecker_exporter import report_wire
from netchecker_exporter.errors import InvalidReportError
from netchecker_exporter.report import (
    PROBE_PHASES,
    AgentRecord,
    AgentReport,
    parse_report,
    record_from_stored_json,
    record_to_stored_json,
)
from netchecker_exporter.report_wire import WireProbe, decode_report, decode_stored_record, loads_report
from netchecker_exporter.store.etcd_plan import encode_stored
from tests.support.paths import fixture_paths, load_fixture

POD = "netchecker-agent-hostnet-x7k2p"
HOSTILE_STRINGS = [
    "\ud800", "a\udfffb", "\x00", "\x7f", "\x9f", "line\nbreak", "end\n", "ü" * 127, "😀" * 64,
    "x" * 254, "x" * 2049, "", "2026-11-25T06:00:31", "2026-11-25T06:00:31.5+01:00",
]  # fmt: skip
HOSTILE_NUMBERS: list[Any] = [
    float("nan"), float("inf"), 1.5, 1.0, True, False, None, "200", 10**309, -(10**309), 9223372036854,
    2**63, 2**64, -1, 0, 1, 2, 999, 1000, 86_400, 86_401, 86_400_000, 86_400_001, 3_162_240_000,
]  # fmt: skip
PROBE_KEYS = [key for _phase, key in PROBE_PHASES] + ["URL", "ConnectionResult", "HTTPCode"]

FIELDS = ["podname", "nodename", "hostdate", "uptime", "report_interval", "nslookup", "ips", "network_probes"]
EDGE_VALUES: list[Any] = [*HOSTILE_STRINGS, *HOSTILE_NUMBERS, [], {}, [None], {"k": None}, {"k": ["a", 1]}]

texts = st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=12))
scalars = st.one_of(st.sampled_from(HOSTILE_NUMBERS), st.integers(), texts)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3)
)
string_lists = st.dictionaries(texts, st.one_of(st.none(), st.lists(texts, max_size=4)), max_size=4)
probe = st.dictionaries(st.sampled_from(PROBE_KEYS), st.one_of(scalars, st.just("http://h/")), max_size=3)
field_values = st.one_of(values, string_lists, st.lists(probe, max_size=4))
# Two fields changed at most, so that one bad value does not hide what the others would do.
changes = st.dictionaries(st.sampled_from([*FIELDS, "added_by_a_newer_agent"]), field_values, max_size=2)


def outcome(read: Any) -> tuple[str, Any]:
    """What a reader made of a body: the report with its maps' order, or the refusal's message."""
    try:
        report: AgentReport = read()
    except InvalidReportError as error:
        return "refused", str(error)
    return "accepted", (report, list(report.ips.items()), list(report.nslookup.items()))


def both(body: bytes, name: str = POD, **limits: int) -> tuple[tuple[str, Any], tuple[str, Any]]:
    fast = outcome(lambda: decode_report(body, name, **limits))
    legacy = outcome(lambda: parse_report(loads_report(body), name, **limits))
    return fast, legacy


def encoded(payload: Any, *, ascii_only: bool) -> bytes:
    """As an agent might send it: escaped or raw UTF-8 (a lone surrogate raw, as CESU-8 would be)."""
    return json.dumps(payload, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def edge_changes() -> list[dict[str, Any]]:
    """Each field, and each field of a probe, set to each edge value in turn."""
    fixture_probe = load_fixture("agent-report-hostnet.json")["network_probes"][0]
    top = [{field: value} for field in FIELDS for value in EDGE_VALUES]
    probed = [
        {"network_probes": [{**fixture_probe, key: value}]} for key in PROBE_KEYS for value in EDGE_VALUES
    ]
    return top + probed


@pytest.mark.parametrize("ascii_only", [True, False])
def test_every_edge_value_of_every_field_gets_the_python_readers_answer(ascii_only: bool) -> None:
    template = {**load_fixture("agent-report-hostnet.json"), "podname": POD}
    differing = []
    for change in edge_changes():
        fast, legacy = both(encoded({**template, **change}, ascii_only=ascii_only))
        if fast != legacy:
            differing.append((change, fast, legacy))
    assert differing == []


@pytest.mark.parametrize("path", fixture_paths(), ids=lambda p: p.name)
def test_a_real_agents_body_is_read_by_the_compiled_pass_alone(
    path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = path.read_bytes()
    name = json.loads(body)["podname"]
    expected = outcome(lambda: parse_report(loads_report(body), name))

    def no_second_look(*_args: Any, **_kwargs: Any) -> AgentReport:
        raise AssertionError("a real agent's report fell back to the Python reader")

    monkeypatch.setattr(report_wire, "parse_report", no_second_look)
    assert outcome(lambda: decode_report(body, name)) == expected
    assert expected[0] == "accepted"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(change=changes, ascii_only=st.booleans(), max_probes=st.sampled_from([1, 2, 32]))
def test_the_compiled_pass_accepts_and_refuses_exactly_as_the_python_reader(
    change: dict[str, Any], ascii_only: bool, max_probes: int
) -> None:
    body = encoded(
        {**load_fixture("agent-report-hostnet.json"), "podname": POD, **change}, ascii_only=ascii_only
    )
    fast, legacy = both(body, max_probes=max_probes)
    assert fast == legacy


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ips=st.dictionaries(st.text(max_size=20), st.lists(st.text(max_size=30), max_size=30), max_size=30),
    max_field_bytes=st.integers(min_value=0, max_value=4096),
    ascii_only=st.booleans(),
)
def test_a_field_over_the_stored_bound_is_cut_as_the_python_reader_cuts_it(
    ips: dict[str, list[str]], max_field_bytes: int, ascii_only: bool
) -> None:
    body = encoded(
        {**load_fixture("agent-report-hostnet.json"), "podname": POD, "ips": ips}, ascii_only=ascii_only
    )
    fast, legacy = both(body, max_field_bytes=max_field_bytes)
    assert fast == legacy


@pytest.mark.parametrize(
    "body",
    [b"", b"{not json", b"\xff\xfe", b"[" * 5000, b"[]", b"null", b'{"podname": NaN}', b"\xef\xbb\xbf{}",
     json.dumps({"podname": POD}).encode("utf-16")],
)  # fmt: skip
def test_a_body_msgspec_cannot_read_gets_the_python_readers_answer(body: bytes) -> None:
    fast, legacy = both(body)
    assert fast == legacy


def test_the_wire_probes_phases_are_report_pys_in_its_order() -> None:
    names = [field.encode_name for field in msgspec.structs.fields(WireProbe)]
    assert names[3:] == [key for _phase, key in PROBE_PHASES]
    assert tuple(phase for phase, _key in PROBE_PHASES) == report_wire._PHASE_NAMES


COUNTER_KEYS = [
    "last_updated_epoch",
    "report_count",
    "missed_keepalives",
    "reboots",
    "last_boot_epoch",
    "truncated",
]
COUNTER_EDGES: list[Any] = [
    *HOSTILE_NUMBERS, 2.0**36, 2.0**36 - 1, 2**53, 2**53 + 1, -0.0, 0.5, [], ["ips"], ["nslookup", "ips"],
    ["ips", "ips"], ["x"], "ips", {},
]  # fmt: skip


def stored_outcome(read: Any) -> tuple[str, Any]:
    """A record read back, or the error's kind and message (the etcd store logs both)."""
    try:
        record = read()
    except (ValueError, RecursionError, InvalidReportError) as error:
        return type(error).__name__, str(error)
    return "read", (record, list(record.report.ips.items()), list(record.report.nslookup.items()))


def both_stored(value: bytes) -> tuple[tuple[str, Any], tuple[str, Any]]:
    fast = stored_outcome(lambda: decode_stored_record(value))
    legacy = stored_outcome(lambda: record_from_stored_json(json.loads(value)))
    return fast, legacy


def stored_json(**counters: Any) -> dict[str, Any]:
    payload = load_fixture("agent-report-hostnet.json")
    report = parse_report(payload, payload["podname"])
    record = AgentRecord(report, 1_800_000_000.25, 7, 2, reboots=1, last_boot_timestamp=1_799_990_000.0)
    stored = record_to_stored_json(record)
    stored["netchecker"].update(counters)
    return stored


def test_a_stored_record_is_read_by_the_compiled_pass_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    value = encode_stored(
        AgentRecord(parse_report(load_fixture("agent-report-hostnet.json"), POD), 1.5, 3, 1)
    )
    expected = stored_outcome(lambda: record_from_stored_json(json.loads(value)))

    def no_second_look(_data: Any) -> AgentRecord:
        raise AssertionError("a record the store wrote fell back to the Python reader")

    monkeypatch.setattr(report_wire, "record_from_stored_json", no_second_look)
    assert stored_outcome(lambda: decode_stored_record(value)) == expected
    assert expected[0] == "read"


@pytest.mark.parametrize("ascii_only", [True, False])
def test_every_edge_value_of_a_stored_record_gets_the_python_readers_answer(ascii_only: bool) -> None:
    changes = [{key: value} for key in COUNTER_KEYS for value in COUNTER_EDGES]
    differing = []
    for change in changes:
        stored = stored_json(**change)
        for variant in (
            stored,
            {**stored, "netchecker": None},
            {k: v for k, v in stored.items() if k != "podname"},
        ):
            fast, legacy = both_stored(encoded(variant, ascii_only=ascii_only))
            if fast != legacy:
                differing.append((change, fast, legacy))
    for change in edge_changes():
        fast, legacy = both_stored(encoded({**stored_json(), **change}, ascii_only=ascii_only))
        if fast != legacy:
            differing.append((change, fast, legacy))
    assert differing == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    change=changes,
    counters=st.dictionaries(
        st.sampled_from(COUNTER_KEYS), st.one_of(st.sampled_from(COUNTER_EDGES), values), max_size=2
    ),
)
def test_a_generated_stored_record_gets_the_python_readers_answer(
    change: dict[str, Any], counters: dict[str, Any]
) -> None:
    fast, legacy = both_stored(encoded({**stored_json(**counters), **change}, ascii_only=False))
    assert fast == legacy


def _fleet_body(pod: str, node: str, total_ms: int) -> bytes:
    body = load_fixture("agent-report-hostnet.json")
    body.update(podname=pod, nodename=node)
    body["network_probes"][0]["Total"] = total_ms
    return json.dumps(body).encode()


@pytest.mark.parametrize("read", [decode_report, lambda body, pod: parse_report(loads_report(body), pod)])
def test_two_agents_records_share_their_repeated_strings_and_common_phase_times(read: Any) -> None:
    """Node names, URLs, interface names and phase times under a second are one object per value
    in every record (bench.memory_per_agent: most of a record's objects were such copies)."""
    one = read(_fleet_body("a-1", "node-7", 12), "a-1")
    other = read(_fleet_body("a-2", "node-7", 12), "a-2")
    assert one.nodename is other.nodename
    assert all(a.url is b.url for a, b in zip(one.network_probes, other.network_probes, strict=True))
    assert all(a is b for a, b in zip(one.ips, other.ips, strict=True))
    pairs = zip(one.network_probes[0].phase_ms, other.network_probes[0].phase_ms, strict=True)
    assert all(a is b for a, b in pairs)


def test_a_phase_time_of_a_second_or_more_is_not_kept_in_the_shared_table() -> None:
    """The table of shared (phase, ms) pairs is bounded: a client choosing times cannot grow it."""
    first = decode_report(_fleet_body("a-1", "n", 987_654), "a-1").network_probes[0].phase_ms[0]
    second = decode_report(_fleet_body("a-2", "n", 987_654), "a-2").network_probes[0].phase_ms[0]
    assert first == second == ("total", 987_654)
    assert first is not second
