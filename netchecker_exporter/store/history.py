"""Where the diagnosis history is kept across restarts: the HistoryStore protocol, and the memory one.

The history itself lives in the reconciler (diagnosis/history.py) and is published with each
Snapshot; a store only restores it at start and takes the nodes that changed, without blocking.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Protocol

from netchecker_exporter.diagnosis.history import NodeHistory

NOTHING_STORED: Mapping[str, NodeHistory] = MappingProxyType({})


class HistoryStore(Protocol):
    def restored(self) -> Mapping[str, NodeHistory] | None:
        """The history stored before this process started, or None while it is still being read."""
        ...

    def save(self, changed: Mapping[str, NodeHistory]) -> None:
        """Queue these nodes' histories to be written; returns at once (writes are rate-bounded)."""
        ...

    def close(self) -> None:
        """Write what is queued (best effort, bounded in time) and stop; idempotent."""
        ...


class MemoryHistory:
    """The embedded store's history: in memory with the Snapshot, so a restart forgets it (as it
    forgets the reports); nothing to restore, nothing to write."""

    def restored(self) -> Mapping[str, NodeHistory]:
        return NOTHING_STORED

    def save(self, changed: Mapping[str, NodeHistory]) -> None:
        """The Snapshot holds it already."""

    def close(self) -> None:
        """Nothing to release."""
