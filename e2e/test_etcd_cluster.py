"""A three-member etcd 3.6 cluster under a steady fleet: the leader killed, hung, a member cut off
from its peers, the whole cluster restarted. Nothing acknowledged is lost, ingest resumes by
itself, health stays fast (docs/etcd.md, "An etcd cluster")."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from e2e.etcd_fleet import Fleet, HealthProbe, Outcomes
from e2e.peer_proxy import PeerProxies
from e2e.post_probe import PostProbe
from e2e.proxied_etcd import ProxiedMember, make_proxied_cluster
from tests.support.etcd import EtcdProcess, stop_all
from tests.support.exporter import ExporterProcess, metric_value
from tests.support.polling import wait_until

AGENTS = 20
"""Posting back to back: a few hundred reports/s on the test machine."""
ELECTION_TIMEOUT_SECONDS = 1.0
"""etcd's default --election-timeout (1000 ms), which make_cluster keeps."""
WITHOUT_A_LEADER_SECONDS = ELECTION_TIMEOUT_SECONDS + 1.0
"""The promise: no stretch without a 200 longer than the election timeout plus 1 s."""
MACHINE_SLACK_SECONDS = 0.5
"""The test machine is shared; the figures measured on it are in docs/etcd.md."""
HEALTH_SECONDS = 1.0
PING_TIMEOUT_SECONDS = 5.0
"""The server's default -ping-timeout: a write that waits on etcd answers 503 within it + 0.5 s."""


def leader_of(members: Sequence[EtcdProcess]) -> EtcdProcess:
    return wait_until(
        lambda: next((m for m in members if m.running and m.is_leader()), None), 20, "an etcd leader"
    )


@pytest.fixture
def exporters() -> Iterator[list[ExporterProcess]]:
    """The servers a test started; any still running at the end (an assertion failed) is stopped."""
    started: list[ExporterProcess] = []
    yield started
    for exporter in started:
        if exporter.process.poll() is None:
            exporter.stop()


def exporter_on(
    members: Sequence[EtcdProcess], first: EtcdProcess, started: list[ExporterProcess]
) -> ExporterProcess:
    """The server given every member, `first` first (the leader: the worst case)."""
    urls = [first.url] + [m.url for m in members if m is not first]
    exporter = ExporterProcess(f"-etcd-endpoints={','.join(urls)}", "-report-ttl=600")
    started.append(exporter)
    return exporter


def steady(fleet: Fleet, reports: int) -> None:
    before = fleet.outcomes.acks()
    wait_until(lambda: fleet.outcomes.acks() >= before + reports, 30, f"{reports} more reports acknowledged")


def assert_nothing_acknowledged_is_lost(
    outcomes: Outcomes, exporter: ExporterProcess, member: EtcdProcess
) -> None:
    """Each pod's stored count covers its 200s (a 503 whose commit answer was lost may count too), read
    back through /metrics (once the refresh after the last reports is in) and straight from etcd."""
    stored = {
        record["podname"]: record["netchecker"]["report_count"]
        for record in map(
            json.loads,
            member.etcdctl("get", "--prefix", "/netchecker/agents/", "--print-value-only").splitlines(),
        )
    }
    exported = wait_until(
        lambda: exported_counts(exporter, outcomes), 15, "/metrics to show every acknowledged report"
    )
    for pod, acked in outcomes.acked.items():
        most = acked + outcomes.refused[pod]
        assert acked <= stored[pod] <= most, (pod, acked, stored[pod])
        assert acked <= exported[pod] <= most, (pod, acked, exported[pod])
        assert exporter.get(f"/api/v1/agents/{pod}").status_code == 200


def exported_counts(exporter: ExporterProcess, outcomes: Outcomes) -> dict[str, float] | None:
    """netchecker_agent_reports_total per pod, or None while any is below its acknowledged count."""
    metrics = exporter.get("/metrics").text
    counts = {}
    for pod, acked in outcomes.acked.items():
        sample = (
            f'netchecker_agent_reports_total{{namespace="",network="pod",node="node-{pod[-3:]}",pod="{pod}"}}'
        )
        value = metric_value(metrics, sample)
        if value is None or value < acked:
            return None
        counts[pod] = value
    return counts


def fault_window(outcomes: Outcomes, since: float, until: float) -> tuple[float, float]:
    """(longest stretch without a 200, how long 503s went on) within [since, until]."""
    refusals = [t for t in outcomes.refusal_times if since <= t <= until]
    spread = (max(refusals) - min(refusals)) if refusals else 0.0
    return outcomes.longest_gap_seconds(since, until), spread


@pytest.mark.parametrize("fault", ["sigkill", "sigstop-15s"])
def test_losing_the_leader_loses_no_acknowledged_report(
    etcd_members: list[EtcdProcess], exporters: list[ExporterProcess], fault: str
) -> None:
    leader = leader_of(etcd_members)
    exporter = exporter_on(etcd_members, leader, exporters)
    fleet, health = Fleet(exporter.url, AGENTS).start(), HealthProbe(exporter.url).start()
    try:
        steady(fleet, 500)
        started = time.monotonic()
        if fault == "sigkill":
            leader.kill()
        else:
            leader.pause()
        steady(fleet, 500)
        if fault == "sigstop-15s":
            time.sleep(max(0.0, started + 15 - time.monotonic()))
            leader.resume()
        steady(fleet, 500)
        ended = time.monotonic()
    finally:
        fleet.stop()
        slowest = health.stop()
    gap, refusing = fault_window(fleet.outcomes, started, ended)
    print(f"{fault}: no 200 for {gap:.2f} s, 503s for {refusing:.2f} s; health {slowest}")  # -rP
    assert not fleet.outcomes.other, fleet.outcomes.other
    assert gap < WITHOUT_A_LEADER_SECONDS + MACHINE_SLACK_SECONDS, f"no 200 for {gap:.2f} s"
    assert refusing < WITHOUT_A_LEADER_SECONDS + MACHINE_SLACK_SECONDS, f"503s for {refusing:.2f} s"
    assert max(slowest.values()) < HEALTH_SECONDS, slowest
    survivor = next(m for m in etcd_members if m is not leader)
    assert_nothing_acknowledged_is_lost(fleet.outcomes, exporter, survivor)
    assert exporter.stop()[0] == 0


