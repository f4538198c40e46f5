"""/metrics at 10,000 agents: per-agent lines kept compressed until the agent changes, assembled per Snapshot.

Each agent's lines are written once (agent_lines.py) and kept, compressed in runs of agents per
family (agent_runs.py), while its verdict shows the same record, status and totals; the scrape of
a new Snapshot rewrites only the agents that changed since the last scrape, and of those mostly
the numbers (agent_renumber.py), and compresses again only the runs that hold them. A text scrape
inflates one run at a time as it reads (segment_file.py); a gzip scrape sends the runs as they
are, between a header and the registry's tail (gzip_body.py). The diagnosis families are written
by the agents' writer, once per pass that diagnosed (DiagnosisLines); the few server-wide families
are encoded by prometheus_client per Snapshot, and the registry at every scrape.
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
from netchecker_exporter.metrics.agent_lines import AgentLines, render_agent, same_output
from netchecker_exporter.metrics.agent_renumber import renumbered
from netchecker_exporter.metrics.agent_runs import (
    AgentKey,
    AgentRun,
    AgentRuns,
    Layout,
    Lines,
    Placed,
    RunLines,
    laid_out,
    reindex,
)
from netchecker_exporter.metrics.chunk_file import ChunkFile
from netchecker_exporter.metrics.client_families import metric_family, server_families
from netchecker_exporter.metrics.diagnosis_metrics import DiagnosisRow, diagnosis_lines, diagnosis_table
from netchecker_exporter.metrics.families import CLUSTER_FAMILIES, HEALTH_FAMILIES, Family, ServerState
from netchecker_exporter.metrics.gzip_body import DeflatedPrefix, PieceRuns, gzip_chunks, runs_prefix
from netchecker_exporter.metrics.segment_file import Segment, SegmentFile, plain, segment_size
from netchecker_exporter.metrics.shard import NO_SHARDING, MetricsShard, ShardedVerdicts
from netchecker_exporter.snapshot import Snapshot

log = logging.getLogger(__name__)

JOIN_AGENTS = 1024
"""Agents per run (0.1-1.5 MiB of text per family): compressed, a thousand agents' lines are a few
percent of their text (docs/performance.md); inflated, one run is what a text reader holds."""


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
    """Every expected agent's lines, in compressed runs: an agent is written again only when its
    verdict's output changes, and then only its numbers when its labels did not (agent_renumber.py,
    from its old lines, inflated from the run that holds them).

    The agent families' runs follow the verdicts' order; the legacy families' follow the legacy
    `agent` label (newest_by_legacy_agent), so they have runs of their own. The agent runs hold the
    legacy families too: a pod hidden there by a newer namesake keeps its lines for when it shows.
    """

    def __init__(self, *, legacy_metrics: bool, run_agents: int = JOIN_AGENTS) -> None:
        self._legacy = legacy_metrics
        self._run_agents = run_agents
        self._families = len(AGENT_FAMILIES) + (len(LEGACY_FAMILIES) if legacy_metrics else 0)
        self._agents: dict[AgentKey, tuple[AgentRun, int]] = {}
        self._legacy_rows: dict[AgentKey, tuple[AgentRun, int]] = {}
        self._legacy_labels_unique = False
        """No two agents of the last legacy order shared a legacy label (so none was hidden)."""
        self._logged: set[AgentKey] = set()
        self._last: tuple[Sequence[AgentVerdict], AgentRuns, int] | None = None

    def update(self, verdicts: Sequence[AgentVerdict], pause: Pause = NO_PAUSE) -> tuple[AgentRuns, int]:
        """The runs of every agent that renders, in verdict order, and how many could not;
        `pause` is called after each agent written (gil_slices.py)."""
        if self._last is not None and self._last[0] is verdicts:  # warm() did this Snapshot already
            return self._last[1], self._last[2]
        last = RunLines(self._agents)
        order, written, labels_kept = self._written(verdicts, last, pause)
        padded = {key: self._padded(lines) for key, lines in written.items()}
        layout = Layout(self._run_agents, self._families, padded, last)
        agent_runs, rebuilt = laid_out(order, self._agents, layout)
        before = self._last[1] if self._last is not None else None
        if before is not None and _same_runs(agent_runs, before.agent):  # no agent written, moved or gone
            runs = AgentRuns(before.agent, before.legacy, 0)
        else:
            reindex(self._agents, before.agent if before is not None else (), agent_runs)
            same_agents = before is not None and labels_kept and _same_keys(order, before.agent)
            legacy_runs, rebuilt_legacy = (
                self._legacy_runs(order, written, before.legacy if same_agents and before else None)
                if self._legacy
                else ([], 0)
            )
            runs = AgentRuns(tuple(agent_runs), tuple(legacy_runs), rebuilt + rebuilt_legacy)
        if self._logged:  # the departed among those logged as unrenderable are forgotten
            self._logged &= {_key(verdict) for verdict in verdicts}
        self._last = (verdicts, runs, len(verdicts) - len(order))
        return runs, len(verdicts) - len(order)

    def _written(
        self, verdicts: Sequence[AgentVerdict], last: RunLines, pause: Pause
    ) -> tuple[list[Placed], dict[AgentKey, AgentLines], bool]:
        """The agents that render, in order, with the verdict of their lines; those written anew; and
        whether each of those was written before, with the same legacy label, record or none."""
        order: list[Placed] = []
        written: dict[AgentKey, AgentLines] = {}
        labels_kept = True
        for verdict in verdicts:
            key = _key(verdict)
            found = self._agents.get(key)
            if found is not None:  # its run's key: one key object per agent, however many runs hold it
                key = found[0].keys[found[1]]
            cached = None if found is None else found[0].verdicts[found[1]]
            if cached is not None and (cached is verdict or same_output(cached, verdict)):
                order.append((key, cached))
                continue
            previous = None if cached is None else self._previous(cached, last(key))
            lines = self._render(key, verdict, previous)
            pause()
            if lines is not None:
                order.append((key, verdict))
                written[key] = lines
                labels_kept = labels_kept and cached is not None and _same_legacy_row(cached, verdict)
        return order, written, labels_kept

    def _legacy_runs(
        self,
        order: Sequence[Placed],
        written: dict[AgentKey, AgentLines],
        last_runs: Sequence[AgentRun] | None,
    ) -> tuple[list[AgentRun], int]:
        """The legacy families' runs: the newest record per legacy label, in the labels' order.

        `last_runs`: the last legacy runs, when the same agents keep their labels and records or none.
        With no label shared, the order is theirs then (a new record cannot hide a namesake), with the
        written agents' new verdicts; working it out anew took 15-35 ms at 10,000 agents.
        """
        if last_runs is not None and self._legacy_labels_unique:
            legacy_order = [
                (key, written[key].verdict if key in written else verdict)
                for run in last_runs
                for key, verdict in zip(run.keys, run.verdicts, strict=True)
            ]
        else:
            keys = {id(verdict): key for key, verdict in order}  # the runs share one key object per agent
            rows = newest_by_legacy_agent(verdict for _, verdict in order)
            legacy_order = [(keys[id(row.verdict)], row.verdict) for row in rows]
            self._legacy_labels_unique = len(rows) == sum(verdict.record is not None for _, verdict in order)
        last, agents, first = RunLines(self._legacy_rows), RunLines(self._agents), len(AGENT_FAMILIES)

        def kept(key: AgentKey) -> Lines:
            return last(key) if key in last else agents(key)[first:]

        lines = {key: agent.legacy for key, agent in written.items()}
        runs, rebuilt = laid_out(
            legacy_order, self._legacy_rows, Layout(self._run_agents, len(LEGACY_FAMILIES), lines, kept)
        )
        reindex(self._legacy_rows, self._last[1].legacy if self._last is not None else (), runs)
        return runs, rebuilt

    def _padded(self, lines: AgentLines) -> Lines:
        """An agent's lines in every family its runs hold (empty legacy ones without a record)."""
        if not self._legacy:
            return lines.agent
        return lines.agent + (lines.legacy or (b"",) * len(LEGACY_FAMILIES))

    def _previous(self, verdict: AgentVerdict, lines: Lines) -> AgentLines:
        """An agent's lines from its run, as agent_renumber reads them."""
        first = len(AGENT_FAMILIES)
        legacy = lines[first:] if self._legacy and verdict.record is not None else ()
        return AgentLines(verdict, lines[:first], legacy)

    def _render(self, key: AgentKey, verdict: AgentVerdict, previous: AgentLines | None) -> AgentLines | None:
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


