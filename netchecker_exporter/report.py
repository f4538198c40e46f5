"""The agent's report: validate the payload into an AgentReport; a stored AgentRecord to and from JSON.

Pure: no I/O. Field names and types follow the Go agent (COMPAT.md); unknown fields are ignored.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from netchecker_exporter.errors import InvalidReportError
from netchecker_exporter.padding import strip_padding as strip_padding
from netchecker_exporter.report_values import (
    GO_SATURATED_MS,
    MAX_COUNTER,
    MAX_HOSTDATE_BYTES,
    MAX_HTTP_CODE,
    MAX_LABEL_BYTES,
    MAX_UPTIME_SECONDS,
    MAX_URL_BYTES,
    read_field,
    read_int,
    read_phase_ms,
    read_text,
)
from netchecker_exporter.stored_fields import (
    DEFAULT_MAX_STORED_FIELD_BYTES,
    MAX_STORED_FIELD_BYTES_LIMIT,
    TRUNCATABLE_FIELDS,
    read_bounded_string_lists,
)

POD_NAME_MAX_LENGTH = 253
MAX_REPORT_INTERVAL_SECONDS = 86_400
DEFAULT_MAX_PROBES = 32
"""Probes per report: a real agent sends its -probeurls plus one ping, a handful."""
MAX_PROBES_LIMIT = 1024
"""The highest -max-probes-per-report; stored records are read back against it."""
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
PROBE_PHASES = (
    ("total", "Total"),
    ("content_transfer", "ContentTransfer"),
    ("tcp_connection", "TCPConnection"),
    ("dns_lookup", "DNSLookup"),
    ("connect", "Connect"),
    ("server_processing", "ServerProcessing"),
)
"""(our phase name, the agent's JSON key) for each timed phase of an HTTP probe, in milliseconds."""
SHARED_PHASE_MS_BELOW = 1000
"""Phase times under this many ms share one (phase, ms) pair per value: most probes take less, and
a pair of its own per phase was 6 of a probe's 8 objects (bench.memory_per_agent). Bounded, so a
client cannot grow the table: at most 6 x 1001 pairs, about 0.7 MiB."""
_SHARED_PAIRS: dict[tuple[str, int | None], tuple[str, int | None]] = {}


def phase_times(times: Iterable[tuple[str, int | None]]) -> tuple[tuple[str, int | None], ...]:
    """A probe's (phase, ms) pairs, the common ones shared by every record that holds them."""
    return tuple(
        _SHARED_PAIRS.setdefault(pair, pair) if pair[1] is None or pair[1] < SHARED_PHASE_MS_BELOW else pair
        for pair in times
    )


def shared_phase_times(pairs: tuple[tuple[str, int | None], ...]) -> tuple[tuple[str, int | None], ...]:
    """phase_times of pairs whose every time is shared (None, or under SHARED_PHASE_MS_BELOW), in
    C's loops: a third of the CPU of the generator (report_wire's common case)."""
    return tuple(map(_SHARED_PAIRS.setdefault, pairs, pairs))


@dataclass(frozen=True, slots=True)
class NetworkProbe:
    """One HTTP probe the agent made: did it connect, the status code, phase times in ms.

    A phase time is None when the agent did not time it (it sent Go's saturated duration).
    """

    url: str
    connection_result: int
    http_code: int
    phase_ms: tuple[tuple[str, int | None], ...]

    @property
    def succeeded(self) -> bool:
        return self.connection_result == 1 and 200 <= self.http_code < 300


@dataclass(frozen=True, slots=True)
class AgentReport:
    """A validated agent payload, minus the padding."""

    podname: str
    nodename: str
    report_interval: int
    hostdate: str
    uptime: int
    nslookup: Mapping[str, tuple[str, ...]]
    ips: Mapping[str, tuple[str, ...]]
    network_probes: tuple[NetworkProbe, ...]
    truncated: tuple[str, ...] = ()
    """Fields kept only in part, over -max-stored-field-bytes: "ips", "nslookup" (stored_fields.py)."""


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """What the store keeps per agent: the last report, when it came, and running totals.

    The totals live in the record (not in process memory) so counters survive restarts and
    every replica reading the same store exports the same values.
    """

    report: AgentReport
    last_updated: float
    report_count: int
    missed_keepalives: int
    reboots: int = 0
    """Times the node's uptime went down between two reports of this agent (a reboot)."""
    last_boot_timestamp: float | None = None
    """Epoch seconds the node booted, as of the last reboot detected (None: none seen yet)."""


def validate_pod_name(name: str) -> str:
    """Return `name` if it is a DNS-1123 subdomain (a valid pod name and a safe store key)."""
    if not 0 < len(name) <= POD_NAME_MAX_LENGTH or not _DNS1123_SUBDOMAIN.fullmatch(name):
        raise InvalidReportError(
            f"pod name {name[:80]!r} is not a DNS-1123 subdomain "
            "(lowercase letters, digits, '-' and '.', at most 253 characters)"
        )
    return name


def parse_report(
    payload: Any,
    url_pod_name: str,
    *,
    max_probes: int = DEFAULT_MAX_PROBES,
    max_field_bytes: int = DEFAULT_MAX_STORED_FIELD_BYTES,
) -> AgentReport:
    """Validate a decoded JSON payload posted to /api/v1/agents/<url_pod_name>.

    Every value that can reach a label or a sample is checked here (report_values.py), so a
    report that passes can always be rendered; one that cannot is refused, naming the field.
    """
    validate_pod_name(url_pod_name)
    if not isinstance(payload, dict):
        raise InvalidReportError("report must be a JSON object")
    podname = read_field(payload, "podname", str, required=True)
    if podname != url_pod_name:
        raise InvalidReportError(f"field 'podname' ({podname[:80]!r}) differs from the pod name in the URL")
    return _report_from_fields(payload, podname, max_probes, max_field_bytes)


def _report_from_fields(
    payload: dict[str, Any],
    podname: str,
    max_probes: int,
    max_field_bytes: int,
    marked_truncated: tuple[str, ...] = (),
) -> AgentReport:
    interval = read_field(payload, "report_interval", int, required=True)
    if not 0 < interval <= MAX_REPORT_INTERVAL_SECONDS:
        raise InvalidReportError(
            f"field 'report_interval' must be between 1 and {MAX_REPORT_INTERVAL_SECONDS} seconds"
        )
    hostdate = read_text(payload, "hostdate", MAX_HOSTDATE_BYTES)
    if hostdate:
        parse_timestamp(hostdate, "hostdate")
    fields = {key: read_bounded_string_lists(payload, key, max_field_bytes) for key in TRUNCATABLE_FIELDS}
    # A stored record keeps its marker: what was cut before is not whole again when read back.
    truncated = tuple(key for key in TRUNCATABLE_FIELDS if fields[key].truncated or key in marked_truncated)
    return AgentReport(
        podname=podname,
        nodename=sys.intern(read_text(payload, "nodename", MAX_LABEL_BYTES, label=True)),
        report_interval=interval,
        hostdate=hostdate,
        uptime=read_int(payload, "uptime", MAX_UPTIME_SECONDS),
        nslookup=fields["nslookup"].entries,
        ips=fields["ips"].entries,
        network_probes=_probes(payload.get("network_probes"), max_probes),
        truncated=truncated,
    )


def _probes(value: Any, max_probes: int) -> tuple[NetworkProbe, ...]:
    """The probes, first one per URL: a URL listed twice would export duplicate series."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidReportError("field 'network_probes' must be a list of objects")
    if len(value) > max_probes:
        raise InvalidReportError(f"field 'network_probes' lists more than {max_probes} probes")
    probes: dict[str, NetworkProbe] = {}
    for index, item in enumerate(value):
        probe = _probe(item, index)
        probes.setdefault(probe.url, probe)
    return tuple(probes.values())


def _probe(item: Any, index: int) -> NetworkProbe:
    where = f"network_probes[{index}]."
    if not isinstance(item, dict):
        raise InvalidReportError(f"field 'network_probes[{index}]' must be an object")
    return NetworkProbe(
        url=sys.intern(read_text(item, "URL", MAX_URL_BYTES, label=True, where=where)),
        connection_result=read_int(item, "ConnectionResult", 1, where=where),
        http_code=read_int(item, "HTTPCode", MAX_HTTP_CODE, where=where),
        phase_ms=phase_times((phase, read_phase_ms(item, key, where=where)) for phase, key in PROBE_PHASES),
    )


def parse_timestamp(text: str, field: str) -> float:
    """An RFC 3339 time with its zone, as epoch seconds; InvalidReportError naming `field` if not."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidReportError(f"field '{field}' must be an RFC 3339 timestamp") from None
    if moment.tzinfo is None:
        raise InvalidReportError(f"field '{field}' must carry a time zone (RFC 3339)")
    return moment.timestamp()


def format_timestamp(epoch_seconds: float) -> str:
    """RFC 3339 in UTC with microseconds, as Go's time.Time marshals (to its precision)."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def missed_windows(age_seconds: float, report_interval: int) -> int:
    """Full 2 x interval windows in `age_seconds`: the original's missed-keepalive rule."""
    if age_seconds <= 0:
        return 0
    return math.floor(age_seconds / (2 * report_interval))


def next_record(previous: AgentRecord | None, report: AgentReport, received_at: float) -> AgentRecord:
    """The record after `report` arrives: totals carry on from the previous record."""
    if previous is None:
        return AgentRecord(report, received_at, report_count=1, missed_keepalives=0)
    missed = missed_windows(received_at - previous.last_updated, previous.report.report_interval)
    rebooted = node_rebooted(previous.report, report)
    return AgentRecord(
        report,
        received_at,
        report_count=previous.report_count + 1,
        missed_keepalives=previous.missed_keepalives + missed,
        reboots=previous.reboots + rebooted,
        last_boot_timestamp=received_at - report.uptime if rebooted else previous.last_boot_timestamp,
    )


def node_rebooted(previous: AgentReport, report: AgentReport) -> bool:
    """Uptime only goes down when the node boots again (0 is Go's 'not sent', not a boot)."""
    same_node = previous.nodename == report.nodename
    return same_node and 0 < report.uptime < previous.uptime


TRUNCATED_KEY = "truncated"
"""In GET /api/v1/agents/{pod}, only when some field was kept in part: the names of those fields."""


def record_to_json(record: AgentRecord) -> dict[str, Any]:
    """The record as the original API shows it: report fields plus `last_updated`; plus
    `truncated` when a field was kept in part (absent otherwise, so the shape is the original's)."""
    fields = _original_fields(record)
    if record.report.truncated:
        fields[TRUNCATED_KEY] = list(record.report.truncated)
    return fields


def _original_fields(record: AgentRecord) -> dict[str, Any]:
    report = record.report
    return {
        "report_interval": report.report_interval,
        "nodename": report.nodename,
        "podname": report.podname,
        "hostdate": report.hostdate,
        "last_updated": format_timestamp(record.last_updated),
        "uptime": report.uptime,
        "nslookup": {host: list(addresses) for host, addresses in report.nslookup.items()},
        "ips": {name: list(cidrs) for name, cidrs in report.ips.items()},
        "network_probes": [_probe_to_json(probe) for probe in report.network_probes],
    }


def _probe_to_json(probe: NetworkProbe) -> dict[str, Any]:
    phases = dict(probe.phase_ms)
    return {
        "URL": probe.url,
        "ConnectionResult": probe.connection_result,
        "HTTPCode": probe.http_code,
        # Not timed: the agent's own value, so the API shows what the original server showed.
        **{key: _or_saturated(phases[phase]) for phase, key in PROBE_PHASES},
    }


def _or_saturated(milliseconds: int | None) -> int:
    return GO_SATURATED_MS if milliseconds is None else milliseconds


STORED_COUNTERS_KEY = "netchecker"
"""Where a stored record keeps its running totals, apart from the original's fields."""


def record_to_stored_json(record: AgentRecord) -> dict[str, Any]:
    """The record as a store keeps it: the original's fields plus our own object (running totals,
    the truncation marker)."""
    counters: dict[str, Any] = {
        "report_count": record.report_count,
        "missed_keepalives": record.missed_keepalives,
        "last_updated_epoch": record.last_updated,
        "reboots": record.reboots,
        "last_boot_epoch": record.last_boot_timestamp,
    }
    if record.report.truncated:
        counters[TRUNCATED_KEY] = list(record.report.truncated)
    return {**_original_fields(record), STORED_COUNTERS_KEY: counters}


def record_from_stored_json(
    data: Any, *, max_probes: int = MAX_PROBES_LIMIT, max_field_bytes: int = MAX_STORED_FIELD_BYTES_LIMIT
) -> AgentRecord:
    """Rebuild a record written by record_to_stored_json, validating it like a report: a value
    written by another version or by hand must not reach a metric unchecked."""
    if not isinstance(data, dict):
        raise InvalidReportError("stored record must be a JSON object")
    podname = validate_pod_name(read_field(data, "podname", str, required=True))
    counters = data.get(STORED_COUNTERS_KEY)
    if not isinstance(counters, dict):
        raise InvalidReportError(f"stored record lacks '{STORED_COUNTERS_KEY}'")
    epoch = counters.get("last_updated_epoch")
    if not isinstance(epoch, int | float) or isinstance(epoch, bool) or not 0 <= epoch < 2**36:
        raise InvalidReportError("stored record has no finite 'last_updated_epoch'")
    return AgentRecord(
        report=_report_from_fields(data, podname, max_probes, max_field_bytes, _stored_truncated(counters)),
        last_updated=float(epoch),
        report_count=read_int(counters, "report_count", MAX_COUNTER, where="netchecker."),
        missed_keepalives=read_int(counters, "missed_keepalives", MAX_COUNTER, where="netchecker."),
        reboots=read_int(counters, "reboots", MAX_COUNTER, where="netchecker."),
        last_boot_timestamp=_optional_epoch(counters, "last_boot_epoch"),
    )


def _stored_truncated(counters: dict[str, Any]) -> tuple[str, ...]:
    """The fields a stored record marks as kept in part (older records have no marker)."""
    value = counters.get(TRUNCATED_KEY, [])
    if not isinstance(value, list) or not all(item in TRUNCATABLE_FIELDS for item in value):
        raise InvalidReportError(
            f"stored record's 'netchecker.{TRUNCATED_KEY}' must list {TRUNCATABLE_FIELDS}"
        )
    return tuple(value)


def _optional_epoch(counters: dict[str, Any], key: str) -> float | None:
    """A stored epoch that older records lack (None) or hold as a number."""
    value = counters.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 2**36:
        raise InvalidReportError(f"stored record's 'netchecker.{key}' must be a finite epoch")
    return float(value)
