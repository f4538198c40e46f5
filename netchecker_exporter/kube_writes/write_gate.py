"""Which diagnoses the Kubernetes writers may act on: new ones, from healthy passes, once settled.

Pure. The diagnosis keeps the last known verdicts through a store or API-server outage (a failed
pass keeps the previous Snapshot's); but right after one, and right after start-up, the records
may be older than the agents' last try, and every node would look unreachable. So the writers wait
one settle time (the start-up grace) after start and after any unhealthy pass, as the agents do.
"""

from __future__ import annotations

from netchecker_exporter.diagnosis.nodes import Diagnosis
from netchecker_exporter.snapshot import Snapshot


class WriteGate:
    def __init__(self, *, settle_seconds: float, now: float) -> None:
        self._settle = settle_seconds
        self._healthy_since = now
        self._failures = 0
        self._admitted_at: float | None = None

    def admit(self, snapshot: Snapshot, now: float) -> Diagnosis | None:
        """The Snapshot's diagnosis if the writers may act on it now, else None."""
        unhealthy = (
            not snapshot.store.up
            or not snapshot.pod_source.up
            or not snapshot.reconciled
            or snapshot.failures_total != self._failures
        )
        self._failures = snapshot.failures_total
        if unhealthy:
            self._healthy_since = now
            return None
        diagnosis = snapshot.diagnosis
        if now - self._healthy_since < self._settle or diagnosis.at == 0.0:
            return None
        if self._admitted_at is not None and diagnosis.at <= self._admitted_at:
            return None
        self._admitted_at = diagnosis.at
        return diagnosis

    def settling(self, now: float) -> bool:
        return now - self._healthy_since < self._settle
