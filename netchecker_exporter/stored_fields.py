"""What a record keeps of a report's `ips` and `nslookup`: all of it up to -max-stored-field-bytes
per field, measured as the compact JSON a store writes; beyond that a prefix, marked truncated.

Pure. A host-network agent lists every interface of its node with all its addresses: one veth per
pod and, in kube-proxy's IPVS mode, one kube-ipvs0 address per Service, thousands of entries on a
real node (COMPAT.md). A count cap refused those reports, and the node's agent went Outdated; a
byte bound keeps what a record costs in memory, in etcd and in GET /api/v1/agents/ bounded without
refusing anyone (docs/big-nodes.md). Nothing but the API view reads these fields
beyond `nslookup`'s host names, and none of them reaches /metrics.
"""

from __future__ import annotations

import json
import sys
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate, repeat
from json.encoder import encode_basestring_ascii
from operator import add
from typing import Any

from netchecker_exporter.errors import InvalidReportError
from netchecker_exporter.report_values import check_text

DEFAULT_MAX_STORED_FIELD_BYTES = 512 * 1024
"""A host-network agent on a node with 250 pods in a cluster of 10,000 Services sends 196 KB of
`ips` (10,000 kube-ipvs0 /32s, 250 cali* veths): this keeps all of it 2.7 times over, and a
dual-stack cluster's 512 KB (another 10,000 /128s) too (docs/big-nodes.md)."""
MAX_STORED_FIELD_BYTES_LIMIT = 640 * 1024
"""The highest -max-stored-field-bytes: both fields at it, plus 32 probes of 2 KB URLs, stay under
etcd's default --max-request-bytes (1.5 MiB) for one record. Stored records are read back
against it, so a record that another replica kept under a larger setting is not cut again."""
MAX_ITEM_BYTES = 253
"""Each host name, interface name and address: a DNS name is at most 253 bytes."""
TRUNCATABLE_FIELDS = ("ips", "nslookup")


@dataclass(frozen=True, slots=True)
class BoundedStringLists:
    """The entries kept, in the agent's order, and whether any the agent sent were left out."""

    entries: dict[str, tuple[str, ...]]
    truncated: bool


def read_bounded_string_lists(payload: dict[str, Any], key: str, max_bytes: int) -> BoundedStringLists:
    """`ips` / `nslookup`: an object of string lists. Every entry is checked (types, Unicode, the
    per-string cap), so whether a report is refused never depends on the bound; then the entries
    are kept in order while their compact JSON fits in `max_bytes`, the first that does not fit
    with as many of its strings as do (if any do)."""
    value = payload.get(key)
    if value is None:  # Go marshals a nil map as null
        return BoundedStringLists({}, truncated=False)
    if not isinstance(value, dict):
        raise InvalidReportError(f"field '{key}' must be an object of string lists")
    _check_strings(list(value), f"{key} (a key)")
    checked = [(name, _string_list(items, key, name)) for name, items in value.items()]
    return keep_within(checked, max_bytes)


def keep_within(entries: list[tuple[str, tuple[str, ...]]], max_bytes: int) -> BoundedStringLists:
    """The longest prefix of `entries` whose compact JSON object is at most `max_bytes` long."""
    kept: dict[str, tuple[str, ...]] = {}
    used = 2  # the braces
    for name, items in entries:
        head = json_string_bytes(name) + 1 + (1 if kept else 0)  # "name": and a comma before it
        whole = head + len(_compact_json(items))
        if used + whole <= max_bytes:
            kept[name] = items
            used += whole
            continue
        fitting = _strings_that_fit(items, max_bytes - used - head - 2)  # inside the brackets
        if fitting:  # never an empty list it did not send: in nslookup that says "lookup failed"
            kept[name] = items[:fitting]
        return BoundedStringLists(kept, truncated=True)
    return BoundedStringLists(kept, truncated=False)


_compact_json = json.JSONEncoder(separators=(",", ":")).encode
"""What the stores write (json.dumps with these separators), in C for a whole list."""


def _strings_that_fit(items: tuple[str, ...], room: int) -> int:
    """How many of `items`, comma-separated, fit in `room` bytes. Each takes 3 at least ("" and a
    comma), so only that many are sized; the sums run in C: an entry may hold 340,000 strings."""
    if room < 0:
        return 0
    candidates = items[: room // 3 + 1]
    # ends[k - 1]: the bytes of the first k strings, with a comma after each
    ends = list(accumulate(map(add, map(len, map(encode_basestring_ascii, candidates)), repeat(1))))
    return bisect_right(ends, room + 1)


def json_string_bytes(text: str) -> int:
    """Bytes of `text` as a JSON string the way the stores write it: json.dumps (ASCII only) of a
    string is json.encoder's encode_basestring_ascii, called here directly, in C."""
    return len(encode_basestring_ascii(text))


def _string_list(items: Any, key: str, name: str) -> tuple[str, ...]:
    items = items or []  # Go marshals a nil slice as null
    if not isinstance(items, list) or not all(map(isinstance, items, repeat(str))):
        raise InvalidReportError(f"field '{key}.{name[:80]}' must be a list of strings")
    _check_strings(items, f"{key}.{name[:80]}")
    # Interned: every node's kube-ipvs0 lists the same ClusterIPs, so the records of a cluster share
    # one copy of each (10,000 Services: 80 KB a record instead of 700 KB). Freed with the records.
    return tuple(map(sys.intern, items))


def _check_strings(strings: list[str], field: str) -> None:
    """Each at most MAX_ITEM_BYTES of valid UTF-8. In C for the lot (a 1 MiB body holds 340,000
    strings); one by one only to name the first that fails."""
    try:
        if max(map(len, map(str.encode, strings)), default=0) <= MAX_ITEM_BYTES:
            return
    except UnicodeEncodeError:  # a lone surrogate, which json.loads makes of "\ud800"
        pass
    for text in strings:
        check_text(text, field, MAX_ITEM_BYTES)
