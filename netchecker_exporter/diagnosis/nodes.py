"""Diagnose nodes: agent verdicts (check.py) + now -> one verdict per node with evidence, and a summary.

Pure, like check.py: every replica reading one store says the same thing about every node. The
verdict names what is broken and where; its evidence says why, in words and as data.
"""

from __future__ import annotations

import enum
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from netchecker_exporter.check import AgentStatus, AgentVerdict
from netchecker_exporter.diagnosis.aspects import aspects_of
from netchecker_exporter.diagnosis.checks import (
    PRECEDENCE,
    SILENT,
    Aspect,
    Finding,
    NodeFacts,
    NodeVerdict,
    PassContext,
    find_problems,
    node_facts,
)
from netchecker_exporter.diagnosis.verdicts import VERDICTS
from netchecker_exporter.gil_slices import NO_PAUSE, Pause
from netchecker_exporter.settings import DiagnosisSettings

__all__ = ["Aspect", "Diagnosis", "Finding", "NodeDiagnosis", "NodeVerdict", "TargetDiagnosis", "diagnose"]

TARGET_DOWN_MIN_NODES = 2
"""A URL failing from its only node says nothing about the target: it takes two to call it down."""


class TargetVerdict(enum.StrEnum):
    OK = "ok"
    FAILING_FROM_SOME_NODES = "failing_from_some_nodes"
    """A network problem between those nodes and the target."""
    DOWN = "down"
    """Failing from every node that probes it, on both networks: the target itself."""


HEALTHY_CLUSTER = "healthy"
DEGRADED_CLUSTER = "degraded"
UNKNOWN_CLUSTER = "unknown"
"""No node judged yet (none expected, or all in their start-up grace): not the same as healthy."""
NOT_JUDGED_OR_FINE = {NodeVerdict.STARTING, NodeVerdict.HEALTHY}
CLUSTER_VERDICTS = (
    HEALTHY_CLUSTER,
    DEGRADED_CLUSTER,
    UNKNOWN_CLUSTER,
    *(v.value for v in NodeVerdict if v not in NOT_JUDGED_OR_FINE),
)
"""healthy; degraded (some nodes or targets); or the node verdict most nodes share (cluster-wide)."""


@dataclass(frozen=True, slots=True)
class NodeDiagnosis:
    node: str
    verdict: NodeVerdict
    reason: str
    findings: tuple[Finding, ...]
    agents: tuple[AgentVerdict, ...]
    facts: NodeFacts
    clock_skew_seconds: float | None
    """The agent's clock minus our receive time (largest of the node's fresh agents)."""
    reboots: int
    last_boot_timestamp: float | None

    @property
    def aspects(self) -> dict[str, Aspect]:
        """pod_network, host_network, dns, clock, probes in words: worked out when a view asks,
        not at every pass (it is most of a node's cost, and only the page and the JSON read it)."""
        return aspects_of(self.facts)


@dataclass(frozen=True, slots=True)
class TargetDiagnosis:
    url: str
    verdict: TargetVerdict
    nodes_probing: int
    failing_nodes: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class ClusterSummary:
    verdict: str
    reason: str
    nodes_judged: int
    counts: Mapping[NodeVerdict, int]


@dataclass(frozen=True, slots=True)
class Diagnosis:
    at: float
    nodes: tuple[NodeDiagnosis, ...]
    """Worst verdict first, then by node name."""
    targets: tuple[TargetDiagnosis, ...]
    cluster: ClusterSummary


EMPTY_DIAGNOSIS = Diagnosis(
    0.0, (), (), ClusterSummary(UNKNOWN_CLUSTER, "no node to judge yet", 0, dict.fromkeys(NodeVerdict, 0))
)


def diagnose(
    verdicts: Iterable[AgentVerdict],
    now: float,
    settings: DiagnosisSettings,
    pause: Pause = NO_PAUSE,
    previous: Diagnosis | None = None,
) -> Diagnosis:
    """The whole diagnosis of one reconcile pass; `pause` is called once per node and step
    (the reconcile thread gives the GIL back there: gil_slices.py).

    `previous` (this function's result at an earlier pass) lends the nodes whose inputs did not
    change: the same verdict objects, the same targets and settings, and no finding that reads
    the clock. The result is what diagnose(verdicts, now, settings) gives (tests hold it).
    """
    by_node: dict[str, list[AgentVerdict]] = defaultdict(list)
    for verdict in verdicts:
        by_node[verdict.node].append(verdict)
        pause()
    targets = diagnose_targets(by_node, pause)
    down = frozenset(t.url for t in targets if t.verdict is TargetVerdict.DOWN)
    failing = {t.url: (len(t.failing_nodes), t.nodes_probing) for t in targets}
    context = PassContext(now, settings, down, failing)
    kept = _clock_free_nodes(previous, targets, settings, now)
    diagnosed = []
    for name, agents in by_node.items():
        old = kept.get(name)
        if old is not None and _same_objects(old.facts.agents, agents):
            diagnosed.append(_as_of(old, now))
        else:
            diagnosed.append(diagnose_node(node_facts(name, agents, context)))
        pause()
    nodes = sorted(diagnosed, key=lambda n: (PRECEDENCE[n.verdict], n.node))
    return Diagnosis(now, tuple(nodes), targets, summarize(nodes, targets, settings))


def _clock_free_nodes(
    previous: Diagnosis | None, targets: tuple[TargetDiagnosis, ...], settings: DiagnosisSettings, now: float
) -> dict[str, NodeDiagnosis]:
    """The previous pass's nodes that a later pass may keep: its targets and settings are these,
    time went forward, and no finding read the clock (the silent agents' ages in `silence`, the
    reboot window in `reboot_problems`: a reboot outside the window stays outside as time goes on)."""
    if previous is None or previous.targets != targets or now < previous.at:
        return {}
    return {
        node.node: node
        for node in previous.nodes
        if node.facts.settings == settings
        and not any(a.status in SILENT for a in node.facts.agents)
        and not any(f.verdict is NodeVerdict.REBOOTED for f in node.findings)
    }


