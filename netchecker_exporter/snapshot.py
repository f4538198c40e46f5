"""The immutable Snapshot that the reconcile loop builds and every view reads.

A module of its own so that views (collector, exposition, api) depend on the data, not on the
threaded loop that produces it.
"""

from __future__ import annotations

from dataclasses import dataclass

from netchecker_exporter.check import AgentVerdict
from netchecker_exporter.diagnosis.history import EMPTY_HISTORY, History
from netchecker_exporter.diagnosis.nodes import EMPTY_DIAGNOSIS, Diagnosis
from netchecker_exporter.pods.base import PodSourceHealth
from netchecker_exporter.store.base import StoreHealth


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything /metrics shows, as of one reconcile pass."""

    verdicts: tuple[AgentVerdict, ...]
    store: StoreHealth
    pod_source_kind: str
    pod_source: PodSourceHealth
    last_success_timestamp: float | None = None
    last_duration_seconds: float | None = None
    failures_total: int = 0
    diagnosis: Diagnosis = EMPTY_DIAGNOSIS
    """Per-node verdicts of the same pass (diagnosis/nodes.py): what the status page and node metrics show."""
    history: History = EMPTY_HISTORY
    """Each node's verdict and agent changes up to that pass (diagnosis/history.py)."""

    @property
    def reconciled(self) -> bool:
        """At least one pass has succeeded."""
        return self.last_success_timestamp is not None
