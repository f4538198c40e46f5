"""Judge agents: (expected pods, stored records, now) -> verdicts and the connectivity result.

Pure, so it is table-tested without I/O and every replica reading one store agrees.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from netchecker_exporter.gil_slices import NO_PAUSE, Pause
from netchecker_exporter.report import AgentRecord, missed_windows

HOSTNET_MARKER = "hostnet"


class Network(enum.StrEnum):
    """Which network an agent checks: the pod network or the node's own (hostNetwork)."""

    POD = "pod"
    HOST = "host"


class AgentStatus(enum.StrEnum):
    FRESH = "fresh"
    OUTDATED = "outdated"
    ABSENT = "absent"
    STARTING = "starting"
    """No report yet, but the pod is young enough that silence is expected."""


@dataclass(frozen=True, slots=True)
class ExpectedPod:
    """An agent pod that should be reporting, as a pod source sees it."""

    name: str
    namespace: str = ""
    node: str = ""
    network: Network = Network.POD
    absent_not_before: float = 0.0
    """Epoch seconds before which a missing report means 'starting', not 'absent'."""


@dataclass(frozen=True, slots=True)
class AgentVerdict:
    """One agent judged at one moment."""

    pod: ExpectedPod
    status: AgentStatus
    record: AgentRecord | None
    missed_keepalives: int
    """Running total including the full windows missed since the last report."""

    def report_age_at(self, now: float) -> float | None:
        """Seconds since the last report as of `now` (never negative), None with no report.

        Not kept in the verdict: the verdict holds from one threshold to the next (Judgement), the
        age moves with every pass, and only the diagnosis shows it, as of its own pass.
        """
        return None if self.record is None else max(0.0, now - self.record.last_updated)

    @property
    def node(self) -> str:
        """The node name: the pod source's, else what the agent reported."""
        if self.pod.node or self.record is None:
            return self.pod.node
        return self.record.report.nodename

    @property
    def legacy_agent_label(self) -> str:
        """The original's `agent` label: `<node>-host_network` or `<node>-private_network`."""
        suffix = "host_network" if HOSTNET_MARKER in self.pod.name else "private_network"
        return f"{self.node}-{suffix}"


@dataclass(frozen=True, slots=True)
class ConnectivityResult:
    """The original's /api/v1/connectivity_check answer."""

    ok: bool
    message: str
    absent: tuple[str, ...]
    outdated: tuple[str, ...]


FAILURE_MESSAGE = "Connectivity check fails. Reason: there are absent or outdated pods; look up the payload"


def network_of_pod_name(name: str) -> Network:
    """The original's rule: an agent whose pod name contains 'hostnet' checks the host network."""
    return Network.HOST if HOSTNET_MARKER in name else Network.POD


def pods_from_records(records: Mapping[str, AgentRecord]) -> tuple[ExpectedPod, ...]:
    """Every agent that has a stored report, for when no pod list is available."""
    return tuple(
        ExpectedPod(name=name, node=record.report.nodename, network=network_of_pod_name(name))
        for name, record in sorted(records.items())
    )


def judge_agent(pod: ExpectedPod, record: AgentRecord | None, now: float) -> AgentVerdict:
    if record is None:
        status = AgentStatus.STARTING if now < pod.absent_not_before else AgentStatus.ABSENT
        return AgentVerdict(pod, status, None, missed_keepalives=0)
    age = max(0.0, now - record.last_updated)
    interval = record.report.report_interval
    status = AgentStatus.OUTDATED if age > 2 * interval else AgentStatus.FRESH
    missed = record.missed_keepalives + missed_windows(age, interval)
    return AgentVerdict(pod, status, record, missed_keepalives=missed)


def judge_agents(
    pods: Iterable[ExpectedPod],
    records: Mapping[str, AgentRecord],
    now: float,
    pause: Pause = NO_PAUSE,
) -> tuple[AgentVerdict, ...]:
    """A verdict per expected pod, in pod-name order; `pause` is called after each (the reconcile
    thread gives the GIL back there)."""
    verdicts = []
    for pod in sorted(pods, key=_pod_key):
        verdicts.append(judge_agent(pod, records.get(pod.name), now))
        pause()
    return tuple(verdicts)


def verdict_positions(verdicts: Sequence[AgentVerdict]) -> dict[str, tuple[int, ...]]:
    """Where each pod name's verdicts are (one name may be a pod in several namespaces)."""
    positions: dict[str, tuple[int, ...]] = {}
    for index, verdict in enumerate(verdicts):
        positions[verdict.pod.name] = (*positions.get(verdict.pod.name, ()), index)
    return positions


Span = tuple[float, float]
"""Where a verdict holds by time alone: `low <= x < high`, where x is the record's age as
judge_agent computes it, or `now` itself for a pod with no record."""

SPAN_MARGIN = 1e-9
"""A span ends this much (relative) before the next window boundary, so that float rounding in
judge_agent's division can never put the boundary inside it: near a boundary the agent is
simply judged again, which is always right."""


