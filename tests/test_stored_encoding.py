"""encode_stored (msgspec) writes the very bytes json.dumps wrote for a record, so the record bounds
measured with it, and the records already in etcd, mean what they meant."""

from __future__ import annotations

import json
from typing import Any

import pytest

from netchecker_exporter.report import AgentRecord, parse_report, record_to_stored_json
from netchecker_exporter.store.etcd_plan import encode_stored
from tests.support.paths import load_fixture


def json_dumps_bytes(record: AgentRecord) -> bytes:
    """What the etcd store wrote before msgspec."""
    return json.dumps(record_to_stored_json(record), ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.parametrize("epoch", [0.0, 1.5, 1_800_000_000.123456, 2.0**36 - 2**-16, 0.25])
@pytest.mark.parametrize(
    "change",
    [
        {},
        {"nodename": "ñode-ü-😀", "ips": {"eth0": ["\x7f\u2028"]}},
        {"network_probes": [{"URL": 'http://h/?q="1"\\\u2028', "HTTPCode": 200, "Total": 9223372036854}]},
        {"ips": {"kube-ipvs0": [f"10.0.{i // 256}.{i % 256}/32" for i in range(2000)]}},
    ],
)
def test_the_stored_bytes_are_json_dumps_bytes(epoch: float, change: dict[str, Any]) -> None:
    payload = {**load_fixture("agent-report-hostnet.json"), **change}
    report = parse_report(payload, payload["podname"], max_field_bytes=4096)  # the ips cut: truncated marker
    for record in (
        AgentRecord(report, epoch, 1, 0),
        AgentRecord(report, epoch, 2**53, 7, reboots=3, last_boot_timestamp=epoch / 3),
    ):
        assert encode_stored(record) == json_dumps_bytes(record)


def test_an_epoch_in_exponent_form_differs_only_in_spelling_and_reads_back_the_same() -> None:
    """Below 1e-4 repr writes 5e-05 and msgspec 0.00005: the same number to json.loads."""
    payload = load_fixture("agent-report-hostnet.json")
    record = AgentRecord(parse_report(payload, payload["podname"]), 1.0, 1, 0, 1, last_boot_timestamp=5e-5)
    assert json.loads(encode_stored(record)) == json.loads(json_dumps_bytes(record))
