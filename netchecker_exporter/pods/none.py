"""Pod source `none`: with no cluster to ask, every agent that has reported is expected."""

from __future__ import annotations

from collections.abc import Mapping

from netchecker_exporter.check import ExpectedPod, pods_from_records
from netchecker_exporter.pods.base import PodSourceHealth
from netchecker_exporter.report import AgentRecord


class ReportedPodSource:
    """Expects exactly the agents with a live record: absent can never happen, outdated can."""

    kind = "none"
    reporters_are_expected = True

    def start(self) -> None:
        """Nothing to start."""

    def expected_pods(self, records: Mapping[str, AgentRecord]) -> tuple[ExpectedPod, ...]:
        return pods_from_records(records)

    def health(self) -> PodSourceHealth:
        """Up, with no origin to sync with: no sync timestamp (none is invented)."""
        return PodSourceHealth(up=True, last_sync_timestamp=None)

    def close(self) -> None:
        """Nothing to release."""
