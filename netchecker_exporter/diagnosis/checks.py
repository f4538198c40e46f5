"""The checks nodes.py runs on one node: each turns the node's agents into findings, in words.

Pure. A node has (normally) two agents: the pod-network one and the hostNetwork one. Comparing
them is what tells a CNI fault from a dead node, and a dead target from a broken path.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from netchecker_exporter.check import AgentStatus, AgentVerdict, Network
from netchecker_exporter.report import NetworkProbe
from netchecker_exporter.settings import DiagnosisSettings


class NodeVerdict(enum.StrEnum):
    """One verdict per node; the order is the precedence (the first that applies wins)."""

    STARTING = "starting"
    NODE_UNREACHABLE = "node_unreachable"
    AGENT_MISSING = "agent_missing"
    POD_NETWORK_DOWN = "pod_network_down"
    HOST_NETWORK_DOWN = "host_network_down"
    DNS_FAILING = "dns_failing"
    PROBE_FAILING = "probe_failing"
    FLAPPING = "flapping"
    """Its verdict keeps changing (flapping.py): ranked below the verdicts that say what
    is broken now, so a flapping node that is down right now shows as down."""
    CLOCK_SKEW = "clock_skew"
    REBOOTED = "rebooted"
    HEALTHY = "healthy"


PRECEDENCE = {verdict: rank for rank, verdict in enumerate(NodeVerdict)}
NETWORK_DOWN = {Network.POD: NodeVerdict.POD_NETWORK_DOWN, Network.HOST: NodeVerdict.HOST_NETWORK_DOWN}
WHERE_TO_LOOK = {
    Network.POD: "look at the CNI on this node",
    Network.HOST: "look at the node's firewall and the hostNetwork agent",
}
SILENT = {AgentStatus.ABSENT, AgentStatus.OUTDATED}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem seen on a node: its verdict, the reason in words, the facts behind it."""

    verdict: NodeVerdict
    reason: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Aspect:
    """One column of the status page: ok (True), broken (False) or not known (None), in words."""

    ok: bool | None
    text: str


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """What the checks read: the node's agents, the clock, the thresholds, the targets' state.

    Build it with node_facts(): the fresh agents, their failing probes and the clock skew are
    worked out once there, because every check and every page column asks for them.
    """

    name: str
    agents: list[AgentVerdict]
    now: float
    settings: DiagnosisSettings
    down_urls: frozenset[str]
    """URLs failing from every node: they say nothing about this one."""
    failing: Mapping[str, tuple[int, int]]
    """Per URL: (nodes failing it, nodes probing it)."""
    fresh_agents: list[AgentVerdict]
    failing_by_pod: Mapping[str, list[NetworkProbe]]
    skew: float | None
    """The node's clock minus our receive time (the largest among its fresh agents)."""

    def on(self, network: Network) -> list[AgentVerdict]:
        return [a for a in self.agents if a.pod.network is network]

    def fresh(self) -> list[AgentVerdict]:
        return self.fresh_agents

    def failing_probes(self, agent: AgentVerdict) -> list[NetworkProbe]:
        return self.failing_by_pod.get(agent.pod.name, [])


@dataclass(frozen=True, slots=True)
class PassContext:
    """What every node of one pass shares: the clock, the thresholds, the probe targets' state."""

    now: float
    settings: DiagnosisSettings
    down_urls: frozenset[str] = frozenset()
    failing: Mapping[str, tuple[int, int]] = field(default_factory=dict)


def node_facts(name: str, agents: list[AgentVerdict], context: PassContext) -> NodeFacts:
    down_urls = context.down_urls
    fresh = [a for a in agents if a.status is AgentStatus.FRESH and a.record is not None]
    failing_by_pod = {
        a.pod.name: [p for p in a.record.report.network_probes if not p.succeeded and p.url not in down_urls]
        for a in fresh
        if a.record
    }
    skews = [s for a in fresh if (s := agent_skew(a)) is not None]
    skew = max(skews, key=abs, default=None)
    return NodeFacts(name, agents, context.now, context.settings, down_urls, context.failing, fresh,
                     failing_by_pod, skew)  # fmt: skip


def who(agent: AgentVerdict) -> str:
    return f"the {agent.pod.network.value}-network agent {agent.pod.name}"


