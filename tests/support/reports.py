"""Agent reports and Snapshots built from the real fixtures, for the store, collector and exposition tests."""

from __future__ import annotations

from typing import Any

from netchecker_exporter.check import ExpectedPod, Network, judge_agents
from netchecker_exporter.pods.base import PodSourceHealth
from netchecker_exporter.report import AgentRecord, AgentReport, parse_report
from netchecker_exporter.snapshot import Snapshot
from netchecker_exporter.store.base import StoreHealth
from tests.support.paths import load_fixture

NOW = 1_800_000_000.0


def agent_report(podname: str, interval: int = 10) -> AgentReport:
    payload = {**load_fixture("agent-report-hostnet.json"), "podname": podname, "report_interval": interval}
    return parse_report(payload, podname)


def make_snapshot(hostnet: dict[str, Any], podnet: dict[str, Any]) -> Snapshot:
    host = parse_report(hostnet, hostnet["podname"])
    pod = parse_report(podnet, podnet["podname"])
    records = {
        host.podname: AgentRecord(host, NOW - 1.5, report_count=42, missed_keepalives=3),
        pod.podname: AgentRecord(pod, NOW - 9, report_count=7, missed_keepalives=0),  # 2 windows late
    }
    pods = [
        ExpectedPod(host.podname, "netchecker", "node-1", Network.HOST),
        ExpectedPod(pod.podname, "netchecker", "node-1", Network.POD),
        ExpectedPod("netchecker-agent-silent", "netchecker", "node-2", Network.POD),
    ]
    return Snapshot(
        verdicts=judge_agents(pods, records, NOW),
        store=StoreHealth(up=True),
        pod_source_kind="static",
        pod_source=PodSourceHealth(up=True, last_sync_timestamp=NOW - 2),
        last_success_timestamp=NOW,
        last_duration_seconds=0.25,
        failures_total=1,
    )


def varied_snapshot(hostnet: dict[str, Any], podnet: dict[str, Any]) -> Snapshot:
    """Fresh, outdated, absent and starting agents; awkward label values; big and fractional numbers."""
    records: dict[str, AgentRecord] = {}
    pods = []
    for i in range(60):
        payload = dict(hostnet if i % 2 else podnet)
        name = f"netchecker-agent{'-hostnet' if i % 2 else ''}-{i}"
        payload["podname"] = name
        payload["nodename"] = f"node-{i // 4}" if i % 5 else ""  # pods on one node collide in ncagent_*
        if i % 7 == 0:
            payload["network_probes"] = [
                {**p, "URL": p["URL"] + '?q="x"\\y ü', "Total": 1234567, "DNSLookup": 9223372036854}
                for p in payload["network_probes"]
            ]
        if i % 11 == 0:
            payload["network_probes"] = []
        report = parse_report(payload, name)
        if i % 9 != 0:  # every ninth has no report: absent, or starting when young
            records[name] = AgentRecord(
                report, NOW - i * 0.37, report_count=i * 123_457, missed_keepalives=i % 3
            )
        namespace = 'ns "q" \\ x' if i % 13 == 0 else "netchecker"
        node = "" if i % 5 == 0 else f"node-{i // 4}"
        network = Network.HOST if i % 2 else Network.POD
        young = NOW + 60 if i % 18 == 0 else 0.0
        pods.append(ExpectedPod(name, namespace, node, network, absent_not_before=young))
    return Snapshot(
        verdicts=judge_agents(pods, records, NOW),
        store=StoreHealth(up=False, detail="x"),
        pod_source_kind="kubernetes",
        pod_source=PodSourceHealth(up=False, last_sync_timestamp=None),
        last_success_timestamp=NOW + 0.123456,
        last_duration_seconds=0.0123,
        failures_total=12_345_678,
    )


def flood_report(index: int) -> dict[str, Any]:
    """The largest report ingest accepts: 32 probes with 2,048-byte URLs."""
    template = load_fixture("agent-report-hostnet.json")
    probe = template["network_probes"][0]
    probes = [{**probe, "URL": f"http://flood/{index}/{i}/".ljust(2048, "x")} for i in range(32)]
    return {**template, "nodename": "n" * 253, "network_probes": probes}
