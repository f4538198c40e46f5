"""Pod source `none`: with no cluster to ask, every agent that has reported is expected."""

from __future__ import annotations

from collections.abc import Mapping

from netchecker_exporter.check import ExpectedPod, network_of_pod_name
from netchecker_exporter.pods.base import PodSourceHealth
from netchecker_exporter.report import AgentRecord


class ReportedPodSource:
    """Expects exactly the agents with a live record: absent can never happen, outdated can."""

    kind = "none"
    reporters_are_expected = True

    def __init__(self) -> None:
        self._by_name: dict[str, ExpectedPod] = {}
        self._pods: tuple[ExpectedPod, ...] = ()

    def start(self) -> None:
        """Nothing to start."""

    def expected_pods(self, records: Mapping[str, AgentRecord]) -> tuple[ExpectedPod, ...]:
        """check.pods_from_records(records); the same tuple as the last call while the names and
        their nodes stay the same (a full pass then judges only what changed: check.Judgement).
        Called by the reconcile pass only."""
        known = self._by_name
        if len(records) == len(known) and all(
            (pod := known.get(name)) is not None and pod.node == record.report.nodename
            for name, record in records.items()
        ):
            return self._pods
        pods: dict[str, ExpectedPod] = {}
        for name, record in records.items():
            pod = known.get(name)
            if pod is None or pod.node != record.report.nodename:
                pod = ExpectedPod(name=name, node=record.report.nodename, network=network_of_pod_name(name))
            pods[name] = pod
        self._by_name = pods
        self._pods = tuple(pods[name] for name in sorted(pods))
        return self._pods

    def health(self) -> PodSourceHealth:
        """Up, with no origin to sync with: no sync timestamp (none is invented)."""
        return PodSourceHealth(up=True, last_sync_timestamp=None)

    def close(self) -> None:
        """Nothing to release."""
