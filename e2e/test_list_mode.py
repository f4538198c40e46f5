"""Swapped in under kubespray's ClusterRole (pods: get, list; no watch) on the real kube-apiserver:
the exporter lists every -check-interval, as the original did, so a rollout, a new node and a
deleted node all show within two intervals; granting watch later switches it back to watching."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.cluster import NAMESPACE, Cluster
from e2e.conftest import AgentFactory, ExporterFactory, PodFactory
from e2e.fleet import CHECK_INTERVAL_SECONDS, INTERVAL_SECONDS, Fleet, start_fleet
from e2e.kube_client import Object
from e2e.states import agent_states, pod_source_up
from e2e.test_rbac import can
from tests.support.exporter import ExporterProcess
from tests.support.polling import wait_until

KUBESPRAY_CLUSTER_ROLE: Object = {
    # kubespray's roles/kubernetes-apps/ansible/templates/netchecker-server-clusterrole.yml.j2
    # from its netchecker 1.2.2 update (2021) until the add-on was removed (2026), rendered.
    "kind": "ClusterRole",
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "metadata": {"name": "netchecker-server", "namespace": NAMESPACE},
    "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "get"]}],
}
LIST_MODE_HINT = "Kubernetes API forbids us to watch pods"
LISTS = 'netchecker_kubernetes_requests_total{result="success",verb="list"}'
TWO_INTERVALS_SECONDS = 2 * CHECK_INTERVAL_SECONDS
SLACK_SECONDS = 6
"""A loaded 2-core machine: a list in flight, a reconcile pass, a scrape."""
STAYS_FINE_SECONDS = 2 * INTERVAL_SECONDS + 2
"""Longer than an agent's report may be late before it is Outdated: a stale pod list would show."""


def sync_mode(exporter: ExporterProcess) -> str | None:
    for mode in ("watch", "list"):
        if exporter.metric(f'netchecker_kubernetes_pod_sync_mode{{mode="{mode}"}}') == 1:
            return mode
    return None


@pytest.fixture
def kubespray_role(cluster: Cluster) -> Iterator[Object]:
    """kubespray's ClusterRole in place of ours (same name, same binding); ours back at the end."""
    ours = cluster.cluster_role()
    cluster.admin.apply(KUBESPRAY_CLUSTER_ROLE)
    try:
        wait_until(lambda: not can(cluster, "watch", "pods"), 30, "watch to be forbidden")
        yield ours
    finally:
        cluster.admin.apply(ours)


@pytest.fixture
def fleet(
    request: pytest.FixtureRequest, kubespray_role: Object, cluster: Cluster, pods: PodFactory,
    agents: AgentFactory, exporter: ExporterFactory, tmp_path: Path,
) -> Fleet:  # fmt: skip
    assert can(cluster, "list", "pods") and can(cluster, "get", "pods")
    prefix = "l" + request.node.name.split("_")[2][:3] + str(int(time.time()) % 1000)
    fleet = start_fleet(cluster, pods, agents, exporter, tmp_path, prefix=prefix)
    wait_until(lambda: sync_mode(fleet.exporter) == "list", 30, "list mode")
    fleet.wait_all_fresh()
    return fleet


def seen_within(fleet: Fleet, wanted: set[str], what: str) -> float:
    """Seconds until the expected agents in /metrics are exactly `wanted`, asserted within two intervals."""
    started = time.monotonic()
    wait_until(lambda: set(agent_states(fleet.exporter)) == wanted, TWO_INTERVALS_SECONDS + SLACK_SECONDS,
               what, interval_seconds=0.1)  # fmt: skip
    elapsed = time.monotonic() - started
    print(f"{what}: {elapsed:.2f}s")  # the figure the report quotes (pytest -s)
    return elapsed


def assert_check_stays_fine(fleet: Fleet, agents: int) -> None:
    fleet.wait_all_fresh()
    until = time.monotonic() + STAYS_FINE_SECONDS
    while time.monotonic() < until:
        status, body = fleet.exporter.connectivity()
        assert (status, body["Absent"], body["Outdated"]) == (200, None, None), body
        assert body["Message"] == f"All {agents} pods successfully reported back to the server"
        time.sleep(0.5)