def test_a_full_cluster_restart_is_survived_without_restarting_the_server(
    etcd_members: list[EtcdProcess], exporters: list[ExporterProcess]
) -> None:
    exporter = exporter_on(etcd_members, leader_of(etcd_members), exporters)
    fleet, health = Fleet(exporter.url, AGENTS).start(), HealthProbe(exporter.url).start()
    probe = PostProbe(exporter.url).start()
    try:
        steady(fleet, 500)
        for member in etcd_members:
            member.stop()
        wait_until(lambda: sum(fleet.outcomes.refused.values()) > 0, 20, "reports refused while etcd is gone")
        wait_until(
            lambda: metric_value(exporter.get("/metrics").text, "netchecker_store_up") == 0, 20, "store_up 0"
        )
        for member in etcd_members:
            member.start(wait=False)
        for member in etcd_members:
            member.wait_healthy()
        steady(fleet, 500)
    finally:
        fleet.stop()
        slowest = health.stop()
        probe.stop()
    assert not fleet.outcomes.other, fleet.outcomes.other
    assert max(slowest.values()) < HEALTH_SECONDS, slowest
    refusals = probe.refusal_seconds()  # the breaker: after the first failed write, 503 at once
    print(f"503s: {len(refusals)}, median {refusals[len(refusals) // 2] if refusals else 0:.3f} s, "
          f"slowest {max(refusals, default=0):.3f} s; health {slowest}")  # -rP  # fmt: skip
    assert refusals, "the probe saw no 503 while etcd was gone"
    assert refusals[len(refusals) // 2] < HEALTH_SECONDS, refusals
    assert refusals[-1] < PING_TIMEOUT_SECONDS + 0.5 + MACHINE_SLACK_SECONDS, refusals
    wait_until(
        lambda: metric_value(exporter.get("/metrics").text, "netchecker_store_up") == 1, 20, "store_up 1"
    )
    assert_nothing_acknowledged_is_lost(fleet.outcomes, exporter, etcd_members[0])
    assert exporter.stop()[0] == 0


@pytest.fixture
def proxied_cluster(tmp_path: Path) -> Iterator[tuple[list[ProxiedMember], PeerProxies]]:
    members, proxies = make_proxied_cluster(tmp_path / "etcd", 3)
    try:
        yield members, proxies
    finally:
        stop_all(members)
        proxies.close()


@pytest.mark.parametrize("role", ["follower", "leader"])
def test_a_member_cut_off_from_its_peers_loses_no_acknowledged_report(
    proxied_cluster: tuple[list[ProxiedMember], PeerProxies], exporters: list[ExporterProcess], role: str
) -> None:
    """The server's current endpoint is the member cut off (a minority member without a leader): it
    fails over to the majority; healed, the member catches up with every write it missed."""
    members, proxies = proxied_cluster
    leader = leader_of(members)
    cut = next(m for m in members if (m is leader) == (role == "leader"))
    exporter = exporter_on(members, cut, exporters)
    fleet, health = Fleet(exporter.url, AGENTS).start(), HealthProbe(exporter.url).start()
    try:
        steady(fleet, 500)
        started = time.monotonic()
        proxies.cut(cut.name)
        wait_until(lambda: cut.leader_id() == 0, 20, f"{cut.name}, cut off, to have no leader")
        steady(fleet, 500)
        ended = time.monotonic()
        proxies.heal(cut.name)
        steady(fleet, 500)
    finally:
        fleet.stop()
        slowest = health.stop()
    gap, refusing = fault_window(fleet.outcomes, started, ended)
    print(f"{role} cut off: no 200 for {gap:.2f} s, 503s for {refusing:.2f} s, health {slowest}")  # -rP
    assert not fleet.outcomes.other, fleet.outcomes.other
    assert gap < WITHOUT_A_LEADER_SECONDS + MACHINE_SLACK_SECONDS, f"no 200 for {gap:.2f} s"
    assert refusing < WITHOUT_A_LEADER_SECONDS + MACHINE_SLACK_SECONDS, f"503s for {refusing:.2f} s"
    assert max(slowest.values()) < HEALTH_SECONDS, slowest
    assert not proxies.unidentified, f"links no member dialed: {proxies.unidentified}"
    majority = next(m for m in members if m is not cut)
    caught_up = majority.local_revision()
    wait_until(lambda: cut.local_revision() >= caught_up, 20, f"{cut.name} to catch up to {caught_up}")
    assert cut.leader_id() == majority.leader_id() != 0
    assert_nothing_acknowledged_is_lost(fleet.outcomes, exporter, cut)
    assert exporter.stop()[0] == 0