def _key(verdict: AgentVerdict) -> AgentKey:
    return verdict.pod.namespace, verdict.pod.name


def _same_legacy_row(written: AgentVerdict, verdict: AgentVerdict) -> bool:
    """Does `verdict` show under the legacy label `written` showed under, with a record as it had?"""
    return (written.record is None) == (verdict.record is None) and (
        written.legacy_agent_label == verdict.legacy_agent_label
    )


def _same_keys(order: Sequence[Placed], runs: Sequence[AgentRun]) -> bool:
    """The same agents in the same order as in `runs`."""
    return [key for key, _ in order] == [key for run in runs for key in run.keys]


def _same_runs(runs: Sequence[AgentRun], last: Sequence[AgentRun]) -> bool:
    """The same run objects in the same order: the same agents, each with the lines it had."""
    return len(runs) == len(last) and all(map(operator.is_, runs, last))


class DiagnosisLines:
    """A pass's diagnosis families' lines, written by the first scrape that reads them and shared by
    every Snapshot with the same diagnosis and history (a refresh keeps both: reconcile.py), in
    both formats (their HELP and TYPE lines are family_headers()).

    It holds what its Snapshots hold, nothing longer: a Snapshot with another diagnosis gets lines
    of its own.
    """

    __slots__ = ("_diagnosis", "_families", "_history", "_lines", "_lock", "_shard")

    def __init__(self, snapshot: Snapshot, shard: MetricsShard) -> None:
        self._diagnosis, self._history, self._shard = snapshot.diagnosis, snapshot.history, shard
        self._families = diagnosis_table(fleet=shard.exports_fleet)
        self._lines: tuple[bytes, ...] | None = None
        self._lock = threading.Lock()

    def of(self, snapshot: Snapshot) -> bool:
        """Are these `snapshot`'s diagnosis lines?"""
        return snapshot.diagnosis is self._diagnosis and snapshot.history is self._history

    def segments(self, *, open_metrics: bool) -> Iterator[bytes]:
        """Each family's header, then its lines."""
        headers = family_headers(self._families, open_metrics=open_metrics)
        for header, lines in zip(headers, self._written(), strict=True):
            yield header
            yield lines

    def _written(self) -> tuple[bytes, ...]:
        with self._lock:
            if self._lines is None:
                shard = self._shard
                row = DiagnosisRow(shard.diagnosis(self._diagnosis), shard.history(self._history))
                self._lines = diagnosis_lines(self._families, row)
            return self._lines


