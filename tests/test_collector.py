"""The collector renders a Snapshot: golden exposition text, departed agents vanish, self-health."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from netchecker_exporter.check import ExpectedPod, Network, judge_agents
from netchecker_exporter.pods.base import PodSourceHealth
from netchecker_exporter.report import AgentRecord, parse_report
from netchecker_exporter.snapshot import Snapshot
from netchecker_exporter.store.base import StoreHealth
from tests.support.oracle import SnapshotCollector
from tests.support.reports import NOW, make_snapshot

GOLDEN = Path(__file__).parent / "golden" / "snapshot_metrics.txt"


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
    assert registry.get_sample_value("netchecker_pod_source_last_sync_timestamp_seconds") is None
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


def test_a_phase_the_agent_did_not_time_has_no_sample(hostnet_report: dict[str, Any]) -> None:
    report = parse_report(hostnet_report, hostnet_report["podname"])
    probe = report.network_probes[0]
    untimed = dataclasses.replace(
        probe, phase_ms=tuple((phase, None if phase == "dns_lookup" else ms) for phase, ms in probe.phase_ms)
    )
    report = dataclasses.replace(report, network_probes=(untimed,))
    record = AgentRecord(report, NOW - 1, report_count=1, missed_keepalives=0)
    pod = ExpectedPod(report.podname, "netchecker", "node-1", Network.HOST)
    snapshot = Snapshot(
        judge_agents([pod], {report.podname: record}, NOW),
        StoreHealth(True),
        "none",
        PodSourceHealth(True, None),
    )
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: snapshot, version="x"))
    labels = {"pod": report.podname, "namespace": "netchecker", "node": "node-1", "network": "host"}
    probe_labels = {**labels, "url": probe.url}
    phase = "netchecker_agent_probe_http_duration_seconds"
    assert registry.get_sample_value(phase, {**probe_labels, "phase": "dns_lookup"}) is None
    assert registry.get_sample_value(phase, {**probe_labels, "phase": "tcp_connection"}) is not None
    legacy = {"agent": "node-1-host_network", "url": probe.url}
    assert registry.get_sample_value("ncagent_http_probe_dns_lookup_time_ms", legacy) is None
    assert registry.get_sample_value("ncagent_http_probe_total_time_ms", legacy) is not None


def test_the_legacy_families_can_be_turned_off(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    snapshot = make_snapshot(hostnet_report, podnet_report)
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: snapshot, version="x", legacy_metrics=False))
    text = generate_latest(registry).decode()
    assert "ncagent_" not in text
    assert "netchecker_agent_reports_total" in text


def test_an_agent_that_cannot_render_is_left_out_and_counted(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A record from an older version with a value no float holds must not take /metrics down."""
    snapshot = make_snapshot(hostnet_report, podnet_report)
    broken = snapshot.verdicts[0]
    assert broken.record is not None
    probe = dataclasses.replace(broken.record.report.network_probes[0], http_code=10**400)
    report = dataclasses.replace(broken.record.report, network_probes=(probe,))
    record = dataclasses.replace(broken.record, report=report)
    verdicts = (dataclasses.replace(broken, record=record), *snapshot.verdicts[1:])
    snapshot = dataclasses.replace(snapshot, verdicts=verdicts)
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: snapshot, version="x"))
    text = generate_latest(registry).decode()
    assert broken.pod.name not in text
    assert snapshot.verdicts[1].pod.name in text
    assert registry.get_sample_value("netchecker_agents_unrenderable") == 1.0
    assert broken.pod.name in caplog.text
