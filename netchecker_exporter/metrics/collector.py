"""The family table as prometheus_client families: a custom Collector over a Snapshot; never does I/O.

Families are rebuilt from the Snapshot at every collect, so an agent whose pod is gone simply
stops appearing. /metrics encodes the small server-wide families with this; the per-agent ones
are written by agent_lines.py, and tests hold both byte-identical through SnapshotCollector.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from netchecker_exporter.check import AgentVerdict
from netchecker_exporter.metrics.agent_families import AGENT_FAMILIES, LEGACY_FAMILIES, newest_by_legacy_agent
from netchecker_exporter.metrics.diagnosis_metrics import diagnosis_families
from netchecker_exporter.metrics.families import (
    CLUSTER_FAMILIES,
    HEALTH_FAMILIES,
    Family,
    LegacyRow,
    Row,
    Sample,
    ServerState,
)
from netchecker_exporter.snapshot import Snapshot

log = logging.getLogger(__name__)

_KINDS: dict[str, Callable[..., Metric]] = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily}


def checked_samples(family: Family[Row], row: Row) -> list[Sample]:
    """The family's samples for `row`, refusing a label that is not text (a record from an older version)."""
    samples = list(family.samples(row))
    for labels, _ in samples:
        if not all(isinstance(value, str) for value in labels):
            raise TypeError(f"{family.name}: a label value is not a string: {labels!r}")
    return samples


def metric_family(family: Family[Any], samples: Iterable[Sample]) -> Metric:
    """A prometheus_client family with `samples`."""
    if family.kind == "info":
        info = InfoMetricFamily(family.name, family.help, labels=[])
        for labels, _ in samples:
            info.add_metric([], dict(zip(family.labels, labels, strict=True)))
        return info
    metric: Any = _KINDS[family.kind](family.name, family.help, labels=list(family.labels))
    for labels, value in samples:
        metric.add_metric(list(labels), value)
    return metric  # type: ignore[no-any-return]


def server_families(families: Sequence[Family[ServerState]], state: ServerState) -> list[Metric]:
    return [metric_family(family, checked_samples(family, state)) for family in families]


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