class RenderedSnapshot:
    """A Snapshot's agents as compressed runs, laid out per family on the first scrape that reads them.

    The layout (segments: the small families encoded, then per family its runs) is kept with the
    Snapshot and shared by every reader of it; a text reader inflates one run at a time as it reads
    (segment_file.py), so 50 slow readers do not hold 50 bodies
    (docs/budgets.md#views-rendered-once-shared-by-every-reader).
    """

    __slots__ = (
        "_segments",
        "_segments_lock",
        "diagnosis",
        "legacy_metrics",
        "runs",
        "shard",
        "snapshot",
        "unrenderable",
    )

    def __init__(  # noqa: PLR0913 (keyword-only but for what it renders)
        self,
        snapshot: Snapshot,
        runs: AgentRuns,
        unrenderable: int,
        *,
        legacy_metrics: bool,
        shard: MetricsShard = NO_SHARDING,
        diagnosis: DiagnosisLines | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.shard = shard
        """Which fleet families and which nodes' and targets' diagnosis series this body holds
        (`runs` are this shard's agents already)."""
        self.diagnosis = (
            diagnosis if diagnosis is not None and diagnosis.of(snapshot) else DiagnosisLines(snapshot, shard)
        )
        """The last Snapshot's diagnosis lines when this one has the same diagnosis and history."""
        self.runs = runs
        self.unrenderable = unrenderable
        self.legacy_metrics = legacy_metrics
        self._segments: dict[bool, tuple[tuple[Segment, ...], int]] = {}
        self._segments_lock = threading.Lock()

    def segments(self, version: str, *, open_metrics: bool) -> tuple[tuple[Segment, ...], int]:
        """layout(), and its size in bytes, worked out by the first reader of this Snapshot and
        format and kept for the others."""
        with self._segments_lock:
            laid_out = self._segments.get(open_metrics)
            if laid_out is None:
                segments = tuple(self.layout(version, open_metrics=open_metrics))
                laid_out = self._segments[open_metrics] = (segments, sum(map(segment_size, segments)))
            return laid_out

    def chunks(self, version: str, *, open_metrics: bool) -> Iterator[bytes]:
        """layout() as text, a run at a time."""
        return map(plain, self.layout(version, open_metrics=open_metrics))

    def layout(self, version: str, *, open_metrics: bool) -> Iterator[Segment]:
        """The Snapshot's whole part of a scrape: legacy, cluster, agent, health, then diagnosis families.

        The diagnosis comes from this same Snapshot, so one body never mixes two passes
        (docs/architecture.md#one-scrape-one-snapshot).
        """
        state, shard = ServerState(self.snapshot, version, self.unrenderable), self.shard
        if self.legacy_metrics:
            yield from _families(LEGACY_FAMILIES, self.runs.legacy, open_metrics)
        cluster = shard.server_families(CLUSTER_FAMILIES)
        yield encode(server_families(cluster, state), open_metrics=open_metrics)
        yield from _families(AGENT_FAMILIES, self.runs.agent, open_metrics)
        yield encode(server_families(HEALTH_FAMILIES, state), open_metrics=open_metrics)
        yield from self.diagnosis.segments(open_metrics=open_metrics)


def _families(
    families: tuple[Family[Any], ...],
    runs: Sequence[AgentRun],
    open_metrics: bool,  # noqa: FBT001 (private, positional like its neighbours)
) -> Iterator[Segment]:
    """Each family's header, then its body: the family's run of each run of agents."""
    for index, header in enumerate(family_headers(families, open_metrics=open_metrics)):
        yield header
        for run in runs:
            yield run.families[index]


def _sized(
    chunks: Sequence[bytes], headers: dict[str, str], shared: object
) -> tuple[ChunkFile, dict[str, str]]:
    """A file over shared chunks, with its length: no reader gets a copy of its own."""
    return ChunkFile(chunks, shared), {**headers, "Content-Length": str(sum(map(len, chunks)))}


@dataclass(frozen=True, slots=True)
class _Gzipped:
    snapshot: Snapshot
    """Which Snapshot was laid out (not its RenderedSnapshot, which the next write replaces)."""
    prefix: DeflatedPrefix
    """The snapshot's runs, and its small families compressed; each scrape appends the registry's tail."""


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
        self._pieces = {False: PieceRuns(), True: PieceRuns()}
        """Per format, the last gzip body's small pieces compressed."""
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
                runs, unrenderable = self._agents.update(self._mine(snapshot.verdicts), GilSlices())
                rendered = RenderedSnapshot(
                    snapshot,
                    runs,
                    unrenderable,
                    legacy_metrics=self._legacy,
                    shard=self._shard,
                    diagnosis=None if rendered is None else rendered.diagnosis,
                )
                self._rendered = rendered
            return rendered

    def _compressed(self, rendered: RenderedSnapshot, *, open_metrics: bool) -> DeflatedPrefix:
        """The snapshot's part of the gzip body, compressed once per Snapshot and format."""
        with self._gzip_lock:
            cached = self._gzipped.get(open_metrics)
            if cached is not None and cached.snapshot is rendered.snapshot:
                return cached.prefix
            # Let the old one go before compressing anew: the map's entry and this reference to it.
            self._gzipped.pop(open_metrics, None)
            del cached
            segments, _ = rendered.segments(self._version, open_metrics=open_metrics)
            prefix = runs_prefix(self._pieces[open_metrics].runs(segments))
            self._gzipped[open_metrics] = _Gzipped(rendered.snapshot, prefix)
            return prefix
