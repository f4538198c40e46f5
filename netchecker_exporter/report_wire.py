"""The agent's report, and a stored record, from their raw bytes: decoded and validated in one
compiled pass (msgspec).

Pure: no I/O. The Structs below hold the contract of report.py's reader (types, ranges, lengths,
no control characters in labels), so a report that passes them needs no second look in Python.
A body they refuse is read again by report.parse_report (a record by record_from_stored_json),
whose message names the field exactly as before (COMPAT.md): refusals are rare, and their wording
is the contract, not msgspec's.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Literal

import msgspec

from netchecker_exporter.errors import InvalidReportError
from netchecker_exporter.padding import strip_padding
from netchecker_exporter.report import (
    DEFAULT_MAX_PROBES,
    MAX_PROBES_LIMIT,
    MAX_REPORT_INTERVAL_SECONDS,
    POD_NAME_MAX_LENGTH,
    PROBE_PHASES,
    SHARED_PHASE_MS_BELOW,
    AgentRecord,
    AgentReport,
    NetworkProbe,
    parse_report,
    parse_timestamp,
    phase_times,
    record_from_stored_json,
    shared_phase_times,
    validate_pod_name,
)
from netchecker_exporter.report_values import (
    GO_SATURATED_MS,
    MAX_COUNTER,
    MAX_HOSTDATE_BYTES,
    MAX_HTTP_CODE,
    MAX_LABEL_BYTES,
    MAX_PHASE_MS,
    MAX_UPTIME_SECONDS,
    MAX_URL_BYTES,
)
from netchecker_exporter.stored_fields import (
    DEFAULT_MAX_STORED_FIELD_BYTES,
    MAX_ITEM_BYTES,
    MAX_STORED_FIELD_BYTES_LIMIT,
    keep_within,
)

_NO_CONTROL = "\\A[^\x00-\x1f\x7f-\x9f]*\\Z"
"""A label holds no control character (report_values.check_text); \\Z, as $ would allow a final newline."""
_MAX_JSON_GROWTH = 6
"""The most bytes json.dumps writes per body byte of a string (a raw DEL becomes \\u007f): a field
of a body this many times under the stored field bound fits it whole (stored_fields.keep_within)."""

Label = Annotated[str, msgspec.Meta(max_length=MAX_LABEL_BYTES, pattern=_NO_CONTROL)]
Url = Annotated[str, msgspec.Meta(max_length=MAX_URL_BYTES, pattern=_NO_CONTROL)]
Item = Annotated[str, msgspec.Meta(max_length=MAX_ITEM_BYTES)]
PhaseMs = Annotated[int, msgspec.Meta(ge=0, le=GO_SATURATED_MS)]
StringLists = dict[Item, list[Item] | None]
# A max_length counts characters; the bounds are in UTF-8 bytes, so a string that is not ASCII
# is measured again (_utf8_within). Absent and null are Go's zero value, as in report_values.


class WireProbe(msgspec.Struct, gc=False):
    """One entry of `network_probes`, as the Go agent names its fields."""

    url: Url | None = msgspec.field(default=None, name="URL")
    connection_result: Annotated[int, msgspec.Meta(ge=0, le=1)] | None = msgspec.field(
        default=None, name="ConnectionResult"
    )
    http_code: Annotated[int, msgspec.Meta(ge=0, le=MAX_HTTP_CODE)] | None = msgspec.field(
        default=None, name="HTTPCode"
    )
    total: PhaseMs | None = msgspec.field(default=None, name="Total")
    content_transfer: PhaseMs | None = msgspec.field(default=None, name="ContentTransfer")
    tcp_connection: PhaseMs | None = msgspec.field(default=None, name="TCPConnection")
    dns_lookup: PhaseMs | None = msgspec.field(default=None, name="DNSLookup")
    connect: PhaseMs | None = msgspec.field(default=None, name="Connect")
    server_processing: PhaseMs | None = msgspec.field(default=None, name="ServerProcessing")


class WireReport(msgspec.Struct, gc=False):
    """The report's fields; others (newer agents', the padding) are skipped unread."""

    podname: Annotated[str, msgspec.Meta(max_length=POD_NAME_MAX_LENGTH)] | None = None
    nodename: Label | None = None
    report_interval: Annotated[int, msgspec.Meta(ge=1, le=MAX_REPORT_INTERVAL_SECONDS)] | None = None
    hostdate: Annotated[str, msgspec.Meta(max_length=MAX_HOSTDATE_BYTES)] | None = None
    uptime: Annotated[int, msgspec.Meta(ge=0, le=MAX_UPTIME_SECONDS)] | None = None
    nslookup: StringLists | None = None
    ips: StringLists | None = None
    network_probes: list[WireProbe] | None = None


Counter = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNTER)]
Epoch = Annotated[float, msgspec.Meta(ge=0, lt=2**36)]


class WireCounters(msgspec.Struct, gc=False):
    """A stored record's own object (report.record_to_stored_json): the running totals."""

    last_updated_epoch: Epoch
    report_count: Counter | None = None
    missed_keepalives: Counter | None = None
    reboots: Counter | None = None
    last_boot_epoch: Epoch | None = None
    truncated: list[Literal["ips", "nslookup"]] = msgspec.field(default_factory=list)


