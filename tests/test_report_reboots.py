"""Reboots counted in the stored record: uptime going down is a reboot; it survives a store round trip."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from netchecker_exporter.errors import InvalidReportError
from netchecker_exporter.report import (
    STORED_COUNTERS_KEY,
    next_record,
    parse_report,
    record_from_stored_json,
    record_to_stored_json,
)


def report_with(hostnet_report: dict[str, Any], **change: Any) -> Any:
    return parse_report({**hostnet_report, **change}, hostnet_report["podname"])


def test_uptime_going_down_counts_a_reboot_and_keeps_the_boot_time(hostnet_report: dict[str, Any]) -> None:
    first = next_record(None, report_with(hostnet_report, uptime=5000), 1000.0)
    later = next_record(first, report_with(hostnet_report, uptime=5010), 1010.0)
    assert (later.reboots, later.last_boot_timestamp) == (0, None)
    rebooted = next_record(later, report_with(hostnet_report, uptime=30), 1100.0)
    assert (rebooted.reboots, rebooted.last_boot_timestamp) == (1, 1070.0)
    after = next_record(rebooted, report_with(hostnet_report, uptime=40), 1110.0)
    assert (after.reboots, after.last_boot_timestamp) == (1, 1070.0)
    again = next_record(after, report_with(hostnet_report, uptime=5), 1200.0)
    assert (again.reboots, again.last_boot_timestamp) == (2, 1195.0)


@pytest.mark.parametrize(
    "change",
    [{"uptime": 0}, {"nodename": "another-node", "uptime": 3}],
    ids=["uptime not sent", "another node"],
)
def test_no_reboot_when_the_uptime_says_nothing_about_this_node(
    hostnet_report: dict[str, Any], change: dict[str, Any]
) -> None:
    first = next_record(None, report_with(hostnet_report, uptime=5000), 1000.0)
    assert next_record(first, report_with(hostnet_report, **change), 1010.0).reboots == 0


def test_reboots_survive_the_store_and_older_records_read_as_none(hostnet_report: dict[str, Any]) -> None:
    record = next_record(None, report_with(hostnet_report), 1000.0)
    record = dataclasses.replace(record, reboots=3, last_boot_timestamp=990.5)
    stored = json.loads(json.dumps(record_to_stored_json(record)))
    assert stored[STORED_COUNTERS_KEY]["reboots"] == 3
    assert record_from_stored_json(stored) == record
    for key in ("reboots", "last_boot_epoch"):
        del stored[STORED_COUNTERS_KEY][key]
    old = record_from_stored_json(stored)
    assert (old.reboots, old.last_boot_timestamp) == (0, None)


def test_a_stored_boot_time_that_is_not_a_number_is_rejected(hostnet_report: dict[str, Any]) -> None:
    stored = record_to_stored_json(next_record(None, report_with(hostnet_report), 1000.0))
    stored[STORED_COUNTERS_KEY]["last_boot_epoch"] = "yesterday"
    with pytest.raises(InvalidReportError, match="last_boot_epoch"):
        record_from_stored_json(stored)
