"""/metrics at 10,000 agents: per-agent lines cached until the agent changes, assembled per Snapshot.

Each agent's lines are written once (agent_lines.py) and kept while its verdict shows the same
record, status and totals, so a Snapshot refreshed after a few reports re-renders only those
agents. The bodies are joined once per Snapshot and served from the joined chunks; the small
server-wide families and the registry are encoded by prometheus_client at every scrape.
"""

from __future__ import annotations

import functools
import io
import logging
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder, generate_latest, gzip_accepted
from prometheus_client.openmetrics import exposition as openmetrics

from netchecker_exporter.agent_families import AGENT_FAMILIES, LEGACY_FAMILIES, newest_by_legacy_agent
from netchecker_exporter.agent_lines import AgentLines, render_agent
from netchecker_exporter.check import AgentVerdict
from netchecker_exporter.chunk_file import ChunkFile
from netchecker_exporter.collector import metric_family, server_families
from netchecker_exporter.families import CLUSTER_FAMILIES, HEALTH_FAMILIES, Family, ServerState
from netchecker_exporter.snapshot import Snapshot

log = logging.getLogger(__name__)

GZIP_WBITS = 31  # zlib: gzip header and trailer
GZIP_LEVEL = 1  # loopback and LAN scrapes: speed over ratio


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
    """Every expected agent's lines; an agent is written again only when its verdict's output changes."""

    def __init__(self, *, legacy_metrics: bool) -> None:
        self._legacy = legacy_metrics
        self._lines: dict[tuple[str, str], AgentLines] = {}
        self._logged: set[tuple[str, str]] = set()
        self._last: tuple[Sequence[AgentVerdict], list[AgentLines], int] | None = None

    def update(self, verdicts: Sequence[AgentVerdict]) -> tuple[list[AgentLines], int]:
        """The lines of every agent that renders, in verdict order, and how many could not."""
        if self._last is not None and self._last[0] is verdicts:  # warm() did this Snapshot already
            return self._last[1], self._last[2]
        cache: dict[tuple[str, str], AgentLines] = {}
        lines: list[AgentLines] = []
        for verdict in verdicts:
            key = (verdict.pod.namespace, verdict.pod.name)
            cached = self._lines.get(key)
            if cached is None or not cached.renders(verdict):
                cached = self._render(key, verdict)
            if cached is not None:
                cache[key] = cached
                lines.append(cached)
        self._lines = cache  # departed agents vanish here
        if self._logged:  # and so do the departed among those logged as unrenderable
            self._logged &= {(verdict.pod.namespace, verdict.pod.name) for verdict in verdicts}
        self._last = (verdicts, lines, len(verdicts) - len(lines))
        return lines, len(verdicts) - len(lines)

    def _render(self, key: tuple[str, str], verdict: AgentVerdict) -> AgentLines | None:
        """Render-time defence: an agent that cannot render is left out, logged once, counted."""
        try:
            lines = render_agent(verdict, legacy_metrics=self._legacy)
        except Exception:
            if key not in self._logged:
                self._logged.add(key)
                log.exception("agent %s/%s cannot be rendered; left out of /metrics", *key)
            return None
        self._logged.discard(key)
        return lines


@dataclass(frozen=True, slots=True)
class RenderedSnapshot:
    """A Snapshot's per-agent bodies joined per family; both formats share them."""

    snapshot: Snapshot
    legacy: tuple[bytes, ...]
    agent: tuple[bytes, ...]
    unrenderable: int

    def chunks(self, version: str, *, open_metrics: bool) -> tuple[bytes, ...]:
        """The exposition in SnapshotCollector's order: legacy, cluster, agent, health families."""
        state = ServerState(self.snapshot, version, self.unrenderable)
        legacy = family_headers(LEGACY_FAMILIES, open_metrics=open_metrics) if self.legacy else ()
        agent = family_headers(AGENT_FAMILIES, open_metrics=open_metrics)
        return (
            *_interleave(legacy, self.legacy),
            encode(server_families(CLUSTER_FAMILIES, state), open_metrics=open_metrics),
            *_interleave(agent, self.agent),
            encode(server_families(HEALTH_FAMILIES, state), open_metrics=open_metrics),
        )


def _interleave(headers: Sequence[bytes], bodies: Sequence[bytes]) -> list[bytes]:
    return [part for pair in zip(headers, bodies, strict=True) for part in pair]


