"""What a record keeps of a report's `ips` and `nslookup`: all of it up to the stored field bound
per field, measured as the compact JSON a store writes; beyond it a fair share of the bound for
each entry, the largest cut to a prefix, marked truncated.

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
from operator import add, itemgetter
from typing import Any

from netchecker_exporter.errors import InvalidReportError
from netchecker_exporter.report_values import check_text

DEFAULT_MAX_STORED_FIELD_BYTES = 32 * 1024
"""A host-network agent on a node with 250 pods in a cluster of 10,000 Services sends 196 KB of
`ips`: 10,000 kube-ipvs0 /32s (identical on every node, 180 KB) and 250 cali* veths. This keeps
every interface whole and a prefix of kube-ipvs0, and two fields at it plus a real agent's probes
fit the record etcd allows one of 12,000 agents, 89,478 bytes (docs/big-nodes.md)."""
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
    per-string cap), so whether a report is refused never depends on the bound; then what fits in
    `max_bytes` is kept (keep_within)."""
    value = payload.get(key)
    if value is None:  # Go marshals a nil map as null
        return BoundedStringLists({}, truncated=False)
    if not isinstance(value, dict):
        raise InvalidReportError(f"field '{key}' must be an object of string lists")
    _check_strings(list(value), f"{key} (a key)")
    checked = [(sys.intern(name), _string_list(items, key, name)) for name, items in value.items()]
    return keep_within(checked, max_bytes)


def keep_within(entries: list[tuple[str, tuple[str, ...]]], max_bytes: int) -> BoundedStringLists:
    """All of `entries` if their compact JSON object fits in `max_bytes`; beyond it a max-min fair
    share (water-filling) of the bytes: entries that cost no more than the level stay whole, larger
    ones keep a prefix of their strings, so the largest are cut first (on a busy node only the
    kube-ipvs0 ClusterIPs, not a single interface). Entries stay in the agent's order, and each kept
    holds at least one string: only when even that does not fit for all of them are the last ones,
    in the agent's order, left out whole."""
    if not entries:
        return BoundedStringLists({}, truncated=False)
    budget = max_bytes - 1  # what the braces leave, plus the comma the last entry does not have
    # An entry costs at least 6 bytes ("":[] and a comma), so no more than this many can be kept,
    # and a list is sized only as far as the budget: a hostile body's work is the bound's, not its.
    candidates = entries[: max(budget, 0) // 6 + 1]
    names = list(map(itemgetter(0), candidates))
    lists = list(map(itemgetter(1), candidates))
    heads = list(map(add, map(len, map(encode_basestring_ascii, names)), repeat(2)))  # "name": and ,
    sized = (items[: max(budget, 0) // 3 + 1] for items in lists)  # over the budget iff the list is
    costs = list(map(add, heads, map(len, map(_compact_json, sized))))
    if len(candidates) == len(entries) and sum(costs) <= budget:
        return BoundedStringLists(dict(entries), truncated=False)
    # The least an entry may keep: its first string (never an empty list it did not send: in
    # nslookup that says "lookup failed"). Those that do not all fit: the first that do.
    least = list(map(min, costs, map(add, heads, map(_first_string_bytes, lists))))
    served = bisect_right(list(accumulate(least)), budget)
    if not served:
        return BoundedStringLists({}, truncated=True)
    costs, least = costs[:served], least[:served]
    level = _water_level(costs, least, budget)
    kept: dict[str, tuple[str, ...]] = {}
    for name, items, head, cost, floor in zip(names, lists, heads, costs, least, strict=False):
        if cost <= level:
            kept[name] = items
        else:  # inside the brackets: its share less the head
            kept[name] = items[: _strings_that_fit(items, max(level, floor) - head - 2)]
    return BoundedStringLists(kept, truncated=True)


def _first_string_bytes(items: tuple[str, ...]) -> int:
    """The brackets and the first string, as compact JSON ([] when the agent sent none)."""
    return 2 + (len(encode_basestring_ascii(items[0])) if items else 0)


def _water_level(costs: list[int], least: list[int], budget: int) -> int:
    """The highest level at which every entry taking min(cost, max(level, least)) fits in `budget`.
    The total grows with the level, so a bisection finds it; each total is one pass in C."""

    def total(level: int) -> int:
        return sum(map(min, costs, map(max, least, repeat(level))))

    return bisect_right(range(max(costs) + 1), budget, key=total) - 1


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
