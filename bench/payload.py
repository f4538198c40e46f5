"""Agent reports shaped like the real ones: the captured fixtures with distinct pod and node names.

Agent `index` lives on node `index // 2`; even indexes are pod-network agents, odd ones hostNetwork
agents, as the two DaemonSets put one of each on every node.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support.paths import FIXTURES

HOSTNET_FIXTURE = "agent-report-hostnet.json"
PODNET_FIXTURE = "agent-report-podnet-failed-probe.json"
POD_MARKER = "@POD@"
NODE_MARKER = "@NODE@"


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    """Who an agent is: its pod, its node, and which DaemonSet it belongs to."""

    pod: str
    node: str
    hostnet: bool


def agent_identity(index: int) -> AgentIdentity:
    """The `index`-th agent of a fleet: two agents (pod network, host network) per node."""
    if index < 0:
        raise ValueError("agent index must not be negative")
    node_number = index // 2
    hostnet = index % 2 == 1
    suffix = f"n{node_number:05d}"
    kind = "netchecker-agent-hostnet" if hostnet else "netchecker-agent"
    return AgentIdentity(pod=f"{kind}-{suffix}", node=f"node-{suffix}", hostnet=hostnet)


def load_fixtures(directory: Path = FIXTURES) -> dict[bool, dict[str, Any]]:
    """The two captured reports, keyed by `hostnet` (built-in look-alikes outside this checkout)."""
    if not (directory / HOSTNET_FIXTURE).is_file() or not (directory / PODNET_FIXTURE).is_file():
        return {hostnet: builtin_report(hostnet=hostnet) for hostnet in (True, False)}
    return {
        hostnet: json.loads((directory / name).read_text(encoding="utf-8"))
        for hostnet, name in ((True, HOSTNET_FIXTURE), (False, PODNET_FIXTURE))
    }


def builtin_report(*, hostnet: bool) -> dict[str, Any]:
    """The captured report rebuilt in code (COMPAT.md's shape), for a bench run without the fixture files."""
    phases = dict.fromkeys(PHASE_KEYS, 0)
    first_probe = {"URL": "http://127.0.0.1:18081/health", "ConnectionResult": 1, "HTTPCode": 200}
    if not hostnet:
        first_probe = {"URL": "http://127.0.0.1:1/unreachable", "ConnectionResult": 0, "HTTPCode": 0}
    ping = {"URL": "http://127.0.0.1:18081/api/v1/ping", "ConnectionResult": 1, "HTTPCode": 200}
    interfaces = {"eth0": ["192.0.2.2/24", "fd00::2/64", "fe80::fc:ff:fe00:1/64"], "ifb0": [], "ifb1": []}
    return {
        "report_interval": 2,
        "nodename": "node-1",
        "podname": "netchecker-agent-hostnet-x7k2p" if hostnet else "netchecker-agent-7fq2m",
        "hostdate": "2026-11-25T06:00:31.249055996Z" if hostnet else "2026-11-25T06:01:25.741482108Z",
        "uptime": 2563 if hostnet else 2618,
        "nslookup": {"127.0.0.1": ["127.0.0.1"]},
        "ips": {**interfaces, "lo": ["127.0.0.1/8", "::1/128"]},
        "network_probes": [{**first_probe, **phases}, {**ping, **phases}],
        "zero_extender": [0] * 1500,
    }


PHASE_KEYS = ("Total", "ContentTransfer", "TCPConnection", "DNSLookup", "Connect", "ServerProcessing")


def rfc3339_nanoseconds(epoch_seconds: float) -> str:
    """Go's time.Time JSON form with nanoseconds, as the agent sends `hostdate`."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    nanoseconds = round((epoch_seconds % 1) * 1e9) % 1_000_000_000
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanoseconds:09d}Z"


def render_report(
    fixture: dict[str, Any],
    identity: AgentIdentity,
    *,
    now: float,
    report_interval: int | None = None,
    failing_urls: frozenset[str] = frozenset(),
) -> bytes:
    """The fixture as `identity` would send it at `now`: compact JSON, padding kept.

    `failing_urls` turns those probes into failed connections (ConnectionResult 0, HTTPCode 0).
    """
    report = dict(fixture)
    report["podname"] = identity.pod
    report["nodename"] = identity.node
    report["hostdate"] = rfc3339_nanoseconds(now)
    if report_interval is not None:
        report["report_interval"] = report_interval
    report["network_probes"] = [_probe(probe, failing_urls) for probe in fixture["network_probes"]]
    return json.dumps(report, separators=(",", ":")).encode()


def fleet_payloads(agents: int, *, now: float) -> list[tuple[str, dict[str, Any]]]:
    """(pod name, decoded report) for agents 0..agents-1, from the captured reports: the in-process
    benchmarks' fleet (two agents a node, as the DaemonSets run)."""
    fixtures = load_fixtures()
    payloads = []
    for index in range(agents):
        identity = agent_identity(index)
        payloads.append(
            (identity.pod, json.loads(render_report(fixtures[identity.hostnet], identity, now=now)))
        )
    return payloads


def _probe(probe: dict[str, Any], failing_urls: frozenset[str]) -> dict[str, Any]:
    if probe["URL"] not in failing_urls:
        return dict(probe)
    return {**probe, "ConnectionResult": 0, "HTTPCode": 0, "Total": 0, "ServerProcessing": 0}


def report_template(fixture: dict[str, Any], *, now: float) -> str:
    """A report with @POD@ and @NODE@ where the names go, for load tools that fill them in."""
    identity = AgentIdentity(pod=POD_MARKER, node=NODE_MARKER, hostnet=False)
    return render_report(fixture, identity, now=now).decode()


def request_bytes(host: str, port: int, pod: str, body: bytes) -> bytes:
    """The agent's POST as Go's net/http writes it: a new connection, `Connection: close`."""
    head = (
        f"POST /api/v1/agents/{pod} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "User-Agent: Go-http-client/1.1\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        "Accept-Encoding: gzip\r\n\r\n"
    )
    return head.encode() + body


def write_templates(directory: Path) -> None:
    """The wrk script's report templates: the fixtures with @POD@ and @NODE@ for the names."""
    directory.mkdir(parents=True, exist_ok=True)
    fixtures = load_fixtures()
    now = time.time()
    (directory / "podnet.json").write_text(report_template(fixtures[False], now=now))
    (directory / "hostnet.json").write_text(report_template(fixtures[True], now=now))
