"""How large one agent's stored value in etcd may be, and the refusal of one that is larger.

Two limits of etcd's own bound it. A request over --max-request-bytes (1.5 MiB by default) is
refused by etcd, and retried it would hold the writer to its deadline and trip the breaker for
every agent; and every record lives in etcd's quota (--quota-backend-bytes, 2 GiB by default)
together with its history until compaction. So a value may take at most half the default quota
divided among -max-agents, and never more than fits in a request with room for the key and the
Txn's framing. docs/etcd.md has the arithmetic.
"""

from __future__ import annotations

from netchecker_exporter.errors import ReportTooLargeError

ETCD_DEFAULT_QUOTA_BYTES = 2 * 1024**3
RECORDS_SHARE_OF_QUOTA = 2
"""Live records may fill 1/2 of the quota; history between compactions and bbolt's free pages the rest."""
MAX_REQUEST_VALUE_BYTES = 1_400_000
"""Under etcd's default --max-request-bytes (1,572,864) with room for a 253-byte key, the compare
and range ops and the gRPC framing of a Txn that carries one pod."""


def max_stored_record_bytes(max_agents: int | None) -> int:
    """The largest value one agent may store: its share of half the default quota, at most a request."""
    if max_agents is None or max_agents <= 0:
        return MAX_REQUEST_VALUE_BYTES
    return min(MAX_REQUEST_VALUE_BYTES, ETCD_DEFAULT_QUOTA_BYTES // RECORDS_SHARE_OF_QUOTA // max_agents)


class StoredRecordTooLargeError(ReportTooLargeError):
    """The record a report makes would not fit in etcd (HTTP 413): that report's problem alone."""


def too_large(podname: str, size: int, limit: int) -> StoredRecordTooLargeError:
    return StoredRecordTooLargeError(
        f"the record of {podname[:253]!r} is {size} bytes when stored, over the {limit} bytes one agent "
        f"may store in etcd (half of etcd's default 2 GiB quota shared among -max-agents, at most "
        f"{MAX_REQUEST_VALUE_BYTES} for etcd's request limit): send fewer or shorter ips/nslookup entries"
    )


def refused_by_etcd(podname: str, size: int) -> StoredRecordTooLargeError:
    return StoredRecordTooLargeError(
        f"the record of {podname[:253]!r} is {size} bytes when stored, more than etcd accepts in one "
        "request (its --max-request-bytes is below the 1.5 MiB default)"
    )
