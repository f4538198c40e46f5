"""The diagnosis remembers: per node, its last verdict changes and its agents' state changes.

Pure: (previous history, this pass's diagnosis, now) -> the next history. Bounded per node and in
total; immutable, so it is published whole with the Snapshot. The verdicts recorded are the ones
the checks give (before the flapping rule), so `flapping` never feeds itself. docs/diagnosis-history.md.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from netchecker_exporter.check import AgentStatus, AgentVerdict
from netchecker_exporter.diagnosis.checks import NodeVerdict, age_words
from netchecker_exporter.diagnosis.nodes import Diagnosis, NodeDiagnosis
from netchecker_exporter.gil_slices import NO_PAUSE, Pause
from netchecker_exporter.settings import DiagnosisSettings

NODE = ""
"""The `subject` of a node's own verdict change; an agent's change names its pod."""
MAX_REASON_CHARS = 512
"""A reason quotes client-chosen URLs and names: cut, so a node's history stays small in etcd."""
TRIM_TO_RATIO = 0.9
"""Over the total bound, the oldest changes go until 90% is left: a trim every 10%, not every pass."""


@dataclass(frozen=True, slots=True)
class Transition:
    """One change: when, of what (the node's verdict, or one agent's status), from what to what, why."""

    at: float
    subject: str
    before: str
    after: str
    reason: str


@dataclass(frozen=True, slots=True)
class HistoryLimits:
    per_node: int = 32
    """Verdict changes kept per node; its agents' changes get twice as many (two agents a node)."""
    max_transitions: int = 50_000
    """All nodes together (at about 0.5 KB each, some 25 MB at most)."""

    @classmethod
    def of(cls, settings: DiagnosisSettings) -> HistoryLimits:
        """-history-length and -history-max-transitions."""
        return cls(settings.history_per_node, settings.history_max_transitions)


@dataclass(frozen=True, slots=True)
class NodeHistory:
    verdict: str
    """The verdict of the last pass (as the checks gave it)."""
    agents: tuple[tuple[str, str], ...]
    """(pod, status) of the last pass, in the diagnosis's order."""
    verdict_changes: tuple[Transition, ...] = ()
    agent_changes: tuple[Transition, ...] = ()
    changes_total: int = 0
    """Verdict changes ever seen (netchecker_node_verdict_changes_total); kept with the history."""
    since: float = 0.0
    """When the node was first seen: a timeline says nothing of the time before it."""

    @property
    def transitions(self) -> int:
        return len(self.verdict_changes) + len(self.agent_changes)

    def flips_since(self, since: float) -> list[Transition]:
        """Changes at or after `since` between healthy and a problem (either way), leaving out the
        start-up grace (not a judgement). One outage is two flips however many verdicts it passes
        through: the two agents of a node fall silent, and come back, a pass or two apart."""
        healthy, starting = NodeVerdict.HEALTHY.value, NodeVerdict.STARTING.value
        return [
            t
            for t in self.verdict_changes
            if t.at >= since
            and starting not in {t.before, t.after}
            and (t.before == healthy) != (t.after == healthy)
        ]


@dataclass(frozen=True, slots=True)
class History:
    nodes: Mapping[str, NodeHistory]
    transitions: int
    """How many transitions all nodes hold together (the total bound)."""
    restored: bool = False
    """The stored history (etcd) has been merged in; until then nothing is written back."""


EMPTY_HISTORY = History(MappingProxyType({}), 0)


def agent_reason(agent: AgentVerdict, now: float) -> str:
    if agent.status is AgentStatus.OUTDATED:
        return f"silent: last report {age_words(agent.report_age_at(now))} ago"
    return {
        AgentStatus.FRESH: "reports again",
        AgentStatus.ABSENT: "expected, no report stored",
        AgentStatus.STARTING: "in its start-up grace",
    }[agent.status]


def _agents_of(node: NodeDiagnosis) -> tuple[tuple[str, str], ...]:
    return tuple((a.pod.name, a.status.value) for a in node.agents)