def _joined(
    agents: Sequence[AgentLines], pick: Callable[[AgentLines], tuple[bytes, ...]], count: int
) -> tuple[bytes, ...]:
    """One body per family: a memcpy of the agents' cached bytes (no text is written here)."""
    return tuple(b"".join([pick(agent)[index] for agent in agents]) for index in range(count))


def join_agents(
    snapshot: Snapshot, agents: list[AgentLines], unrenderable: int, *, legacy_metrics: bool
) -> RenderedSnapshot:
    """Join the cached lines into one body per family (legacy ones: the newest record per label)."""
    legacy: tuple[bytes, ...] = ()
    if legacy_metrics:
        by_verdict = {id(agent.verdict): agent for agent in agents}
        newest = [by_verdict[id(row.verdict)] for row in newest_by_legacy_agent(a.verdict for a in agents)]
        legacy = _joined(newest, lambda agent: agent.legacy, len(LEGACY_FAMILIES))
    agent = _joined(agents, lambda agent: agent.agent, len(AGENT_FAMILIES))
    return RenderedSnapshot(snapshot, legacy, agent, unrenderable)


def render_snapshot(
    snapshot: Snapshot, version: str, *, open_metrics: bool, legacy_metrics: bool = True
) -> bytes:
    """The bytes prometheus_client would write for SnapshotCollector, much faster."""
    agents, unrenderable = AgentCache(legacy_metrics=legacy_metrics).update(snapshot.verdicts)
    rendered = join_agents(snapshot, agents, unrenderable, legacy_metrics=legacy_metrics)
    return b"".join(rendered.chunks(version, open_metrics=open_metrics))


@dataclass(frozen=True, slots=True)
class _Gzipped:
    rendered: RenderedSnapshot
    prefix: bytes
    state: Any
    """zlib's compressor after the snapshot's chunks; each scrape continues a copy of it."""


class MetricsExposition:
    """Serves /metrics: the current Snapshot's agents from cached lines, plus the small registry."""

    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        registry: CollectorRegistry,
        *,
        version: str,
        legacy_metrics: bool = True,
    ) -> None:
        self._snapshot = snapshot
        self._registry = registry
        self._version = version
        self._legacy = legacy_metrics
        self._agents = AgentCache(legacy_metrics=legacy_metrics)
        self._rendered: RenderedSnapshot | None = None
        self._gzipped: dict[bool, _Gzipped] = {}
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Write the agents that changed in the current Snapshot, ahead of the next scrape.

        Joining the bodies waits for a scrape: under steady ingest Snapshots come faster than scrapes.
        """
        snapshot = self._snapshot()
        with self._lock:
            self._agents.update(snapshot.verdicts)

    def render(self, accept: str, accept_encoding: str) -> tuple[io.RawIOBase | bytes, dict[str, str]]:
        """The body (a file over cached chunks, or gzip bytes) and headers for one scrape."""
        encoder, content_type = choose_encoder(accept)
        open_metrics = content_type.startswith("application/openmetrics-text")
        tail = encoder(self._registry)  # the small rest: process, GC, ingest counter (and `# EOF`)
        rendered = self._current()
        headers = {"Content-Type": content_type}
        if not gzip_accepted(accept_encoding):
            return ChunkFile([*rendered.chunks(self._version, open_metrics=open_metrics), tail]), headers
        compressor = self._compressed(rendered, open_metrics=open_metrics)
        body = compressor.prefix + (state := compressor.state.copy()).compress(tail) + state.flush()
        return body, {**headers, "Content-Encoding": "gzip"}

    def _current(self) -> RenderedSnapshot:
        snapshot = self._snapshot()
        with self._lock:
            if self._rendered is None or self._rendered.snapshot is not snapshot:
                self._rendered = None  # let the old bodies go before joining anew
                agents, unrenderable = self._agents.update(snapshot.verdicts)
                self._rendered = join_agents(snapshot, agents, unrenderable, legacy_metrics=self._legacy)
            return self._rendered

    def _compressed(self, rendered: RenderedSnapshot, *, open_metrics: bool) -> _Gzipped:
        with self._lock:
            cached = self._gzipped.get(open_metrics)
            if cached is None or cached.rendered is not rendered:
                compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, GZIP_WBITS)
                chunks = rendered.chunks(self._version, open_metrics=open_metrics)
                prefix = b"".join(compressor.compress(chunk) for chunk in chunks)
                cached = _Gzipped(rendered, prefix, compressor)
                self._gzipped[open_metrics] = cached
            return cached
