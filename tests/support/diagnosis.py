"""Agents in every state, as check.py judges them, for the diagnosis tests and the page tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from netchecker_exporter.check import AgentVerdict, ExpectedPod, Network, judge_agent
from netchecker_exporter.report import PROBE_PHASES, AgentRecord, AgentReport, NetworkProbe
from netchecker_exporter.settings import DiagnosisSettings

NOW = 1_800_000_000.0
SETTINGS = DiagnosisSettings()
PING = "http://netchecker-service:8081/api/v1/ping"
TARGET = "http://probe-target.default.svc:8080/health"
RESOLVED = {"netchecker-service": ("10.233.0.10",)}


def rfc3339(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def probe(url: str, *, ok: bool = True, code: int | None = None) -> NetworkProbe:
    phases = tuple((phase, 1) for phase, _ in PROBE_PHASES)
    return NetworkProbe(url, 1 if ok or code else 0, code if code is not None else (200 if ok else 0), phases)


@dataclass(frozen=True)
class Agent:
    """One agent to build: None age = never reported; starting = still in its grace."""

    node: str
    network: Network = Network.POD
    age: float | None = 1.0
    starting: bool = False
    probes: Sequence[NetworkProbe] = (probe(PING), probe(TARGET))
    nslookup: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(RESOLVED))
    skew: float = 0.2
    reboots: int = 0
    boot: float | None = None
    interval: int = 10
    name: str = ""
    """The pod's name; default netchecker-agent[-hostnet]-<node>."""

    @property
    def pod(self) -> str:
        if self.name:
            return self.name
        kind = "netchecker-agent-hostnet" if self.network is Network.HOST else "netchecker-agent"
        return f"{kind}-{self.node}"

    def verdict(self, now: float = NOW) -> AgentVerdict:
        pod = ExpectedPod(self.pod, "netchecker", self.node, self.network, now + 60 if self.starting else 0.0)
        if self.age is None:
            return judge_agent(pod, None, now)
        received = now - self.age
        report = AgentReport(self.pod, self.node, self.interval, rfc3339(received + self.skew), 5000,
                             dict(self.nslookup), {}, tuple(self.probes))  # fmt: skip
        record = AgentRecord(report, received, 3, 0, self.reboots, self.boot)
        return judge_agent(pod, record, now)


def node_agents(
    node: str, pod: dict[str, object] | None = None, host: dict[str, object] | None = None
) -> list[Agent]:
    """Both agents of a node, each with its own changes (e.g. pod={"age": None})."""
    return [
        Agent(node, Network.POD, **(pod or {})),  # type: ignore[arg-type]
        Agent(node, Network.HOST, **(host or {})),  # type: ignore[arg-type]
    ]


def verdicts(agents: Sequence[Agent], now: float = NOW) -> list[AgentVerdict]:
    return [agent.verdict(now) for agent in agents]