class WireStoredRecord(WireReport, gc=False):
    """A record as the etcd store keeps it: the report's fields (and `last_updated`, not read
    back: `netchecker.last_updated_epoch` says it), plus the totals."""

    netchecker: WireCounters | None = None


_decoder = msgspec.json.Decoder(WireReport)
_stored_decoder = msgspec.json.Decoder(WireStoredRecord)


class _RefusedError(Exception):
    """The fast path cannot accept the body; parse_report says why, in the contract's words."""


def decode_report(
    body: bytes,
    url_pod_name: str,
    *,
    max_probes: int = DEFAULT_MAX_PROBES,
    max_field_bytes: int = DEFAULT_MAX_STORED_FIELD_BYTES,
) -> AgentReport:
    """The validated report POSTed as `body` to /api/v1/agents/<url_pod_name>: the same report,
    or the same InvalidReportError, as json.loads and parse_report give."""
    try:
        wire = _decoder.decode(body)
        whole = len(body) * _MAX_JSON_GROWTH <= max_field_bytes
        return _report(wire, url_pod_name, max_probes, max_field_bytes, whole=whole)
    except (msgspec.DecodeError, msgspec.ValidationError, _RefusedError):
        pass
    return parse_report(
        loads_report(body), url_pod_name, max_probes=max_probes, max_field_bytes=max_field_bytes
    )


def decode_stored_record(value: bytes) -> AgentRecord:
    """The record a store wrote as `value`: the same record, or the same error (ValueError for
    JSON, InvalidReportError naming the field), as json.loads and record_from_stored_json give."""
    try:
        wire = _stored_decoder.decode(value)
        return _record(wire, whole=len(value) * _MAX_JSON_GROWTH <= MAX_STORED_FIELD_BYTES_LIMIT)
    except (msgspec.DecodeError, msgspec.ValidationError, _RefusedError):
        pass
    return record_from_stored_json(json.loads(value))


def _record(wire: WireStoredRecord, *, whole: bool) -> AgentRecord:
    """As record_from_stored_json: read against the highest limits, so no replica cuts again."""
    counters, podname = wire.netchecker, wire.podname
    if counters is None or podname is None:
        raise _RefusedError
    marked = tuple(counters.truncated)
    limits = (MAX_PROBES_LIMIT, MAX_STORED_FIELD_BYTES_LIMIT)
    return AgentRecord(
        report=_report(wire, podname, *limits, whole=whole, marked_truncated=marked),
        last_updated=counters.last_updated_epoch,
        report_count=counters.report_count or 0,
        missed_keepalives=counters.missed_keepalives or 0,
        reboots=counters.reboots or 0,
        last_boot_timestamp=counters.last_boot_epoch,
    )


def loads_report(body: bytes) -> Any:
    """The body as json.loads reads it, with its error as a 400 (the original answered 500)."""
    try:
        return json.loads(strip_padding(body))
    except (ValueError, RecursionError) as error:
        raise InvalidReportError(f"body is not valid JSON: {error}") from None


