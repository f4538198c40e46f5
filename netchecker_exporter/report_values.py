"""The checks every value of an agent's report passes before it can become a label, a sample or a key.

Pure: no I/O. A client chooses these values, so each is bounded here, at ingest: a number in the
range its meaning allows, a string that is valid Unicode and of bounded length (docs/limits.md).
Whatever passes can be rendered in both exposition formats and as JSON.
"""

from __future__ import annotations

import re
from typing import Any

from netchecker_exporter.errors import InvalidReportError

MAX_HTTP_CODE = 999
MAX_PHASE_MS = 86_400_000
"""A day: the agent's HTTP client gives up after its report interval (at most a day) anyway."""
GO_SATURATED_MS = 9_223_372_036_854
"""Go's saturated time.Duration (math.MaxInt64 ns) in ms: the agent sends it for a phase it never
timed (e.g. DNSLookup or Total for a URL with an IP literal). Stored as None: not measured."""
MAX_UPTIME_SECONDS = 100 * 366 * 86_400
MAX_COUNTER = 2**53
"""Stored running totals: beyond this a float64 sample would no longer count by one."""
MAX_LABEL_BYTES = 253
"""Node names, like pod names, are DNS-1123 subdomains of at most 253 characters."""
MAX_URL_BYTES = 2048
MAX_HOSTDATE_BYTES = 64
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_ZERO_VALUES: dict[type, Any] = {str: "", int: 0}
_KIND_NAMES = {str: "a string", int: "an integer"}


def read_field(obj: dict[str, Any], key: str, kind: type, *, required: bool = False, where: str = "") -> Any:
    """Read a typed field; absent or null means Go's zero value unless required."""
    value = obj.get(key)
    name = f"{where}{key}"
    if value is None:
        if required:
            raise InvalidReportError(f"field '{name}' is required")
        return _ZERO_VALUES[kind]
    # bool is a subclass of int in Python, but not a number in JSON.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidReportError(f"field '{name}' must be {_KIND_NAMES[kind]}")
    return value


def read_int(obj: dict[str, Any], key: str, high: int, *, low: int = 0, where: str = "") -> int:
    """An integer field within [low, high]: a 310-digit number must not reach a float sample."""
    value: int = read_field(obj, key, int, where=where)
    if not low <= value <= high:
        raise InvalidReportError(f"field '{where}{key}' must be an integer from {low} to {high}")
    return value


def read_phase_ms(obj: dict[str, Any], key: str, *, where: str) -> int | None:
    """A phase time in ms, or None for Go's saturated duration (the agent did not time it)."""
    value: int = read_field(obj, key, int, where=where)
    if value == GO_SATURATED_MS:
        return None
    if not 0 <= value <= MAX_PHASE_MS:
        raise InvalidReportError(
            f"field '{where}{key}' must be from 0 to {MAX_PHASE_MS} ms (or {GO_SATURATED_MS}: not timed)"
        )
    return value


def read_text(obj: dict[str, Any], key: str, max_bytes: int, *, label: bool = False, where: str = "") -> str:
    """A string field, valid Unicode, at most `max_bytes` in UTF-8, no control characters in labels."""
    value: str = read_field(obj, key, str, where=where)
    return check_text(value, f"{where}{key}", max_bytes, label=label)


def check_text(value: str, name: str, max_bytes: int, *, label: bool = False) -> str:
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:  # json.loads turns "\ud800" into a lone surrogate
        raise InvalidReportError(f"field '{name}' is not valid Unicode (a lone surrogate)") from None
    if size > max_bytes:
        raise InvalidReportError(f"field '{name}' is longer than {max_bytes} bytes")
    if label and _CONTROL.search(value):
        raise InvalidReportError(f"field '{name}' must not contain control characters")
    return value
