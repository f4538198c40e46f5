"""Judge agents: (expected pods, stored records, now) -> verdicts and the connectivity result.

Pure, so it is table-tested without I/O and every replica reading one store agrees.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

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
    report_age_seconds: float | None
    missed_keepalives: int
    """Running total including the full windows missed since the last report."""

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
        return AgentVerdict(pod, status, None, None, missed_keepalives=0)
    age = max(0.0, now - record.last_updated)
    interval = record.report.report_interval
    status = AgentStatus.OUTDATED if age > 2 * interval else AgentStatus.FRESH
    missed = record.missed_keepalives + missed_windows(age, interval)
    return AgentVerdict(pod, status, record, age, missed_keepalives=missed)


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


def rejudge(
    verdicts: Sequence[AgentVerdict],
    positions: Mapping[str, tuple[int, ...]],
    records: Mapping[str, AgentRecord | None],
    now: float,
    *,
    new_names_expected: bool,
) -> tuple[AgentVerdict, ...] | None:
    """`verdicts` with the agents in `records` judged again on those records, the rest unchanged.

    A name with no verdict is not expected (a pod list leaves it out), unless `new_names_expected`
    (no pod list): then None, as only a full pass knows where the new agent goes. The unchanged
    verdicts stay the same objects (caches compare identity).
    """
    if new_names_expected and any(name not in positions for name in records):
        return None
    updated = list(verdicts)
    for name, record in records.items():
        for index in positions.get(name, ()):
            updated[index] = judge_agent(updated[index].pod, record, now)
    return tuple(updated)


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
