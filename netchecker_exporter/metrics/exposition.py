"""/metrics at 10,000 agents: per-agent lines cached until the agent changes, assembled per Snapshot.

Each agent's lines are written once (agent_lines.py) and kept while its verdict shows the same
record, status and totals, so the scrape of a new Snapshot re-renders only the agents that changed
since the last scrape, and of those mostly the numbers (agent_renumber.py). The first scrape of a
Snapshot lays the cached lines out per family and every scrape of it reads that layout, joining
a run of agents at a time (segment_file.py); gzip scrapes share one compression per Snapshot
(gzip_body.py); the small server-wide families and the registry are encoded by prometheus_client
at every scrape.
"""

from __future__ import annotations

import functools
import io
import logging
import operator
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder, generate_latest, gzip_accepted
from prometheus_client.openmetrics import exposition as openmetrics

from netchecker_exporter.check import AgentVerdict
from netchecker_exporter.gil_slices import NO_PAUSE, GilSlices, Pause
from netchecker_exporter.metrics.agent_families import AGENT_FAMILIES, LEGACY_FAMILIES, newest_by_legacy_agent
from netchecker_exporter.metrics.agent_lines import AgentLines, render_agent
from netchecker_exporter.metrics.agent_renumber import renumbered
from netchecker_exporter.metrics.chunk_file import ChunkFile
from netchecker_exporter.metrics.client_families import metric_family, server_families
from netchecker_exporter.metrics.diagnosis_metrics import diagnosis_families
from netchecker_exporter.metrics.families import CLUSTER_FAMILIES, HEALTH_FAMILIES, Family, ServerState
from netchecker_exporter.metrics.gzip_body import DeflatedPrefix, deflate_prefix, gzip_chunks
from netchecker_exporter.metrics.segment_file import Segment, SegmentFile, joined, segment_size
from netchecker_exporter.metrics.shard import NO_SHARDING, MetricsShard, ShardedVerdicts
from netchecker_exporter.snapshot import Snapshot

log = logging.getLogger(__name__)

JOIN_AGENTS = 1024
"""Agents per joined piece of a family's body (0.1-1.5 MiB): joining the 53 MiB at once and then
compressing it took 3-4x as long as pieces this size (page faults, cache misses)."""


class _Families:
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return iter(self._families)


def encode(families: Iterable[Metric], *, open_metrics: bool) -> bytes:
    """prometheus_client's own encoding of `families` (OpenMetrics without its `# EOF`)."""
    collector: Any = _Families(families)
    if open_metrics:
        data: bytes = openmetrics.generate_latest(collector)  # type: ignore[no-untyped-call]
        return data.removesuffix(b"# EOF\n")
    return generate_latest(collector)


@functools.cache
def family_headers(families: tuple[Family[Any], ...], *, open_metrics: bool) -> tuple[bytes, ...]:
    """HELP and TYPE lines of each family: they never change."""
    return tuple(encode([metric_family(family, [])], open_metrics=open_metrics) for family in families)


class AgentCache:
    """Every expected agent's lines; an agent is written again only when its verdict's output changes,
    and then only its numbers when its labels did not (agent_renumber.py)."""

    def __init__(self, *, legacy_metrics: bool) -> None:
        self._legacy = legacy_metrics
        self._lines: dict[tuple[str, str], AgentLines] = {}
        self._logged: set[tuple[str, str]] = set()
        self._last: tuple[Sequence[AgentVerdict], list[AgentLines], int] | None = None

    def update(
        self, verdicts: Sequence[AgentVerdict], pause: Pause = NO_PAUSE
    ) -> tuple[list[AgentLines], int]:
        """The lines of every agent that renders, in verdict order, and how many could not;
        `pause` is called after each agent written (gil_slices.py)."""
        if self._last is not None and self._last[0] is verdicts:  # warm() did this Snapshot already
            return self._last[1], self._last[2]
        cache: dict[tuple[str, str], AgentLines] = {}
        lines: list[AgentLines] = []
        for verdict in verdicts:
            key = (verdict.pod.namespace, verdict.pod.name)
            cached = self._lines.get(key)
            if cached is None or (cached.verdict is not verdict and not cached.renders(verdict)):
                cached = self._render(key, verdict, cached)
                pause()
            if cached is not None:
                cache[key] = cached
                lines.append(cached)
        self._lines = cache  # departed agents vanish here
        if self._logged:  # and so do the departed among those logged as unrenderable
            self._logged &= {(verdict.pod.namespace, verdict.pod.name) for verdict in verdicts}
        self._last = (verdicts, lines, len(verdicts) - len(lines))
        return lines, len(verdicts) - len(lines)

    def _render(
        self, key: tuple[str, str], verdict: AgentVerdict, previous: AgentLines | None
    ) -> AgentLines | None:
        """Render-time defence: an agent that cannot render is left out, logged once, counted."""
        try:
            lines = self._renumbered(previous, verdict) or render_agent(verdict, legacy_metrics=self._legacy)
        except Exception:
            if key not in self._logged:
                self._logged.add(key)
                log.exception("agent %s/%s cannot be rendered; left out of /metrics", *key)
            return None
        self._logged.discard(key)
        return lines

    def _renumbered(self, previous: AgentLines | None, verdict: AgentVerdict) -> AgentLines | None:
        """The previous lines with the new numbers; None (write it whole) when that cannot be done,
        so a value that cannot render is refused by render_agent, as for a new agent."""
        if previous is None:
            return None
        try:
            return renumbered(previous, verdict, legacy_metrics=self._legacy)
        except Exception:
            return None


