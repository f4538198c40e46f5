"""The ReportStore protocol every store implements (memory, etcd)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from netchecker_exporter.report import AgentRecord, AgentReport


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """Whether the store answered its last request, for /readyz and netchecker_store_up."""

    up: bool
    detail: str = ""


class ReportStore(Protocol):
    """Keeps the last record per agent; records expire after the report TTL.

    Reads are served from memory (a mirror, for remote stores) so they never block on I/O.
    Writes raise StoreUnavailableError when the write cannot be made durable.
    """

    def put_report(self, report: AgentReport, received_at: float) -> AgentRecord:
        """Store `report` as the agent's newest record (totals carried on) and return it."""
        ...

    def get_record(self, podname: str) -> AgentRecord | None:
        """The agent's live record, or None."""
        ...

    def list_records(self) -> Mapping[str, AgentRecord]:
        """Every live record by pod name (a snapshot the caller may keep)."""
        ...

    def health(self) -> StoreHealth: ...

    def close(self) -> None:
        """Release connections and threads; idempotent."""
        ...
