"""The PodSource protocol every pod source implements (none, static, kubernetes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from netchecker_exporter.check import ExpectedPod
from netchecker_exporter.report import AgentRecord


@dataclass(frozen=True, slots=True)
class PodSourceHealth:
    """Is the source in touch with its origin, and when did it last sync (epoch seconds)."""

    up: bool
    last_sync_timestamp: float | None


class PodSource(Protocol):
    """Tells which agent pods are expected to report.

    expected_pods() never does slow I/O: sources that talk to an API keep a cache current in the
    background (start() / close()) and raise PodSourceUnavailableError only when they have never
    synced; after an outage they keep serving the last known set.
    """

    kind: str
    reporters_are_expected: bool
    """True when every agent that reports is expected (no pod list of its own): a report from a name
    not judged yet then changes the expected set, and the loop runs a full pass for it."""

    def start(self) -> None: ...

    def expected_pods(self, records: Mapping[str, AgentRecord]) -> tuple[ExpectedPod, ...]:
        """The expected pods; `records` lets a source with no list of its own use the store."""
        ...

    def health(self) -> PodSourceHealth: ...

    def close(self) -> None: ...