def next_node_history(
    previous: NodeHistory | None, node: NodeDiagnosis, now: float, limits: HistoryLimits
) -> NodeHistory:
    """The node after this pass; the first sight of a node is its state, not a change."""
    verdict, agents = node.verdict.value, _agents_of(node)
    if previous is None:
        return NodeHistory(verdict, agents, since=now)
    if previous.verdict == verdict and previous.agents == agents:
        return previous
    changes = previous.verdict_changes
    total = previous.changes_total
    if previous.verdict != verdict:
        changes = (*changes, Transition(now, NODE, previous.verdict, verdict, node.reason[:MAX_REASON_CHARS]))
        total += 1
    before = dict(previous.agents)
    by_pod = {a.pod.name: a for a in node.agents}
    moved = tuple(
        Transition(now, pod, before[pod], status, agent_reason(by_pod[pod], now))
        for pod, status in agents
        if pod in before and before[pod] != status
    )
    return NodeHistory(
        verdict,
        agents,
        changes[-limits.per_node :],
        (*previous.agent_changes, *moved)[-2 * limits.per_node :],
        total,
        previous.since,
    )


def record_pass(
    history: History, diagnosis: Diagnosis, now: float, limits: HistoryLimits, pause: Pause = NO_PAUSE
) -> tuple[History, frozenset[str]]:
    """The history after one full pass, and the nodes whose changes must be written back.

    Nodes gone from the diagnosis keep their changes (the history endpoint still answers for them)
    until the total bound takes them; one without changes is forgotten. `pause` is called once per
    node (gil_slices.py).
    """
    nodes = dict(history.nodes)
    changed: set[str] = set()
    seen: set[str] = set()
    total = history.transitions
    for node in diagnosis.nodes:
        pause()
        seen.add(node.node)
        previous = nodes.get(node.node)
        current = next_node_history(previous, node, now, limits)
        if current is not previous:
            nodes[node.node] = current
            if previous is not None and _added_changes(previous, current):
                changed.add(node.node)
            total += current.transitions - (previous.transitions if previous else 0)
    for name in [n for n, h in nodes.items() if n not in seen and h.transitions == 0]:
        del nodes[name]
    if total > limits.max_transitions:
        total, dropped = _trim_oldest(nodes, total, limits)
        changed |= dropped
    return replace(history, nodes=MappingProxyType(nodes), transitions=total), frozenset(changed)


def _added_changes(previous: NodeHistory, current: NodeHistory) -> bool:
    """New changes are stamped with this pass's time, so the last one differs iff one was added."""
    return (
        current.changes_total != previous.changes_total
        or current.agent_changes[-1:] != previous.agent_changes[-1:]
    )


def _trim_oldest(nodes: dict[str, NodeHistory], total: int, limits: HistoryLimits) -> tuple[int, set[str]]:
    """Drop the oldest transitions of all nodes until TRIM_TO_RATIO of the bound is left."""
    excess = total - int(limits.max_transitions * TRIM_TO_RATIO)
    times = (t.at for h in nodes.values() for t in (*h.verdict_changes, *h.agent_changes))
    cutoff = max(heapq.nsmallest(excess, times), default=float("-inf"))
    touched: set[str] = set()
    for name, node in list(nodes.items()):
        verdicts = tuple(t for t in node.verdict_changes if t.at > cutoff)
        agents = tuple(t for t in node.agent_changes if t.at > cutoff)
        if len(verdicts) + len(agents) == node.transitions:
            continue
        touched.add(name)
        total -= node.transitions - len(verdicts) - len(agents)
        nodes[name] = replace(node, verdict_changes=verdicts, agent_changes=agents)
    return total, touched


def restore(history: History, stored: Mapping[str, NodeHistory], limits: HistoryLimits) -> History:
    """Merge what was stored before this process started under what it has seen since.

    The stored changes come first, then this process's own; the last state is this process's
    (where it has seen the node), and the change counts add up.
    """
    nodes = dict(stored)
    for name, mine in history.nodes.items():
        old = nodes.get(name)
        if old is None:
            nodes[name] = mine
            continue
        nodes[name] = NodeHistory(
            mine.verdict,
            mine.agents,
            (*old.verdict_changes, *mine.verdict_changes)[-limits.per_node :],
            (*old.agent_changes, *mine.agent_changes)[-2 * limits.per_node :],
            old.changes_total + mine.changes_total,
            min(old.since, mine.since) if old.since else mine.since,
        )
    total = sum(node.transitions for node in nodes.values())
    if total > limits.max_transitions:
        total, _ = _trim_oldest(nodes, total, limits)
    return History(MappingProxyType(nodes), total, restored=True)


def history_of(history: History, names: Iterable[str]) -> dict[str, NodeHistory]:
    """The named nodes' histories (those it has): what a store writes back."""
    return {name: history.nodes[name] for name in names if name in history.nodes}
