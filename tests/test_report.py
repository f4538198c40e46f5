"""The agent payload: real fixtures accepted and round-tripped, bad input named precisely."""

from __future__ import annotations

import json
from typing import Any

import pytest

from netchecker_exporter.errors import InvalidReportError
from netchecker_exporter.report import (
    AgentRecord,
    format_timestamp,
    missed_windows,
    next_record,
    parse_report,
    record_from_stored_json,
    record_to_json,
    record_to_stored_json,
    validate_pod_name,
)
from tests.support.paths import fixture_paths


@pytest.mark.parametrize("path", fixture_paths(), ids=lambda p: p.name)
def test_every_real_agent_fixture_is_accepted_and_round_trips(path: Any) -> None:
    payload = json.loads(path.read_text())
    report = parse_report(payload, payload["podname"])
    record = AgentRecord(report, last_updated=1_800_000_000.5, report_count=3, missed_keepalives=1)

    shown = record_to_json(record)

    expected = {k: v for k, v in payload.items() if k != "zero_extender"}
    assert {k: v for k, v in shown.items() if k != "last_updated"} == expected
    assert shown["last_updated"] == "2027-01-15T08:00:00.500000Z"
    assert record_from_stored_json(json.loads(json.dumps(record_to_stored_json(record)))) == record


def test_unknown_fields_are_ignored_and_padding_dropped(hostnet_report: dict[str, Any]) -> None:
    hostnet_report["added_by_a_newer_agent"] = {"x": 1}
    report = parse_report(hostnet_report, hostnet_report["podname"])
    record = record_to_json(AgentRecord(report, 0.0, 1, 0))
    assert "added_by_a_newer_agent" not in record
    assert "zero_extender" not in record


def test_go_nil_maps_and_lists_are_accepted_as_empty(hostnet_report: dict[str, Any]) -> None:
    hostnet_report.update(nslookup=None, ips={"eth0": None}, network_probes=None)
    report = parse_report(hostnet_report, hostnet_report["podname"])
    assert report.nslookup == {}
    assert report.ips == {"eth0": ()}
    assert report.network_probes == ()


BAD_PAYLOADS = [
    ({"report_interval": "10"}, "field 'report_interval' must be an integer"),
    ({"report_interval": True}, "field 'report_interval' must be an integer"),
    ({"report_interval": 0}, "field 'report_interval' must be between 1 and 86400 seconds"),
    ({"report_interval": -5}, "field 'report_interval' must be between 1 and 86400 seconds"),
    ({"report_interval": None}, "field 'report_interval' is required"),
    ({"nodename": 7}, "field 'nodename' must be a string"),
    ({"hostdate": "yesterday"}, "field 'hostdate' must be an RFC 3339 timestamp"),
    ({"hostdate": "2026-11-25T06:00:31"}, "field 'hostdate' must carry a time zone (RFC 3339)"),
    ({"uptime": -1}, "field 'uptime' must be an integer from 0 to 3162240000"),
    ({"uptime": 10**309}, "field 'uptime' must be an integer from 0 to 3162240000"),
    ({"nodename": "\ud800"}, "field 'nodename' is not valid Unicode (a lone surrogate)"),
    ({"nodename": "n" * 254}, "field 'nodename' is longer than 253 bytes"),
    ({"nodename": "node\n1"}, "field 'nodename' must not contain control characters"),
    ({"hostdate": "\udfff"}, "field 'hostdate' is not valid Unicode (a lone surrogate)"),
    ({"nslookup": {"h": ["a", "\ud800"]}}, "field 'nslookup.h' is not valid Unicode (a lone surrogate)"),
    ({"ips": {"\ud800": []}}, "field 'ips (a key)' is not valid Unicode (a lone surrogate)"),
    ({"ips": {"eth0": ["x" * 254]}}, "field 'ips.eth0' is longer than 253 bytes"),
    (
        {"network_probes": [{"URL": "u"}] * 33},
        "field 'network_probes' lists more than 32 probes",
    ),
    ({"uptime": 1.5}, "field 'uptime' must be an integer"),
    ({"nslookup": ["a"]}, "field 'nslookup' must be an object of string lists"),
    ({"ips": {"eth0": [1]}}, "field 'ips.eth0' must be a list of strings"),
    ({"network_probes": {}}, "field 'network_probes' must be a list of objects"),
    ({"network_probes": [1]}, "field 'network_probes[0]' must be an object"),
    (
        {"network_probes": [{"URL": "u", "HTTPCode": "200"}]},
        "field 'network_probes[0].HTTPCode' must be an integer",
    ),
    *(
        ({"network_probes": [{"URL": "u", key: value}]}, f"field 'network_probes[0].{key}' {message}")
        for key, value, message in [
            ("HTTPCode", 10**309, "must be an integer from 0 to 999"),
            ("HTTPCode", -1, "must be an integer from 0 to 999"),
            ("HTTPCode", 1000, "must be an integer from 0 to 999"),
            ("ConnectionResult", 2, "must be an integer from 0 to 1"),
            ("Total", -1, "must be from 0 to 86400000 ms (or 9223372036854: not timed)"),
            ("DNSLookup", 10**20, "must be from 0 to 86400000 ms (or 9223372036854: not timed)"),
            ("Connect", 1.5, "must be an integer"),
            ("URL", "\ud800", "is not valid Unicode (a lone surrogate)"),
            ("URL", "u" * 2049, "is longer than 2048 bytes"),
            ("URL", "http://a/\x00", "must not contain control characters"),
        ]
    ),
    ({"podname": "other-pod"}, "field 'podname' ('other-pod') differs from the pod name in the URL"),
    ({"podname": None}, "field 'podname' is required"),
]


