"""One row per node verdict: what it says cluster-wide, its alert, its Event and its Node condition.

Pure; the one table of those facts (docs/architecture.md#diagnosis, docs/events.md). The verdict
itself and its precedence are the enum in checks.py, and the checks there find it; everything else
a verdict carries is its row here. A new verdict fails tests/test_event_plan.py until it has one.
"""

from __future__ import annotations

from dataclasses import dataclass

from netchecker_exporter.diagnosis.checks import NodeVerdict

WARNING = "Warning"
NORMAL = "Normal"
RECOVERED_REASON = "Recovered"
"""The Event of a node whose verdict went from a fault back to healthy."""
MAX_TEXT_BYTES = 1024
"""The API server refuses a longer Event note; condition messages are held to the same."""


def fit_text(text: str) -> str:
    """`text` cut to MAX_TEXT_BYTES of UTF-8 (the words come from client-chosen URLs and names)."""
    data = text.encode()
    if len(data) <= MAX_TEXT_BYTES:
        return text
    return data[: MAX_TEXT_BYTES - 3].decode(errors="ignore") + "..."


@dataclass(frozen=True, slots=True)
class ConditionKind:
    """A Node condition in node-problem-detector's manner: True while the problem is present."""

    type: str
    clear_reason: str
    """The condition's reason while it is False."""
    clear_message: str


@dataclass(frozen=True, slots=True)
class VerdictRow:
    """One verdict's facts beyond its check."""

    pattern_words: str | None
    """What most nodes sharing it say about the cluster ("N of M nodes ..."); None: never a pattern."""
    alert: str | None
    """Its alert in alerts/netchecker.rules.yml, and the runbook section of that name."""
    event_reason: str | None
    """None: no Event (the node is not judged yet, or healthy: that is `Recovered`)."""
    event_type: str
    condition: ConditionKind | None
    """None: not a fault of the node itself (a remediation controller must not act on it)."""


POD_NETWORK = ConditionKind(
    "NetcheckerPodNetworkProblem", "PodNetworkWorks", "netchecker: the pod-network agent reports and reaches"
)
HOST_NETWORK = ConditionKind(
    "NetcheckerHostNetworkProblem",
    "HostNetworkWorks",
    "netchecker: the host-network agent reports and reaches",
)
UNREACHABLE = ConditionKind(
    "NetcheckerNodeUnreachable", "NodeReports", "netchecker: the node's agents report to the server"
)
DNS = ConditionKind("NetcheckerDNSProblem", "DNSWorks", "netchecker: DNS lookups on the node answer")
PROBES = ConditionKind(
    "NetcheckerProbeProblem", "ProbesSucceed", "netchecker: the node reaches its probe targets"
)
CLOCK = ConditionKind("NetcheckerClockSkew", "ClockInStep", "netchecker: the node's clock is in step")

VERDICTS: dict[NodeVerdict, VerdictRow] = {
    NodeVerdict.STARTING: VerdictRow(None, None, None, NORMAL, None),
    NodeVerdict.NODE_UNREACHABLE: VerdictRow(
        "silent on both networks: the server, its Service or the path to it, not the nodes",
        "NetcheckerNodeUnreachable",
        "NodeUnreachable",
        WARNING,
        UNREACHABLE,
    ),
    # The agent DaemonSet not running is netchecker's problem, not the node's: an Event, no condition.
    NodeVerdict.AGENT_MISSING: VerdictRow(
        "missing agents: the agent DaemonSets are not running (image, scheduling)",
        "NetcheckerNodeAgentMissing",
        "AgentMissing",
        WARNING,
        None,
    ),
    NodeVerdict.POD_NETWORK_DOWN: VerdictRow(
        "pod network down while the host network works: the overlay / CNI cluster-wide, not one node",
        "NetcheckerPodNetworkDownOnNode",
        "PodNetworkDown",
        WARNING,
        POD_NETWORK,
    ),
    NodeVerdict.HOST_NETWORK_DOWN: VerdictRow(
        "host network failing while the pod network works: a host firewall or the hostNetwork DaemonSet",
        "NetcheckerHostNetworkDownOnNode",
        "HostNetworkDown",
        WARNING,
        HOST_NETWORK,
    ),
    NodeVerdict.DNS_FAILING: VerdictRow(
        "DNS failing: cluster DNS itself (CoreDNS, nodelocaldns), not one node",
        "NetcheckerNodeDNSFailing",
        "DNSFailing",
        WARNING,
        DNS,
    ),
    NodeVerdict.PROBE_FAILING: VerdictRow(
        "probes failing: a shared path (egress, NetworkPolicy) to the targets",
        "NetcheckerNodeProbeFailing",
        "ProbeFailing",
        WARNING,
        PROBES,
    ),
    # Working now, failing again and again: the Event series counts the flaps; no condition, since a
    # remediation controller acting on a node that works would do more harm than the flaps.
    NodeVerdict.FLAPPING: VerdictRow(
        "flapping (their verdicts keep changing): the server's own reachability, "
        "or reports that arrive about as late as 2 x their interval",
        "NetcheckerNodeFlapping",
        "Flapping",
        WARNING,
        None,
    ),
    NodeVerdict.CLOCK_SKEW: VerdictRow(
        "clocks disagree with the server's: the server's own clock is probably off",
        "NetcheckerNodeClockSkew",
        "ClockSkew",
        WARNING,
        CLOCK,
    ),
    # The kubelet already tells of a reboot; an Event links it to what netchecker saw.
    NodeVerdict.REBOOTED: VerdictRow(
        "rebooted recently: a cluster-wide restart or upgrade",
        "NetcheckerNodeRebooted",
        "Rebooted",
        NORMAL,
        None,
    ),
    NodeVerdict.HEALTHY: VerdictRow(None, None, None, NORMAL, None),
}

ALERTS = {verdict: row.alert for verdict, row in VERDICTS.items() if row.alert is not None}
"""The table's alert column, for the status page's runbook links."""

CONDITION_KINDS: tuple[ConditionKind, ...] = tuple(
    dict.fromkeys(row.condition for row in VERDICTS.values() if row.condition is not None)
)
"""Every condition type we own on a Node, in the table's order."""