def _same_objects(kept: list[AgentVerdict], agents: list[AgentVerdict]) -> bool:
    return len(kept) == len(agents) and all(a is b for a, b in zip(kept, agents, strict=True))


def _as_of(node: NodeDiagnosis, now: float) -> NodeDiagnosis:
    """A kept node at this pass's moment: its facts carry `now` (the page's ages read it)."""
    f = node.facts
    facts = NodeFacts(f.name, f.agents, now, f.settings, f.down_urls, f.failing, f.fresh_agents,
                      f.failing_by_pod, f.skew)  # fmt: skip
    return NodeDiagnosis(node.node, node.verdict, node.reason, node.findings, node.agents, facts,
                         node.clock_skew_seconds, node.reboots, node.last_boot_timestamp)  # fmt: skip


def _fresh(agents: Iterable[AgentVerdict]) -> list[AgentVerdict]:
    return [a for a in agents if a.status is AgentStatus.FRESH and a.record is not None]


def _judged(agents: list[AgentVerdict]) -> bool:
    return not any(a.status is AgentStatus.STARTING for a in agents)


def diagnose_targets(
    by_node: Mapping[str, list[AgentVerdict]], pause: Pause = NO_PAUSE
) -> tuple[TargetDiagnosis, ...]:
    """Per probe URL: failing from every node (down), from some (a path problem), or from none."""
    probing: dict[str, set[str]] = defaultdict(set)
    failing: dict[str, set[str]] = defaultdict(set)
    passing: dict[str, int] = Counter()
    for node, agents in by_node.items():
        pause()
        for agent in _fresh(agents) if _judged(agents) else ():
            for probe in agent.record.report.network_probes if agent.record else ():
                probing[probe.url].add(node)
                if probe.succeeded:
                    passing[probe.url] += 1
                else:
                    failing[probe.url].add(node)
    return tuple(_target(url, len(probing[url]), failing[url], passing[url]) for url in sorted(probing))


def _target(url: str, nodes: int, failing: set[str], passing: int) -> TargetDiagnosis:
    names = tuple(sorted(failing))
    if not failing:
        reason = f"reachable from every node probing it ({nodes})"
        return TargetDiagnosis(url, TargetVerdict.OK, nodes, (), reason)
    if passing == 0 and nodes >= TARGET_DOWN_MIN_NODES:
        reason = f"fails from every node probing it ({nodes}), from every agent: the target is down"
        return TargetDiagnosis(url, TargetVerdict.DOWN, nodes, names, reason)
    reason = (
        f"fails from {len(names)} of {nodes} nodes ({_first(names)}): "
        "a network problem between those nodes and the target"
    )
    return TargetDiagnosis(url, TargetVerdict.FAILING_FROM_SOME_NODES, nodes, names, reason)


def _first(names: tuple[str, ...], shown: int = 3) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def diagnose_node(node: NodeFacts) -> NodeDiagnosis:
    """One node's verdict: the highest-precedence finding, every finding kept as evidence."""
    agents = node.agents
    findings = tuple(sorted(find_problems(node), key=lambda f: PRECEDENCE[f.verdict]))
    verdict, reason = (findings[0].verdict, findings[0].reason) if findings else (NodeVerdict.HEALTHY, "")
    boots = [a.record.last_boot_timestamp for a in agents if a.record and a.record.last_boot_timestamp]
    return NodeDiagnosis(
        node=node.name,
        verdict=verdict,
        reason=reason or "both networks report, probes succeed, DNS answers, clock in step",
        findings=findings,
        agents=tuple(sorted(agents, key=lambda a: (a.pod.network.value, a.pod.name))),
        facts=node,
        clock_skew_seconds=node.skew,
        reboots=max((a.record.reboots for a in agents if a.record), default=0),
        last_boot_timestamp=max(boots, default=None),
    )


def summarize(
    nodes: list[NodeDiagnosis], targets: Iterable[TargetDiagnosis], settings: DiagnosisSettings
) -> ClusterSummary:
    """healthy, degraded, unknown, or a cluster-wide pattern when most judged nodes share one verdict."""
    counts = Counter(n.verdict for n in nodes)
    judged = len(nodes) - counts[NodeVerdict.STARTING]
    everything = {v: counts.get(v, 0) for v in NodeVerdict}
    broken = [n for n in nodes if n.verdict not in NOT_JUDGED_OR_FINE]
    common = Counter(n.verdict for n in broken).most_common(1)
    if common and judged >= settings.cluster_pattern_min_nodes:
        verdict, count = common[0]
        if count >= settings.cluster_pattern_ratio * judged:
            reason = f"{count} of {judged} nodes {VERDICTS[verdict].pattern_words}"
            return ClusterSummary(verdict.value, reason, judged, everything)
    down = [t.url for t in targets if t.verdict is TargetVerdict.DOWN]
    if not broken and not down:
        if not judged:
            return ClusterSummary(UNKNOWN_CLUSTER, "no node to judge yet", 0, everything)
        return ClusterSummary(HEALTHY_CLUSTER, f"all {judged} nodes healthy", judged, everything)
    parts = [f"{n.node}: {n.verdict.value.replace('_', ' ')}" for n in broken[:3]]
    parts += [f"target {url} down" for url in down[:3]]
    reason = f"{len(broken)} of {judged} nodes have a problem; " + "; ".join(parts)
    return ClusterSummary(DEGRADED_CLUSTER, reason, judged, everything)
