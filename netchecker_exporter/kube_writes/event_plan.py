"""Which Kubernetes Events to write: node verdict changes, deduplicated into series, rate-limited.

Pure: (previous verdicts, new diagnosis, now) -> creates and series patches; the writer
(kube_writes/) reports back what failed. Bounds, in docs/events.md: a node's new Events come from a
bucket of its own, every write from one fleet bucket; what the fleet bucket refuses in a pass
becomes one summary Event about the server, so a cluster-wide outage cannot flood the API server.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from netchecker_exporter.diagnosis.nodes import Diagnosis, NodeDiagnosis, NodeVerdict
from netchecker_exporter.diagnosis.verdicts import NORMAL, RECOVERED_REASON, VERDICTS, WARNING, fit_text
from netchecker_exporter.kube_writes.rate_limit import KeyedBuckets, Rate, TokenBucket

SUMMARY_REASON = "NodeEventsSuppressed"
MAX_SERIES = 20_000
"""Open series kept at once (a few per node at 5,000 nodes); beyond it new Events are suppressed."""


PER_NODE_RATE = Rate(burst=4, per_second=1 / 300)
FLEET_RATE = Rate(burst=50, per_second=1.0)


@dataclass(frozen=True, slots=True)
class EventSettings:
    per_node: Rate = PER_NODE_RATE
    """New Events per node: 4 at once, then one per 5 minutes."""
    fleet: Rate = FLEET_RATE
    """Every write (creates and series patches) of the whole fleet."""
    series_window_seconds: float = 1800.0
    """A repeat within this long of the last one joins the series instead of making an Event."""
    series_patch_interval_seconds: float = 60.0
    """A series is patched at its first repeat, then at most this often."""


@dataclass(frozen=True, slots=True)
class EventCreate:
    key: tuple[str, str]
    """(node, reason); node "" is the server itself (the summary)."""
    name: str
    node: str
    related_pod: tuple[str, str] | None
    """(namespace, name) of the agent at fault, if one is."""
    reason: str
    type: str
    note: str
    at: float


@dataclass(frozen=True, slots=True)
class SeriesPatch:
    key: tuple[str, str]
    name: str
    node: str
    count: int
    last_observed: float


EventWrite = EventCreate | SeriesPatch


@dataclass(slots=True)
class _Series:
    name: str
    node: str
    count: int
    last_observed: float
    written_count: int
    last_write: float


@dataclass(frozen=True, slots=True)
class EventPlan:
    writes: list[EventWrite] = field(default_factory=list)
    suppressed: int = 0


@dataclass(frozen=True, slots=True)
class _Occurrence:
    node: str
    reason: str
    type: str
    note: str
    related_pod: tuple[str, str] | None = None


class EventPlanner:
    def __init__(self, settings: EventSettings, now: float) -> None:
        self._settings = settings
        self._verdicts: dict[str, NodeVerdict] = {}
        self._series: dict[tuple[str, str], _Series] = {}
        self._per_node = KeyedBuckets(settings.per_node)
        self._fleet = TokenBucket(settings.fleet, now)

    def plan(self, diagnosis: Diagnosis, now: float) -> EventPlan:
        """The writes for one new diagnosis: its verdict changes, then the series that are due."""
        writes: list[EventWrite] = []
        suppressed: Counter[str] = Counter()
        for occurrence in self._changes(diagnosis):
            write = self._occur(occurrence, now, limited=True)
            if write is None:
                suppressed[occurrence.reason] += 1
            elif isinstance(write, EventCreate | SeriesPatch):
                writes.append(write)
        if suppressed:
            summary = self._occur(_summary(suppressed, diagnosis), now, limited=False)
            if isinstance(summary, EventCreate | SeriesPatch):
                writes.append(summary)
        writes += self.due_series(now)
        self._expire(now)
        return EventPlan(writes, sum(suppressed.values()))

    def _changes(self, diagnosis: Diagnosis) -> list[_Occurrence]:
        seen: set[str] = set()
        changes = []
        for node in diagnosis.nodes:
            seen.add(node.node)
            if node.verdict is NodeVerdict.STARTING:
                continue  # not judged: the last known verdict stands
            before = self._verdicts.get(node.node)
            self._verdicts[node.node] = node.verdict
            if before is not node.verdict and (occurrence := _occurrence(node, before)) is not None:
                changes.append(occurrence)
        for gone in self._verdicts.keys() - seen:
            del self._verdicts[gone]
        return changes

    def _occur(self, occurrence: _Occurrence, now: float, *, limited: bool) -> EventWrite | bool | None:
        """A create, a series patch, True (joined a series, patched later) or None (suppressed)."""
        key = (occurrence.node, occurrence.reason)
        series = self._series.get(key)
        if series is not None and now - series.last_observed <= self._settings.series_window_seconds:
            series.count += 1
            series.last_observed = now
            return self._patch_if_due(key, series, now) or True
        if limited and not (self._per_node.available(occurrence.node, now) and self._fleet.available(now)):
            return None
        if len(self._series) >= MAX_SERIES:
            return None
        if limited:
            self._per_node.take(occurrence.node, now)
            self._fleet.take(now)
        name = event_name(occurrence.node, occurrence.reason, now)
        self._series[key] = _Series(name, occurrence.node, 1, now, 1, now)
        return EventCreate(key, name, occurrence.node, occurrence.related_pod, occurrence.reason,
                           occurrence.type, fit_text(occurrence.note), now)  # fmt: skip

    def _patch_if_due(self, key: tuple[str, str], series: _Series, now: float) -> SeriesPatch | None:
        if series.count <= series.written_count:
            return None
        first_repeat = series.written_count == 1
        if not first_repeat and now - series.last_write < self._settings.series_patch_interval_seconds:
            return None
        if not self._fleet.take(now):
            return None
        series.written_count = series.count
        series.last_write = now
        return SeriesPatch(key, series.name, series.node, series.count, series.last_observed)

    def due_series(self, now: float) -> list[SeriesPatch]:
        """Series with repeats not written yet whose patch interval is up (as the fleet bucket allows)."""
        due = []
        for key, series in self._series.items():
            if (patch := self._patch_if_due(key, series, now)) is not None:
                due.append(patch)
        return due

    def _expire(self, now: float) -> None:
        window = self._settings.series_window_seconds
        for key in [k for k, s in self._series.items() if now - s.last_observed > window]:
            del self._series[key]
        self._per_node.forget_full(now)

    def create_failed(self, key: tuple[str, str]) -> None:
        """The Event does not exist: the next occurrence makes a new one."""
        self._series.pop(key, None)

    def patch_failed(self, key: tuple[str, str], *, gone: bool) -> None:
        """A gone Event (expired, deleted) starts afresh; otherwise the count is patched again later."""
        if gone:
            self._series.pop(key, None)
        elif (series := self._series.get(key)) is not None:
            series.written_count = min(series.written_count, 1)

    @property
    def open_series(self) -> int:
        return len(self._series)


def _occurrence(node: NodeDiagnosis, before: NodeVerdict | None) -> _Occurrence | None:
    signal = VERDICTS[node.verdict]
    if signal.event_reason is not None:
        pod = _pod_at_fault(node)
        return _Occurrence(node.node, signal.event_reason, signal.event_type, node.reason, pod)
    was_fault = before is not None and VERDICTS[before].event_type == WARNING
    if node.verdict is NodeVerdict.HEALTHY and was_fault and before is not None:
        note = f"healthy again (was {before.value.replace('_', ' ')}): {node.reason}"
        return _Occurrence(node.node, RECOVERED_REASON, NORMAL, note)
    return None


def _pod_at_fault(node: NodeDiagnosis) -> tuple[str, str] | None:
    """The one agent the top finding blames (a network down, a missing agent), as (namespace, name)."""
    data = node.findings[0].data if node.findings else {}
    silent = data.get("silent", [])
    name = data.get("pod") or (silent[0]["pod"] if len(silent) == 1 else None)
    for agent in node.agents:
        if agent.pod.name == name:
            return (agent.pod.namespace, agent.pod.name) if agent.pod.namespace else None
    return None


def _summary(suppressed: Counter[str], diagnosis: Diagnosis) -> _Occurrence:
    counts = ", ".join(f"{count} {reason}" for reason, count in suppressed.most_common())
    note = (
        f"{sum(suppressed.values())} node Events not written (fleet rate limit): {counts}; "
        f"cluster: {diagnosis.cluster.reason}; every node's verdict is on /api/v1/diagnosis"
    )
    return _Occurrence("", SUMMARY_REASON, WARNING, note)


def event_name(node: str, reason: str, at: float) -> str:
    """Unique per occurrence and a valid object name (DNS subdomain) for any node name."""
    digest = hashlib.sha256(f"{node}/{reason}/{at!r}".encode()).hexdigest()[:12]
    return f"{node[:200] or 'netchecker'}.{digest}"