class RenderedSnapshot:
    """A Snapshot's agents as cached lines, laid out per family on the first scrape that reads them.

    The layout (segments: the small families encoded, the agents' lines as runs of references to
    the cached bytes) is kept with the Snapshot and shared by every reader of it; a text reader
    joins one run at a time as it reads (segment_file.py). Kept joined, the body would be a second
    copy of every line; joined per reader, 50 slow readers would hold 50
    (docs/budgets.md#views-rendered-once-shared-by-every-reader).
    """

    __slots__ = ("_legacy", "_segments", "_segments_lock", "agents", "legacy_metrics", "shard", "snapshot",
                 "unrenderable")  # fmt: skip

    def __init__(
        self,
        snapshot: Snapshot,
        agents: Sequence[AgentLines],
        unrenderable: int,
        *,
        legacy_metrics: bool,
        shard: MetricsShard = NO_SHARDING,
    ) -> None:
        self.snapshot = snapshot
        self.shard = shard
        """Which fleet families and which nodes' and targets' diagnosis series this body holds
        (`agents` are this shard's already)."""
        self.agents = agents
        self.unrenderable = unrenderable
        self.legacy_metrics = legacy_metrics
        self._legacy: list[AgentLines] | None = None
        self._segments: dict[bool, tuple[tuple[Segment, ...], int]] = {}
        self._segments_lock = threading.Lock()

    def segments(self, version: str, *, open_metrics: bool) -> tuple[tuple[Segment, ...], int]:
        """layout(), and its size in bytes, worked out by the first reader of this Snapshot and
        format and kept for the others (references to the cached lines: about 1 MiB)."""
        with self._segments_lock:
            laid_out = self._segments.get(open_metrics)
            if laid_out is None:
                segments = tuple(self.layout(version, open_metrics=open_metrics))
                laid_out = self._segments[open_metrics] = (segments, sum(map(segment_size, segments)))
            return laid_out

    def chunks(self, version: str, *, open_metrics: bool) -> Iterator[bytes]:
        """layout() joined, JOIN_AGENTS agents at a time."""
        return map(joined, self.layout(version, open_metrics=open_metrics))

    def layout(self, version: str, *, open_metrics: bool) -> Iterator[Segment]:
        """The Snapshot's whole part of a scrape: legacy, cluster, agent, health, then diagnosis families.

        The diagnosis comes from this same Snapshot, so one body never mixes two passes
        (docs/architecture.md#one-scrape-one-snapshot).
        """
        state, shard = ServerState(self.snapshot, version, self.unrenderable), self.shard
        if self.legacy_metrics:
            yield from _families(LEGACY_FAMILIES, self._newest_by_legacy_label(), _LEGACY, open_metrics)
        cluster = shard.server_families(CLUSTER_FAMILIES)
        yield encode(server_families(cluster, state), open_metrics=open_metrics)
        yield from _families(AGENT_FAMILIES, self.agents, _AGENT, open_metrics)
        yield encode(server_families(HEALTH_FAMILIES, state), open_metrics=open_metrics)
        mine = shard.diagnosis(self.snapshot.diagnosis), shard.history(self.snapshot.history)
        diagnosis = diagnosis_families(*mine, fleet=shard.exports_fleet)
        yield encode(diagnosis, open_metrics=open_metrics)

    def _newest_by_legacy_label(self) -> list[AgentLines]:
        """The legacy families show the newest record per legacy `agent` label (two pods may share
        one); worked out once per Snapshot, on the first scrape that needs it."""
        if self._legacy is None:
            by_verdict = {id(agent.verdict): agent for agent in self.agents}
            rows = newest_by_legacy_agent(agent.verdict for agent in self.agents)
            self._legacy = [by_verdict[id(row.verdict)] for row in rows]
        return self._legacy


_AGENT = operator.attrgetter("agent")
_LEGACY = operator.attrgetter("legacy")


