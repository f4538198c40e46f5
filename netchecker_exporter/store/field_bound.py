"""How much of `ips` and of `nslookup` a record keeps on a store with a bound per record.

Pure. Two bounds meet in one record: what it keeps of each string-list field (stored_fields.py) and
what one agent may store in etcd (record_size.py). If the first let a real agent's record outgrow
the second, that agent would get 413 on every report and go Outdated: the defect a byte bound on
the fields exists to prevent. So on etcd the field bound is derived from the record
bound, leaving room for the rest of a real agent's record, and -max-stored-field-bytes stays the
operator's upper bound; a record over the record bound then takes hostile probes, and 413 stays
for those (docs/big-nodes.md).
"""

from __future__ import annotations

from netchecker_exporter.stored_fields import TRUNCATABLE_FIELDS

OTHER_FIELDS_ALLOWANCE_BYTES = 16 * 1024
"""The rest of a record (names, dates, probes, our totals): 550 to 720 bytes for the captured agents,
and room for 32 probes with URLs of about 350 bytes each (16,120 bytes in all)."""
MIN_FIELD_BYTES = 4 * 1024
"""A floor for very large -max-agents: an interface or lookup list of a quiet node fits in it. Below
it the record bound, not the fields, is what a real agent runs into (docs/budgets.md)."""


def field_bytes_within_record(flag_bytes: int, max_record_bytes: int) -> int:
    """The bound per field: the flag's, at most what lets both fields and the allowance fit in
    `max_record_bytes`, never under the floor (or the flag, when that is lower still)."""
    share = (max_record_bytes - OTHER_FIELDS_ALLOWANCE_BYTES) // len(TRUNCATABLE_FIELDS)
    return min(flag_bytes, max(MIN_FIELD_BYTES, share))