def test_under_kubesprays_role_it_lists_every_interval_and_says_which_grant_is_missing(fleet: Fleet) -> None:
    assert pod_source_up(fleet.exporter) == 1
    log = fleet.exporter.log()
    assert log.count(LIST_MODE_HINT) == 1
    assert 'Grant verb "watch" on resource "pods" (apiGroup "") cluster-wide' in log
    assert 'cannot watch resource "pods"' in log  # the real API server's own words
    lists = fleet.exporter.metric(LISTS) or 0
    time.sleep(4 * CHECK_INTERVAL_SECONDS)
    more = fleet.exporter.metric(LISTS) or 0
    assert 2 <= more - lists <= 6  # about one a second: polling, not a tight loop


def test_an_agent_rollout_replaces_the_expected_pods_within_two_intervals(
    fleet: Fleet, pods: PodFactory, agents: AgentFactory
) -> None:
    old = [pod for pod in fleet.pods if "hostnet" not in pod]
    for pod in old:  # the DaemonSet's rolling update: the old pod goes, a new one comes on its node
        node = fleet.agents[pod].node
        fleet.cluster.delete_pod(pod, grace_seconds=0)
        fleet.agents.pop(pod).kill()
        new = pod + "-new"
        pods(new, node)
        fleet.agents[new] = agents(new, node, fleet.exporter.endpoint, INTERVAL_SECONDS)
    seen_within(fleet, set(fleet.pods), "rollout")
    assert_check_stays_fine(fleet, len(fleet.pods))


def test_a_new_node_is_expected_within_two_intervals(
    fleet: Fleet, pods: PodFactory, agents: AgentFactory
) -> None:
    for pod, host_network in (("netchecker-agent-noded", False), ("netchecker-agent-hostnet-noded", True)):
        pods(pod, "node-d", host_network=host_network)
        fleet.agents[pod] = agents(pod, "node-d", fleet.exporter.endpoint, INTERVAL_SECONDS)
    seen_within(fleet, set(fleet.pods), "new node")
    assert_check_stays_fine(fleet, len(fleet.pods))


def test_a_deleted_node_leaves_the_expected_set_within_two_intervals(fleet: Fleet) -> None:
    gone = [pod for pod, agent in fleet.agents.items() if agent.node == "node-a"]
    assert len(gone) == 2  # its pod-network and host-network agents
    for pod in gone:  # the node is removed: its pods are deleted and its agents are gone with it
        fleet.cluster.delete_pod(pod, grace_seconds=0)
        fleet.agents.pop(pod).kill()
    seen_within(fleet, set(fleet.pods), "deleted node")
    assert_check_stays_fine(fleet, len(fleet.pods))


def test_granting_watch_later_switches_back_to_watching(
    fleet: Fleet, kubespray_role: Object, pods: PodFactory
) -> None:
    fleet.cluster.admin.apply(kubespray_role)  # ours: pods list, watch
    granted = time.monotonic()
    probe_seconds = 6 * CHECK_INTERVAL_SECONDS  # a watch attempt after every 6th list
    wait_until(lambda: sync_mode(fleet.exporter) == "watch", probe_seconds + 2 * SLACK_SECONDS,
               "watch mode", interval_seconds=0.2)  # fmt: skip
    print(f"back to watch: {time.monotonic() - granted:.2f}s")
    assert "watch of pods allowed again" in fleet.exporter.log()
    lists = fleet.exporter.metric(LISTS)
    pods("netchecker-agent-watched", "node-w", running=False)
    wait_until(lambda: "netchecker-agent-watched" in agent_states(fleet.exporter), 10, "a pod, by the watch")
    time.sleep(2 * CHECK_INTERVAL_SECONDS)
    assert fleet.exporter.metric(LISTS) == lists
    assert fleet.exporter.log().count(LIST_MODE_HINT) == 1
