"""A small fleet: agent pods on three nodes (two also hostNetwork), one agent process each, one exporter."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from e2e.agents import AgentProcess
from e2e.cluster import Cluster
from e2e.conftest import AgentFactory, ExporterFactory, PodFactory
from e2e.states import agent_states
from tests.support.exporter import ExporterProcess
from tests.support.polling import wait_until

INTERVAL_SECONDS = 2
CHECK_INTERVAL_SECONDS = 1
NODES = ("node-a", "node-b", "node-c")


@dataclass
class Fleet:
    cluster: Cluster
    exporter: ExporterProcess
    agents: dict[str, AgentProcess] = field(default_factory=dict)

    @property
    def pods(self) -> list[str]:
        return sorted(self.agents)

    def wait_all_fresh(self, pods: list[str] | None = None, timeout_seconds: float = 30) -> None:
        wanted = set(pods if pods is not None else self.pods)

        def fresh() -> bool:
            states = agent_states(self.exporter)
            return all(states.get(pod) == "fresh" for pod in wanted)

        wait_until(fresh, timeout_seconds, f"{sorted(wanted)} to be fresh", interval_seconds=0.25)


def pod_names(prefix: str) -> list[tuple[str, str, bool]]:
    """(pod, node, hostNetwork) as the two DaemonSets would name them on NODES."""
    podnet = [(f"netchecker-agent-{prefix}{i}", node, False) for i, node in enumerate(NODES)]
    hostnet = [(f"netchecker-agent-hostnet-{prefix}{i}", node, True) for i, node in enumerate(NODES[:2])]
    return podnet + hostnet


def start_fleet(
    cluster: Cluster,
    pods: PodFactory,
    agents: AgentFactory,
    exporter: ExporterFactory,
    tmp_path: Path,
    *,
    prefix: str,
    extra_flags: tuple[str, ...] = (),
) -> Fleet:
    """Pods first (as the DaemonSets would), the exporter on the exporter's own token, then the agents."""
    members = pod_names(prefix)
    for pod, node, host_network in members:
        pods(pod, node, host_network=host_network)
    kubeconfig = cluster.exporter_kubeconfig(tmp_path / "kubeconfig")
    process = exporter(
        f"-kubeconfig={kubeconfig}",
        f"-check-interval={CHECK_INTERVAL_SECONDS}",
        "-startup-grace=60",
        *extra_flags,
    )
    fleet = Fleet(cluster, process)
    for pod, node, host_network in members:  # with the chart's DaemonSet arguments, as the pod would run
        (container,) = cluster.daemonset(host_network=host_network)["spec"]["template"]["spec"]["containers"]
        fleet.agents[pod] = agents(pod, node, process.endpoint, INTERVAL_SECONDS, container["args"])
    return fleet


def kubespray_check(exporter: ExporterProcess, expected_agents: int) -> tuple[bool, str]:
    """kubespray's tests/testcases/040_check-network-adv.yml, as written: the agents list is a JSON
    object with at least one entry per agent, and connectivity_check answers 200 with a JSON object."""
    agents = requests.get(exporter.url + "/api/v1/agents/", timeout=10)
    content = agents.text
    if not (content and content[0] == "{" and len(json.loads(content)) >= expected_agents):
        return False, f"agents: {content[:300]}"
    check = requests.get(exporter.url + "/api/v1/connectivity_check", timeout=10)
    ok = check.status_code == 200 and bool(check.text) and check.text[0] == "{"
    return ok, f"connectivity_check: {check.status_code} {check.text[:300]}"


def seconds_since(start: float) -> float:
    return time.monotonic() - start
