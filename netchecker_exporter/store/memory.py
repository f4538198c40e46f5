"""The embedded default store: records in a dict, expiring after the report TTL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from netchecker_exporter.report import AgentRecord, AgentReport, next_record
from netchecker_exporter.store.base import StoreHealth


class MemoryStore:
    """Thread-safe in-process store; a restart forgets everything (use etcd to keep it)."""

    def __init__(self, *, report_ttl_seconds: float, clock: Callable[[], float] = time.time) -> None:
        self._ttl = report_ttl_seconds
        self._clock = clock
        self._records: dict[str, AgentRecord] = {}
        self._lock = threading.Lock()

    def put_report(self, report: AgentReport, received_at: float) -> AgentRecord:
        with self._lock:
            previous = self._live(self._records.get(report.podname), self._clock())
            record = next_record(previous, report, received_at)
            self._records[report.podname] = record
        return record

    def get_record(self, podname: str) -> AgentRecord | None:
        with self._lock:
            return self._live(self._records.get(podname), self._clock())

    def list_records(self) -> Mapping[str, AgentRecord]:
        now = self._clock()
        with self._lock:
            expired = [n for n, r in self._records.items() if self._live(r, now) is None]
            for name in expired:
                del self._records[name]
            return dict(self._records)

    def _live(self, record: AgentRecord | None, now: float) -> AgentRecord | None:
        if record is None or now - record.last_updated >= self._ttl:
            return None
        return record

    def health(self) -> StoreHealth:
        return StoreHealth(up=True)

    def close(self) -> None:
        """Nothing to release."""
