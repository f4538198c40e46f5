"""The status page's columns for one node (pod network, host network, DNS, clock, probes), in words.

Pure; part of the diagnosis so that the page, the JSON and the tests read the same words.
"""

from __future__ import annotations

from netchecker_exporter.check import AgentStatus, Network
from netchecker_exporter.diagnosis.checks import (
    Aspect,
    NodeFacts,
    age_words,
    dns_problems,
    how_it_failed,
)


def aspects_of(node: NodeFacts) -> dict[str, Aspect]:
    """The status page's columns for this node, in words."""
    return {
        "pod_network": network_aspect(node, Network.POD),
        "host_network": network_aspect(node, Network.HOST),
        "dns": dns_aspect(node),
        "clock": clock_aspect(node),
        "probes": probes_aspect(node),
    }


_STATUS_ORDER = {
    AgentStatus.FRESH: 0,
    AgentStatus.STARTING: 1,
    AgentStatus.OUTDATED: 2,
    AgentStatus.ABSENT: 3,
}


def network_aspect(node: NodeFacts, network: Network) -> Aspect:
    agents = sorted(node.on(network), key=lambda a: _STATUS_ORDER[a.status])
    if not agents:
        return Aspect(None, "no agent expected")
    agent = agents[0]
    if agent.status is AgentStatus.STARTING:
        return Aspect(None, "starting (start-up grace)")
    if agent.status is AgentStatus.ABSENT:
        return Aspect(False, "never reported")
    if agent.status is AgentStatus.OUTDATED:
        return Aspect(False, f"silent: last report {age_words(agent.report_age_at(node.now))} ago")
    probes = agent.record.report.network_probes if agent.record else ()
    failing = len(node.failing_probes(agent))
    age = age_words(agent.report_age_at(node.now))
    text = f"reported {age} ago; {len(probes) - failing}/{len(probes)} probes ok"
    return Aspect(failing == 0, text)


def dns_aspect(node: NodeFacts) -> Aspect:
    findings = list(dns_problems(node))
    if findings:
        words = [
            f"no address for {', '.join(f.data['hosts'])} ({f.data['network']} network)" for f in findings
        ]
        return Aspect(False, "; ".join(words))
    hosts = sorted({h for a in node.fresh() if a.record for h in a.record.report.nslookup})
    return Aspect(True, f"resolves {', '.join(hosts)}") if hosts else Aspect(None, "no lookup reported")


def clock_aspect(node: NodeFacts) -> Aspect:
    skew = node.skew
    if skew is None:
        return Aspect(None, "unknown")
    if abs(skew) <= node.settings.clock_skew_threshold_seconds:
        return Aspect(True, f"{skew:+.1f} s".replace("-0.0", "+0.0"))
    return Aspect(False, f"{age_words(abs(skew))} {'ahead' if skew > 0 else 'behind'}")


def probes_aspect(node: NodeFacts) -> Aspect:
    """Failing URLs with the networks they fail from; targets down everywhere only counted."""
    probes = [(a, p) for a in node.fresh() if a.record for p in a.record.report.network_probes]
    if not probes:
        return Aspect(None, "no probe reported")
    mine: dict[str, set[str]] = {}
    down: set[str] = set()
    down_failures = 0
    for agent, probe in probes:
        if probe.succeeded:
            continue
        if probe.url in node.down_urls:
            down.add(probe.url)
            down_failures += 1
        else:
            mine.setdefault(probe.url, set()).add(f"{agent.pod.network.value}, {how_it_failed(probe)}")
    words = [f"{url} ({'; '.join(sorted(how))})" for url, how in sorted(mine.items())]
    also = f"{len(down)} target down everywhere (not this node)" if down else ""
    if words:
        return Aspect(False, "fails: " + "; ".join(words) + (f"; {also}" if also else ""))
    ok = f"{len(probes) - down_failures} of {len(probes)} probes ok"
    return Aspect(None, f"{ok}; {also}") if down else Aspect(True, f"{len(probes)} probes ok")