def _families(
    families: tuple[Family[Any], ...],
    agents: Sequence[AgentLines],
    pick: Callable[[AgentLines], tuple[bytes, ...]],
    open_metrics: bool,  # noqa: FBT001 (private, positional like its neighbours)
) -> Iterator[Segment]:
    """Each family's header, then its body: the agents' cached bytes in runs of JOIN_AGENTS, joined
    when read (map and itemgetter: the loop over 10,000 agents stays in C)."""
    for index, header in enumerate(family_headers(families, open_metrics=open_metrics)):
        yield header
        lines = tuple(map(operator.itemgetter(index), map(pick, agents)))
        for start in range(0, len(lines), JOIN_AGENTS):
            yield lines[start : start + JOIN_AGENTS]


def _sized(
    chunks: Sequence[bytes], headers: dict[str, str], shared: object
) -> tuple[ChunkFile, dict[str, str]]:
    """A file over shared chunks, with its length: no reader gets a copy of its own."""
    return ChunkFile(chunks, shared), {**headers, "Content-Length": str(sum(map(len, chunks)))}


@dataclass(frozen=True, slots=True)
class _Gzipped:
    snapshot: Snapshot
    """Which Snapshot was compressed (not its RenderedSnapshot: that would keep its joined text alive)."""
    prefix: DeflatedPrefix
    """The snapshot's chunks compressed; each scrape appends the registry's tail (gzip_body.py)."""


class MetricsExposition:
    """Serves /metrics: the current Snapshot's agents from cached lines, plus the small registry.

    A scrape writes the agents that changed since the last scrape, in slices that give the GIL
    back (gil_slices.py): agents report faster than Prometheus scrapes, so an agent is written
    once per scrape however many reports it sent, and mostly only its numbers (agent_renumber.py).
    A scrape that comes while another writes serves the last Snapshot written rather than wait;
    warm() writes the current Snapshot ahead of a scrape (tests and tools call it).
    """

    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        registry: CollectorRegistry,
        *,
        version: str,
        legacy_metrics: bool = True,
        shard: MetricsShard = NO_SHARDING,
    ) -> None:
        self._snapshot = snapshot
        self._registry = registry
        self._shard = shard
        self._mine = ShardedVerdicts(shard)
        self._version = version
        self._legacy = legacy_metrics
        self._agents = AgentCache(legacy_metrics=legacy_metrics)
        self._rendered: RenderedSnapshot | None = None
        self._gzipped: dict[bool, _Gzipped] = {}
        self._write_lock = threading.Lock()
        self._gzip_lock = threading.Lock()

    def warm(self) -> None:
        """Write the agents that changed in the current Snapshot, ahead of the next scrape (which
        would otherwise write them itself)."""
        self._write(self._snapshot())

    def render(self, accept: str, accept_encoding: str) -> tuple[io.RawIOBase, dict[str, str]]:
        """The body (a file over the Snapshot's shared chunks, plain or gzip) and headers for one scrape."""
        encoder, content_type = choose_encoder(accept)
        open_metrics = content_type.startswith("application/openmetrics-text")
        tail = encoder(self._registry)  # the small rest: process, GC, ingest counter (and `# EOF`)
        rendered = self._current()
        headers = {"Content-Type": content_type}
        if not gzip_accepted(accept_encoding):
            segments, size = rendered.segments(self._version, open_metrics=open_metrics)
            length = str(size + len(tail))
            return SegmentFile((*segments, tail), shared=segments), {**headers, "Content-Length": length}
        prefix = self._compressed(rendered, open_metrics=open_metrics)
        return _sized(gzip_chunks(prefix, tail), {**headers, "Content-Encoding": "gzip"}, shared=prefix)

    def _current(self) -> RenderedSnapshot:
        """The current Snapshot written; while another thread is writing, the last one written."""
        snapshot, rendered = self._snapshot(), self._rendered
        if rendered is not None and rendered.snapshot is not snapshot and self._write_lock.locked():
            return rendered
        return self._write(snapshot)

    def _write(self, snapshot: Snapshot) -> RenderedSnapshot:
        with self._write_lock:
            rendered = self._rendered
            if rendered is None or rendered.snapshot is not snapshot:
                agents, unrenderable = self._agents.update(self._mine(snapshot.verdicts), GilSlices())
                rendered = RenderedSnapshot(
                    snapshot, agents, unrenderable, legacy_metrics=self._legacy, shard=self._shard
                )
                self._rendered = rendered
            return rendered

    def _compressed(self, rendered: RenderedSnapshot, *, open_metrics: bool) -> DeflatedPrefix:
        """The snapshot's part of the gzip body, compressed once per Snapshot and format."""
        with self._gzip_lock:
            cached = self._gzipped.get(open_metrics)
            if cached is None or cached.snapshot is not rendered.snapshot:
                self._gzipped.pop(open_metrics, None)  # let the old one go before compressing anew
                segments, _ = rendered.segments(self._version, open_metrics=open_metrics)
                prefix = deflate_prefix(map(joined, segments))
                cached = self._gzipped[open_metrics] = _Gzipped(rendered.snapshot, prefix)
            return cached.prefix
