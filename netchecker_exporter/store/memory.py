"""The embedded default store: records in a dict, expiring after the report TTL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from netchecker_exporter.errors import MetricsBudgetError
from netchecker_exporter.report import AgentRecord, AgentReport, next_record
from netchecker_exporter.store.base import StoreHealth
from netchecker_exporter.store.capacity import AgentCapacity

UNBOUNDED = AgentCapacity(max_agents=2**63)


class MemoryStore:
    """Thread-safe in-process store; a restart forgets everything (use etcd to keep it)."""

    def __init__(
        self,
        *,
        report_ttl_seconds: float,
        clock: Callable[[], float] = time.time,
        capacity: AgentCapacity = UNBOUNDED,
    ) -> None:
        self._ttl = report_ttl_seconds
        self._clock = clock
        self._capacity = capacity
        self._records: dict[str, AgentRecord] = {}
        self._dropped_at = float("-inf")
        self._lock = threading.Lock()

    def put_report(self, report: AgentReport, received_at: float) -> AgentRecord:
        now = self._clock()
        with self._lock:
            previous = self._live(self._records.get(report.podname), now)
            self._admit(report, now, known=previous is not None)
            record = next_record(previous, report, received_at)
            self._records[report.podname] = record
        return record

    def _admit(self, report: AgentReport, now: float, *, known: bool) -> None:
        """Expired records are dropped before they could refuse a report (at most once a second:
        it is O(agents)), so they never hold a slot or a share of the budget for long."""
        if not known and len(self._records) >= self._capacity.max_agents:
            self._drop_expired_now(now)
        try:
            self._capacity.admit_report(report, known=known, count=len(self._records), names=self._names)
        except MetricsBudgetError:
            if not self._drop_expired_now(now):
                raise
            self._capacity.admit_report(report, known=known, count=len(self._records), names=self._names)

    def _names(self) -> list[str]:
        return list(self._records)

    def _drop_expired_now(self, now: float) -> bool:
        """Drop the expired records unless that was done less than a second ago; True if done."""
        if now - self._dropped_at < 1.0:
            return False
        self._drop_expired(now)
        return True

    def get_record(self, podname: str) -> AgentRecord | None:
        with self._lock:
            return self._live(self._records.get(podname), self._clock())

    def list_records(self) -> Mapping[str, AgentRecord]:
        now = self._clock()
        with self._lock:
            self._drop_expired(now)
            return dict(self._records)

    def _drop_expired(self, now: float) -> None:
        self._dropped_at = now
        expired = [n for n, r in self._records.items() if self._live(r, now) is None]
        for name in expired:
            del self._records[name]
        self._capacity.release(expired)
        if expired:  # a dict never shrinks its table on deletes; a copy is sized for what is left
            self._records = dict(self._records)

    def _live(self, record: AgentRecord | None, now: float) -> AgentRecord | None:
        if record is None or now - record.last_updated >= self._ttl:
            return None
        return record

    def health(self) -> StoreHealth:
        return StoreHealth(up=True)

    def close(self) -> None:
        """Nothing to release."""
