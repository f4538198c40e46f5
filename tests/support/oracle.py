"""The test oracle: prometheus_client's own rendering of a Snapshot, which the fast writer must equal.

SnapshotCollector rebuilds every family from the Snapshot at each collect, and oracle_body() is
prometheus_client's bytes of it; render_snapshot() is the fast writer's bytes for one Snapshot.
None ships in the package: only tests compare them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import Collector

from netchecker_exporter.check import AgentVerdict
from netchecker_exporter.metrics.agent_families import AGENT_FAMILIES, LEGACY_FAMILIES, newest_by_legacy_agent
from netchecker_exporter.metrics.client_families import checked_samples, metric_family, server_families
from netchecker_exporter.metrics.diagnosis_metrics import diagnosis_families
from netchecker_exporter.metrics.exposition import AgentCache, RenderedSnapshot
from netchecker_exporter.metrics.families import (
    CLUSTER_FAMILIES,
    HEALTH_FAMILIES,
    LegacyRow,
    Sample,
    ServerState,
)
from netchecker_exporter.snapshot import Snapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AgentSamples:
    """One verdict's samples: per agent family, and per legacy family under its legacy label."""

    verdict: AgentVerdict
    agent: tuple[list[Sample], ...]
    legacy: tuple[list[Sample], ...]


def sample_agent(verdict: AgentVerdict, *, legacy_metrics: bool) -> AgentSamples:
    """Every sample of one agent; raises when any of them cannot be read."""
    row = LegacyRow(verdict.legacy_agent_label, verdict)
    return AgentSamples(
        verdict,
        tuple(checked_samples(family, verdict) for family in AGENT_FAMILIES),
        tuple(checked_samples(family, row) for family in LEGACY_FAMILIES)
        if legacy_metrics and verdict.record is not None
        else (),
    )


class SnapshotCollector(Collector):
    """A custom collector over whatever Snapshot `snapshot` returns at collect time."""

    def __init__(
        self, snapshot: Callable[[], Snapshot], *, version: str, legacy_metrics: bool = True
    ) -> None:
        self._snapshot = snapshot
        self._version = version
        self._legacy = legacy_metrics

    def collect(self) -> Iterator[Metric]:
        snapshot = self._snapshot()
        rendered: list[AgentSamples] = []
        for verdict in snapshot.verdicts:
            try:
                rendered.append(sample_agent(verdict, legacy_metrics=self._legacy))
            except Exception:  # the same defence as agent_lines: skip, log, count (below)
                log.exception("agent %s cannot be rendered; left out of /metrics", verdict.pod.name)
        state = ServerState(snapshot, self._version, len(snapshot.verdicts) - len(rendered))
        if self._legacy:
            yield from self._legacy_families(rendered)
        yield from server_families(CLUSTER_FAMILIES, state)
        for index, family in enumerate(AGENT_FAMILIES):
            yield metric_family(family, (s for agent in rendered for s in agent.agent[index]))
        yield from server_families(HEALTH_FAMILIES, state)
        yield from diagnosis_families(snapshot.diagnosis, snapshot.history)

    @staticmethod
    def _legacy_families(rendered: list[AgentSamples]) -> Iterator[Metric]:
        by_verdict = {id(agent.verdict): agent for agent in rendered}
        newest = newest_by_legacy_agent(agent.verdict for agent in rendered)
        for index, family in enumerate(LEGACY_FAMILIES):
            rows = (by_verdict[id(row.verdict)].legacy[index] for row in newest)
            yield metric_family(family, (sample for samples in rows for sample in samples))


def render_snapshot(
    snapshot: Snapshot, version: str, *, open_metrics: bool, legacy_metrics: bool = True
) -> bytes:
    """The fast writer's bytes for `snapshot`'s part of a scrape, to compare with SnapshotCollector."""
    runs, unrenderable = AgentCache(legacy_metrics=legacy_metrics).update(snapshot.verdicts)
    rendered = RenderedSnapshot(snapshot, runs, unrenderable, legacy_metrics=legacy_metrics)
    return b"".join(rendered.chunks(version, open_metrics=open_metrics))


def oracle_body(snapshot: Snapshot, version: str, *, open_metrics: bool) -> bytes:
    """prometheus_client's bytes for `snapshot`'s part of a scrape (OpenMetrics without its # EOF)."""
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: snapshot, version=version))
    if open_metrics:
        data: bytes = openmetrics.generate_latest(registry)  # type: ignore[no-untyped-call]
        return data.removesuffix(b"# EOF\n")
    return generate_latest(registry)