def verdict_span(pod: ExpectedPod, record: AgentRecord | None, now: float) -> Span:
    """The span over which judge_agent(pod, record, t) gives what it gives at `now`.

    The status and the missed windows are monotonic in the age, so the verdict holds from the age
    it was judged at until the next threshold: fresh -> outdated at 2 x interval, one more missed
    window at each multiple of it; without a record, starting -> absent at absent_not_before.
    """
    if record is None:
        grace = pod.absent_not_before
        return (-math.inf, grace) if now < grace else (grace, math.inf)
    age = max(0.0, now - record.last_updated)
    window = 2 * record.report.report_interval
    next_window = (missed_windows(age, record.report.report_interval) + 1) * window * (1 - SPAN_MARGIN)
    return (age, next_window if age > window else min(next_window, window))


def _holds(span: Span, record: AgentRecord | None, now: float) -> bool:
    moment = now if record is None else max(0.0, now - record.last_updated)
    return span[0] <= moment < span[1]


@dataclass(frozen=True, slots=True)
class Judgement:
    """The verdicts of the last pass, where each pod name's are, and how long each holds.

    A verdict changes only when its pod or record changes or when time crosses its span's end, so
    a pass judges again only those agents and keeps the rest (the same objects: caches compare
    identity). The result equals judge_agents on the same inputs (tests/test_judgement.py).
    """

    verdicts: tuple[AgentVerdict, ...] = ()
    positions: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    spans: tuple[Span, ...] = ()
    pods: tuple[ExpectedPod, ...] | None = None
    """The pod list as the last full pass was given it: the same tuple again (pod sources keep
    theirs until it changes) means the same pods in the same order."""

    def judged_again(
        self,
        pods: Iterable[ExpectedPod],
        records: Mapping[str, AgentRecord],
        now: float,
        pause: Pause = NO_PAUSE,
    ) -> Judgement:
        """judge_agents(pods, records, now), judging only what changed; `pause` after each agent."""
        if isinstance(pods, tuple) and pods is self.pods:
            return self._same_pods_again(records, now, pause)
        verdicts: list[AgentVerdict] = []
        spans: list[Span] = []
        before = self.verdicts
        same_names = True
        for index, pod in enumerate(sorted(pods, key=_pod_key)):
            record = records.get(pod.name)
            kept = self._kept(pod, record, now)
            if kept is None:
                verdicts.append(judge_agent(pod, record, now))
                spans.append(verdict_span(pod, record, now))
            else:
                verdicts.append(before[kept])
                spans.append(self.spans[kept])
            same_names = same_names and index < len(before) and before[index].pod.name == pod.name
            pause()
        same_names = same_names and len(verdicts) == len(before)
        positions = self.positions if same_names else verdict_positions(verdicts)
        return Judgement(tuple(verdicts), positions, tuple(spans), pods if isinstance(pods, tuple) else None)

    def _same_pods_again(self, records: Mapping[str, AgentRecord], now: float, pause: Pause) -> Judgement:
        """The pods are those of the last pass, in its order: only records and time can have moved."""
        verdicts, spans = list(self.verdicts), list(self.spans)
        for index, verdict in enumerate(self.verdicts):
            record = records.get(verdict.pod.name)
            if verdict.record is not record or not _holds(spans[index], record, now):
                verdicts[index] = judge_agent(verdict.pod, record, now)
                spans[index] = verdict_span(verdict.pod, record, now)
            pause()
        return Judgement(tuple(verdicts), self.positions, tuple(spans), self.pods)

    def _kept(self, pod: ExpectedPod, record: AgentRecord | None, now: float) -> int | None:
        """The index of this pod's last verdict when it still holds, else None."""
        for index in self.positions.get(pod.name, ()):
            verdict = self.verdicts[index]
            if verdict.pod is pod or verdict.pod == pod:
                return index if verdict.record is record and _holds(self.spans[index], record, now) else None
        return None

    def rejudged(
        self, records: Mapping[str, AgentRecord | None], now: float, *, new_names_expected: bool
    ) -> Judgement | None:
        """These verdicts with the agents in `records` judged again on those records.

        A name with no verdict is not expected (a pod list leaves it out), unless
        `new_names_expected` (no pod list): then None, as only a full pass knows where the new
        agent goes. The unchanged verdicts stay the same objects.
        """
        if new_names_expected and any(name not in self.positions for name in records):
            return None
        verdicts, spans = list(self.verdicts), list(self.spans)
        for name, record in records.items():
            for index in self.positions.get(name, ()):
                pod = verdicts[index].pod
                verdicts[index] = judge_agent(pod, record, now)
                spans[index] = verdict_span(pod, record, now)
        return Judgement(tuple(verdicts), self.positions, tuple(spans), self.pods)


def _pod_key(pod: ExpectedPod) -> tuple[str, str]:
    return (pod.name, pod.namespace)


def connectivity_result(verdicts: Iterable[AgentVerdict]) -> ConnectivityResult:
    """200-or-400 verdict of the whole cluster, with the original's messages."""
    checked = [v for v in verdicts if v.status is not AgentStatus.STARTING]
    absent = tuple(v.pod.name for v in checked if v.status is AgentStatus.ABSENT)
    outdated = tuple(v.pod.name for v in checked if v.status is AgentStatus.OUTDATED)
    if absent or outdated:
        return ConnectivityResult(False, FAILURE_MESSAGE, absent, outdated)
    message = f"All {len(checked)} pods successfully reported back to the server"
    return ConnectivityResult(True, message, (), ())
