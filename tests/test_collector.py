"""The collector renders a Snapshot: golden exposition text, departed agents vanish, self-health."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from netchecker_exporter.check import ExpectedPod, Network, judge_agents
from netchecker_exporter.collector import SnapshotCollector
from netchecker_exporter.pods.base import PodSourceHealth
from netchecker_exporter.report import AgentRecord, parse_report
from netchecker_exporter.snapshot import Snapshot
from netchecker_exporter.store.base import StoreHealth

GOLDEN = Path(__file__).parent / "golden" / "snapshot_metrics.txt"
NOW = 1_800_000_000.0


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


def render(snapshot: Snapshot) -> str:
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: snapshot, version="1.2.3"))
    return generate_latest(registry).decode()


def test_exposition_matches_the_golden_text(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    assert render(make_snapshot(hostnet_report, podnet_report)) == GOLDEN.read_text()


def test_departed_agents_vanish_from_the_metrics(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    full = make_snapshot(hostnet_report, podnet_report)
    fewer = Snapshot(full.verdicts[:1], full.store, full.pod_source_kind, full.pod_source)
    text = render(fewer)
    assert podnet_report["podname"] in text
    assert hostnet_report["podname"] not in text
    assert "node-1-host_network" not in text
    assert "netchecker-agent-silent" not in text
    assert "netchecker_agents_expected 1.0" in text


@pytest.mark.parametrize(("up", "value"), [(True, 1.0), (False, 0.0)])
def test_store_and_pod_source_health_are_exported(up: bool, value: float) -> None:
    snapshot = Snapshot(
        (), StoreHealth(up=up), "kubernetes", PodSourceHealth(up=up, last_sync_timestamp=None)
    )
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: snapshot, version="x"))
    assert registry.get_sample_value("netchecker_store_up") == value
    assert registry.get_sample_value("netchecker_pod_source_up", {"source": "kubernetes"}) == value
    assert registry.get_sample_value("netchecker_pod_source_last_sync_timestamp_seconds") == 0.0
    assert registry.get_sample_value("netchecker_reconcile_last_success_timestamp_seconds") == 0.0
    assert registry.get_sample_value("netchecker_reconcile_duration_seconds") is None


def test_two_pods_on_one_node_share_a_legacy_label_and_the_newest_wins(
    hostnet_report: dict[str, Any],
) -> None:
    old = parse_report(
        {**hostnet_report, "podname": "netchecker-agent-hostnet-old"}, "netchecker-agent-hostnet-old"
    )
    new = parse_report(
        {**hostnet_report, "podname": "netchecker-agent-hostnet-new"}, "netchecker-agent-hostnet-new"
    )
    records = {
        old.podname: AgentRecord(old, NOW - 3, report_count=100, missed_keepalives=0),
        new.podname: AgentRecord(new, NOW - 1, report_count=2, missed_keepalives=0),
    }
    pods = [ExpectedPod(name, node="node-1") for name in records]
    snapshot = Snapshot(
        judge_agents(pods, records, NOW), StoreHealth(True), "none", PodSourceHealth(True, NOW)
    )
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: snapshot, version="x"))
    assert registry.get_sample_value("ncagent_report_count_total", {"agent": "node-1-host_network"}) == 2
