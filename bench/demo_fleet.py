"""The demo's simulated fleet: N nodes, both agent kinds, a few failing probes, one node going silent.

Every agent reports on its own schedule like the Go agent (new connection, `Connection: close`),
with fresh `hostdate`, varying probe timings and, on the failing nodes, a pod-network probe that
cannot connect. The silent node's two agents stop after `silent_after_seconds`, so the server
turns them outdated and /api/v1/connectivity_check answers 400. `faults` (bench/demo_faults.py)
give other nodes one diagnosis verdict each; `target_down` adds a probe target down everywhere.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.demo_faults import DOWN_URL, PATH_URL, AgentMoment, Fault, faulty_report, probe_fails
from bench.fleet import post_report
from bench.payload import AgentIdentity, agent_identity, load_fixtures, render_report, request_bytes

UNREACHABLE_URL = "http://netchecker-probe-target.default.svc:8080/health"


@dataclass(frozen=True, slots=True)
class DemoFleet:
    port: int
    nodes: int = 20
    report_interval_seconds: int = 5
    silent_node: int = 7
    silent_after_seconds: float = 60.0
    failing_nodes: frozenset[int] = frozenset({3, 11, 16})
    """Nodes whose pod-network agent cannot reach UNREACHABLE_URL."""
    duration_seconds: float = 3600.0
    """The simulator stops by itself after this long (it is a demo, not a daemon)."""
    host: str = "127.0.0.1"
    faults: Mapping[int, Fault] = field(default_factory=dict)
    """Node index -> the fault it shows (demo_faults.DEMO_FAULTS for `make demo`)."""
    target_down: bool = False
    """Every agent also probes demo_faults.DOWN_URL, and it fails from everywhere."""

    def moment(self, node: int, elapsed: float, *, hostnet: bool) -> AgentMoment:
        fault = self.faults.get(node)
        if node == self.silent_node:
            fault = Fault.NODE_UNREACHABLE
        elif node in self.failing_nodes and fault is None:
            fault = Fault.POD_NETWORK_DOWN
        return AgentMoment(fault, hostnet, elapsed, self.silent_after_seconds, self.report_interval_seconds)

    def agents(self) -> list[AgentIdentity]:
        return [agent_identity(index) for index in range(2 * self.nodes)]

    def silent_pods(self) -> list[str]:
        return [a.pod for i, a in enumerate(self.agents()) if i // 2 == self.silent_node]


def pods_file_text(fleet: DemoFleet) -> str:
    """The `-pods-file` listing every agent of the fleet, so the server knows whom to expect."""
    lines = ["agents:"]
    for agent in fleet.agents():
        network = "host" if agent.hostnet else "pod"
        lines.append(
            f"  - {{pod: {agent.pod}, node: {agent.node}, namespace: netchecker, network: {network}}}"
        )
    return "\n".join(lines) + "\n"


def demo_probes(fleet: DemoFleet, moment: AgentMoment, rng: random.Random) -> list[Any]:
    """The agent's probes: the server's ping and a service (plus the fault URLs); timings vary a little."""
    ping = f"http://{fleet.host}:{fleet.port}/api/v1/ping"
    urls = [ping, UNREACHABLE_URL]
    urls += [PATH_URL] if fleet.faults else []
    urls += [DOWN_URL] if fleet.target_down else []
    pod_network_down = moment.fault is Fault.POD_NETWORK_DOWN and not moment.hostnet
    probes = []
    for url in urls:
        failing = (pod_network_down and url == UNREACHABLE_URL) or probe_fails(
            url, moment, target_down=fleet.target_down
        )
        if failing:
            probes.append(_probe(url, 0, 0, [0, 0, 0, 0, 0, 0]))
            continue
        dns, connect, server = rng.randint(0, 3), rng.randint(0, 2), rng.randint(1, 6)
        total = dns + connect + server + 1
        probes.append(_probe(url, 1, 200, [total, 1, connect, dns, connect, server]))
    return probes


def _probe(url: str, connected: int, code: int, phases: list[int]) -> dict[str, Any]:
    keys = ("Total", "ContentTransfer", "TCPConnection", "DNSLookup", "Connect", "ServerProcessing")
    return {
        "URL": url,
        "ConnectionResult": connected,
        "HTTPCode": code,
        **dict(zip(keys, phases, strict=True)),
    }


@dataclass
class FleetCounts:
    """Reports sent by outcome ("200", "400", "ConnectionRefusedError", ...)."""

    outcomes: Counter[str] = field(default_factory=Counter)
    silenced: list[str] = field(default_factory=list)


async def run_demo_fleet(
    fleet: DemoFleet, stop: asyncio.Event, clock: Callable[[], float] = time.monotonic
) -> FleetCounts:
    """Run every agent until `stop` is set or the fleet's duration is up."""
    run = _DemoRun(fleet, stop, clock)
    tasks = [asyncio.create_task(run.agent(index, agent)) for index, agent in enumerate(fleet.agents())]
    await asyncio.wait(tasks, timeout=fleet.duration_seconds + 2 * fleet.report_interval_seconds)
    for task in tasks:
        task.cancel()
    return run.counts


class _DemoRun:
    def __init__(self, fleet: DemoFleet, stop: asyncio.Event, clock: Callable[[], float]) -> None:
        self.fleet = fleet
        self.stop = stop
        self.clock = clock
        self.started = clock()
        self.counts = FleetCounts()
        self.fixtures = load_fixtures()
        self.rng = random.Random(6)

    def elapsed(self) -> float:
        return self.clock() - self.started

    async def agent(self, index: int, agent: AgentIdentity) -> None:
        fleet = self.fleet
        interval = fleet.report_interval_seconds
        node = index // 2
        if await _wait(self.stop, self.rng.uniform(0, min(interval, 1.0))):
            return
        while self.elapsed() < fleet.duration_seconds:
            moment = fleet.moment(node, self.elapsed(), hostnet=agent.hostnet)
            if moment.silent() and moment.comes_back():
                if await _wait(self.stop, interval):
                    return
                continue
            if moment.silent():
                self.counts.silenced.append(agent.pod)
                return
            await self.report(agent, moment)
            if await _wait(self.stop, interval):
                return

    async def report(self, agent: AgentIdentity, moment: AgentMoment) -> None:
        fleet = self.fleet
        now = time.time()
        fixture = {**self.fixtures[agent.hostnet], "network_probes": demo_probes(fleet, moment, self.rng)}
        body = render_report(fixture, agent, now=now, report_interval=fleet.report_interval_seconds)
        body = json.dumps(faulty_report(json.loads(body), moment, now), separators=(",", ":")).encode()
        request = request_bytes(fleet.host, fleet.port, agent.pod, body)
        outcome = await post_report(
            fleet.host, fleet.port, request, max(1, fleet.report_interval_seconds - 1)
        )
        self.counts.outcomes[str(outcome.status) if outcome.status else outcome.error] += 1


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; True when `stop` was set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True