@pytest.mark.parametrize(("change", "message"), BAD_PAYLOADS)
def test_bad_payload_is_rejected_with_the_field_named(
    hostnet_report: dict[str, Any], change: dict[str, Any], message: str
) -> None:
    name = hostnet_report["podname"]
    hostnet_report.update(change)
    with pytest.raises(InvalidReportError) as error:
        parse_report(hostnet_report, name)
    assert str(error.value) == message


@pytest.mark.parametrize("payload", [[], "text", 3, None])
def test_a_payload_that_is_not_an_object_is_rejected(payload: Any) -> None:
    with pytest.raises(InvalidReportError, match="report must be a JSON object"):
        parse_report(payload, "netchecker-agent-1")


@pytest.mark.parametrize(
    "name",
    ["netchecker-agent-7fq2m", "a", "a.b-c", "x" * 253, "0pod"],
)
def test_dns1123_subdomains_are_valid_pod_names(name: str) -> None:
    assert validate_pod_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "Upper", "-start", "end-", "a..b", "a/b", "../etc", "x" * 254, "a_b", "a b", "ünï"],
)
def test_other_pod_names_are_rejected_before_they_become_keys(name: str) -> None:
    with pytest.raises(InvalidReportError, match="is not a DNS-1123 subdomain"):
        validate_pod_name(name)


@pytest.mark.parametrize(
    ("age", "interval", "windows"),
    [(0, 10, 0), (-3, 10, 0), (19.9, 10, 0), (20, 10, 1), (39.9, 10, 1), (40, 10, 2), (61, 10, 3), (4, 2, 1)],
)
def test_missed_windows_count_full_double_intervals(age: float, interval: int, windows: int) -> None:
    assert missed_windows(age, interval) == windows


def test_next_record_carries_totals_and_adds_the_windows_missed_since_the_last_report(
    hostnet_report: dict[str, Any],
) -> None:
    report = parse_report(hostnet_report, hostnet_report["podname"])  # interval 2 s
    first = next_record(None, report, 100.0)
    assert (first.report_count, first.missed_keepalives) == (1, 0)
    second = next_record(first, report, 102.0)
    assert (second.report_count, second.missed_keepalives) == (2, 0)
    third = next_record(second, report, 111.0)  # 9 s of silence: two full 4 s windows
    assert (third.report_count, third.missed_keepalives, third.last_updated) == (3, 2, 111.0)


def test_timestamps_are_rfc3339_utc() -> None:
    assert format_timestamp(0) == "1970-01-01T00:00:00.000000Z"


def test_a_stored_record_without_counters_is_rejected(hostnet_report: dict[str, Any]) -> None:
    with pytest.raises(InvalidReportError, match="lacks 'netchecker'"):
        record_from_stored_json(hostnet_report)


def test_gos_saturated_duration_is_stored_as_not_timed_and_shown_as_the_agent_sent_it(
    hostnet_report: dict[str, Any],
) -> None:
    hostnet_report["network_probes"][0].update(Total=9223372036854, ContentTransfer=9223372036854)
    report = parse_report(hostnet_report, hostnet_report["podname"])
    phases = dict(report.network_probes[0].phase_ms)
    assert phases["total"] is None and phases["content_transfer"] is None
    assert phases["tcp_connection"] is not None
    record = AgentRecord(report, 1.0, 1, 0)
    shown = record_to_json(record)["network_probes"][0]
    assert (shown["Total"], shown["ContentTransfer"]) == (9223372036854, 9223372036854)
    assert record_from_stored_json(json.loads(json.dumps(record_to_stored_json(record)))) == record


def test_a_probe_url_listed_twice_keeps_its_first_probe(hostnet_report: dict[str, Any]) -> None:
    first = {**hostnet_report["network_probes"][0], "HTTPCode": 200}
    hostnet_report["network_probes"] = [first, {**first, "HTTPCode": 500}]
    probes = parse_report(hostnet_report, hostnet_report["podname"]).network_probes
    assert [(p.url, p.http_code) for p in probes] == [(first["URL"], 200)]


def test_the_probe_cap_is_a_parameter(hostnet_report: dict[str, Any]) -> None:
    probe = hostnet_report["network_probes"][0]
    hostnet_report["network_probes"] = [{**probe, "URL": f"http://h/{i}"} for i in range(3)]
    with pytest.raises(InvalidReportError, match="more than 2 probes"):
        parse_report(hostnet_report, hostnet_report["podname"], max_probes=2)
    assert len(parse_report(hostnet_report, hostnet_report["podname"], max_probes=3).network_probes) == 3


@pytest.mark.parametrize(
    ("counters", "message"),
    [
        ({"last_updated_epoch": float("nan")}, "no finite 'last_updated_epoch'"),
        ({"last_updated_epoch": float("inf")}, "no finite 'last_updated_epoch'"),
        ({"report_count": 10**300}, "'netchecker.report_count' must be an integer from 0"),
        ({"missed_keepalives": -1}, "'netchecker.missed_keepalives' must be an integer from 0"),
    ],
)
def test_a_stored_record_is_validated_like_a_report(
    hostnet_report: dict[str, Any], counters: dict[str, Any], message: str
) -> None:
    report = parse_report(hostnet_report, hostnet_report["podname"])
    stored = record_to_stored_json(AgentRecord(report, 1.0, 1, 0))
    stored["netchecker"].update(counters)
    with pytest.raises(InvalidReportError, match=message):
        record_from_stored_json(stored)