def _report(  # noqa: PLR0913 (the limits and the stored marker, each passed by its caller)
    wire: WireReport,
    podname: str,
    max_probes: int,
    max_field_bytes: int,
    *,
    whole: bool,
    marked_truncated: tuple[str, ...] = (),
) -> AgentReport:
    """The report of `podname` (the URL's, or the stored record's own) from what msgspec read."""
    if wire.podname != podname or wire.report_interval is None:
        raise _RefusedError
    validate_pod_name(podname)
    nodename, hostdate = wire.nodename or "", wire.hostdate or ""
    _utf8_within(nodename, MAX_LABEL_BYTES)
    _utf8_within(hostdate, MAX_HOSTDATE_BYTES)
    if hostdate:
        try:
            parse_timestamp(hostdate, "hostdate")
        except InvalidReportError:
            raise _RefusedError from None  # parse_report names it, after the fields it checks first
    nslookup, cut_nslookup = _string_lists(wire.nslookup, max_field_bytes, whole=whole)
    ips, cut_ips = _string_lists(wire.ips, max_field_bytes, whole=whole)
    return AgentReport(
        podname=podname,
        nodename=sys.intern(nodename),
        report_interval=wire.report_interval,
        hostdate=hostdate,
        uptime=wire.uptime or 0,
        nslookup=nslookup,
        ips=ips,
        network_probes=_probes(wire.network_probes, max_probes),
        # stored_fields' order; a stored record keeps its marker, as report._report_from_fields
        truncated=("ips",) * (cut_ips or "ips" in marked_truncated)
        + ("nslookup",) * (cut_nslookup or "nslookup" in marked_truncated),
    )


def _utf8_within(text: str, max_bytes: int) -> None:
    if not text.isascii() and len(text.encode("utf-8")) > max_bytes:
        raise _RefusedError


def _string_lists(
    value: dict[str, list[str] | None] | None, max_bytes: int, *, whole: bool
) -> tuple[dict[str, tuple[str, ...]], bool]:
    """`ips` / `nslookup` as stored_fields keeps them: interned, within the bound, truncated or not."""
    if not value:
        return {}, False
    entries = {
        sys.intern(name): tuple(map(sys.intern, items)) if items else () for name, items in value.items()
    }
    for name, items in entries.items():
        if not (name.isascii() and all(map(str.isascii, items))):
            _utf8_items_within((name, *items))
    if whole:
        return entries, False
    bounded = keep_within(list(entries.items()), max_bytes)
    return bounded.entries, bounded.truncated


def _utf8_items_within(strings: tuple[str, ...]) -> None:
    if max(map(len, map(str.encode, strings))) > MAX_ITEM_BYTES:
        raise _RefusedError


def _probes(wires: list[WireProbe] | None, max_probes: int) -> tuple[NetworkProbe, ...]:
    """First probe per URL, as report._probes keeps them."""
    if not wires:
        return ()
    if len(wires) > max_probes:
        raise _RefusedError
    probes: dict[str, NetworkProbe] = {}
    for wire in wires:
        probe = _probe(wire)
        probes.setdefault(probe.url, probe)
    return tuple(probes.values())


def _probe(wire: WireProbe) -> NetworkProbe:
    url = wire.url or ""
    _utf8_within(url, MAX_URL_BYTES)
    sent = (
        wire.total or 0,
        wire.content_transfer or 0,
        wire.tcp_connection or 0,
        wire.dns_lookup or 0,
        wire.connect or 0,
        wire.server_processing or 0,
    )
    longest = max(sent)
    if longest < SHARED_PHASE_MS_BELOW:
        phase_ms = shared_phase_times(tuple(zip(_PHASE_NAMES, sent, strict=True)))
    else:  # Go's saturated duration, or out of range
        times: tuple[int | None, ...] = tuple(map(_timed_ms, sent)) if longest > MAX_PHASE_MS else sent
        phase_ms = phase_times(zip(_PHASE_NAMES, times, strict=True))
    return NetworkProbe(
        url=sys.intern(url),
        connection_result=wire.connection_result or 0,
        http_code=wire.http_code or 0,
        phase_ms=phase_ms,
    )


_PHASE_NAMES = tuple(name for name, _key in PROBE_PHASES)
"""WireProbe's phases in PROBE_PHASES' order (a test holds the two in step)."""


def _timed_ms(value: int) -> int | None:
    """As report_values.read_phase_ms: Go's saturated duration is None (not timed)."""
    if value == GO_SATURATED_MS:
        return None
    if value > MAX_PHASE_MS:
        raise _RefusedError
    return value