def age_words(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def how_it_failed(probe: NetworkProbe) -> str:
    return "no connection" if probe.connection_result != 1 else f"HTTP {probe.http_code}"


def find_problems(node: NodeFacts) -> list[Finding]:
    """Every finding on the node; a node in its start-up grace is not judged."""
    starting = [a for a in node.agents if a.status is AgentStatus.STARTING]
    if starting:
        pods = [a.pod.name for a in starting]
        reason = f"{who(starting[0])} is in its start-up grace: not judged yet"
        return [Finding(NodeVerdict.STARTING, reason, {"pods": pods})]
    checks = (silence, probe_problems, dns_problems, clock_problems, reboot_problems)
    return [finding for check in checks for finding in check(node)]


def _agent_data(agent: AgentVerdict, now: float) -> dict[str, Any]:
    return {
        "pod": agent.pod.name,
        "network": agent.pod.network.value,
        "status": agent.status.value,
        "report_age_seconds": agent.report_age_at(now),
    }


def silence(node: NodeFacts) -> Iterator[Finding]:
    """Agents that do not report: all of them (unreachable), never (missing), one network (down)."""
    silent = [a for a in node.agents if a.status in SILENT]
    if not silent:
        return
    data = {"silent": [_agent_data(a, node.now) for a in silent]}
    if len(silent) == len(node.agents) and any(a.status is AgentStatus.OUTDATED for a in silent):
        last = min(a.report_age_at(node.now) or 0.0 for a in silent if a.status is AgentStatus.OUTDATED)
        reason = (
            f"no agent has reported for {age_words(last)}, on either network: the node or its uplink is down"
        )
        yield Finding(NodeVerdict.NODE_UNREACHABLE, reason, data)
        return
    fresh_networks = {a.pod.network for a in node.fresh()}
    for agent in silent:
        if agent.status is AgentStatus.OUTDATED and agent.pod.network in fresh_networks:
            continue  # a newer pod of the same DaemonSet reports: this record is a rollout's leftover
        if agent.status is AgentStatus.ABSENT:
            yield Finding(NodeVerdict.AGENT_MISSING, f"{who(agent)} is expected but has never reported", data)
            continue
        others = [a for a in node.fresh() if a.pod.network is not agent.pod.network]
        if others:
            network = agent.pod.network
            reason = (
                f"{who(agent)} has been silent for {age_words(agent.report_age_at(node.now))} while "
                f"{who(others[0])} reports: {WHERE_TO_LOOK[network]}"
            )
            yield Finding(NETWORK_DOWN[network], reason, data)


def probe_problems(node: NodeFacts) -> Iterator[Finding]:
    """Probes one network fails and the other passes (that network is down), or failing probes."""
    fresh = node.fresh()
    by_url: dict[str, list[tuple[AgentVerdict, NetworkProbe]]] = {}
    for agent in fresh:
        failing = node.failing_probes(agent)
        others = [a for a in fresh if a.pod.network is not agent.pod.network]
        if failing and others and not any(node.failing_probes(other) for other in others):
            yield _network_down(agent, others[0], failing)
            continue
        for probe in failing:
            by_url.setdefault(probe.url, []).append((agent, probe))
    for url, failures in by_url.items():
        data = {"url": url, "failing": [{"pod": a.pod.name, **_probes_data([p])[0]} for a, p in failures]}
        yield Finding(NodeVerdict.PROBE_FAILING, _probe_reason(node, url, failures), data)


def _network_down(agent: AgentVerdict, other: AgentVerdict, failing: list[NetworkProbe]) -> Finding:
    urls = ", ".join(f"{p.url} ({how_it_failed(p)})" for p in failing)
    network = agent.pod.network
    reason = (
        f"{who(agent)} cannot reach {urls} while {who(other)} reaches every target: {WHERE_TO_LOOK[network]}"
    )
    data = {"network": network.value, "pod": agent.pod.name, "failing": _probes_data(failing)}
    return Finding(NETWORK_DOWN[network], reason, data)


def _probes_data(probes: list[NetworkProbe]) -> list[dict[str, Any]]:
    return [{"url": p.url, "network_ok": p.connection_result == 1, "http_code": p.http_code} for p in probes]


def _probe_reason(node: NodeFacts, url: str, failures: list[tuple[AgentVerdict, NetworkProbe]]) -> str:
    failing, probing = node.failing.get(url, (1, 1))
    networks = " and ".join(sorted({a.pod.network.value for a, _ in failures}))
    how = ", ".join(sorted({how_it_failed(p) for _, p in failures}))
    where = f"it fails from {failing} of {probing} nodes: a network problem between them and the target"
    return f"{url} fails from the {networks} network ({how}); {where}"


def dns_problems(node: NodeFacts) -> Iterator[Finding]:
    """An empty nslookup answer is the agent's way of saying the lookup failed."""
    for agent in node.fresh():
        answers = agent.record.report.nslookup if agent.record else {}
        empty = sorted(host for host, addresses in answers.items() if not addresses)
        if empty:
            network = agent.pod.network.value
            reason = f"DNS lookup of {', '.join(empty)} returned no address on the {network} network"
            yield Finding(NodeVerdict.DNS_FAILING, reason, {"network": network, "hosts": empty})


def parse_hostdate(text: str) -> float | None:
    """The agent's RFC 3339 clock reading (validated at ingest), or None when it sent none."""
    try:
        return datetime.fromisoformat(text).timestamp() if text else None
    except ValueError:
        return None


def agent_skew(agent: AgentVerdict) -> float | None:
    """The agent's clock minus our receive time (transit adds well under a second)."""
    if agent.record is None:
        return None
    sent = parse_hostdate(agent.record.report.hostdate)
    return None if sent is None else sent - agent.record.last_updated


def clock_problems(node: NodeFacts) -> Iterator[Finding]:
    skew = node.skew
    threshold = node.settings.clock_skew_threshold_seconds
    if skew is not None and abs(skew) > threshold:
        side = "ahead of" if skew > 0 else "behind"
        reason = f"the node's clock is {age_words(abs(skew))} {side} the server's (threshold {threshold:g} s)"
        yield Finding(NodeVerdict.CLOCK_SKEW, reason, {"skew_seconds": skew, "threshold_seconds": threshold})


def reboot_problems(node: NodeFacts) -> Iterator[Finding]:
    records = [a.record for a in node.agents if a.record is not None and a.record.last_boot_timestamp]
    if not records:
        return
    boot = max(r.last_boot_timestamp or 0.0 for r in records)
    since = node.now - boot
    if since < node.settings.reboot_window_seconds:
        reboots = max(r.reboots for r in records)
        ago = age_words(max(since, 0.0))
        reason = f"the node rebooted {ago} ago (its uptime went down; reboots seen: {reboots})"
        data = {
            "boot_timestamp": boot,
            "reboots": reboots,
            "window_seconds": node.settings.reboot_window_seconds,
        }
        yield Finding(NodeVerdict.REBOOTED, reason, data)
