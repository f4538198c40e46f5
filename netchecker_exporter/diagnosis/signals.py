"""What each node verdict makes in Kubernetes: its Event reason and type, and its Node condition.

Pure; the one table of those facts (docs/events.md). The verdicts, their precedence and their words
stay in diagnosis_checks.py: this table only adds what Kubernetes needs. A new verdict gets a
row here, and tests/test_diagnosis_signals.py fails until it has one.
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
class VerdictSignal:
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

SIGNALS: dict[NodeVerdict, VerdictSignal] = {
    NodeVerdict.STARTING: VerdictSignal(None, NORMAL, None),
    NodeVerdict.NODE_UNREACHABLE: VerdictSignal("NodeUnreachable", WARNING, UNREACHABLE),
    # The agent DaemonSet not running is netchecker's problem, not the node's: an Event, no condition.
    NodeVerdict.AGENT_MISSING: VerdictSignal("AgentMissing", WARNING, None),
    NodeVerdict.POD_NETWORK_DOWN: VerdictSignal("PodNetworkDown", WARNING, POD_NETWORK),
    NodeVerdict.HOST_NETWORK_DOWN: VerdictSignal("HostNetworkDown", WARNING, HOST_NETWORK),
    NodeVerdict.DNS_FAILING: VerdictSignal("DNSFailing", WARNING, DNS),
    NodeVerdict.PROBE_FAILING: VerdictSignal("ProbeFailing", WARNING, PROBES),
    NodeVerdict.CLOCK_SKEW: VerdictSignal("ClockSkew", WARNING, CLOCK),
    # The kubelet already tells of a reboot; an Event links it to what netchecker saw.
    NodeVerdict.REBOOTED: VerdictSignal("Rebooted", NORMAL, None),
    # Working now, failing again and again: the Event series counts the flaps; no condition, since a
    # remediation controller acting on a node that works would do more harm than the flaps.
    NodeVerdict.FLAPPING: VerdictSignal("Flapping", WARNING, None),
    NodeVerdict.HEALTHY: VerdictSignal(None, NORMAL, None),
}

CONDITION_KINDS: tuple[ConditionKind, ...] = tuple(
    dict.fromkeys(s.condition for s in SIGNALS.values() if s.condition is not None)
)
"""Every condition type we own on a Node, in the table's order."""
