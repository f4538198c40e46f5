"""Agent pods without a kubelet: real pods in the real API server, one agent process per pod."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from e2e.cluster import NAMESPACE, Cluster
from e2e.conftest import AgentFactory, ExporterFactory, PodFactory
from e2e.fleet import CHECK_INTERVAL_SECONDS, INTERVAL_SECONDS, Fleet, kubespray_check, start_fleet
from e2e.states import agent_states
from tests.support.polling import wait_until

# The verdict may lag by a reconcile pass plus a report in flight, on a loaded 2-core machine.
SLACK_SECONDS = 2 * CHECK_INTERVAL_SECONDS + 6


@pytest.fixture
def fleet(
    request: pytest.FixtureRequest, cluster: Cluster, pods: PodFactory, agents: AgentFactory,
    exporter: ExporterFactory, tmp_path: Path,
) -> Fleet:  # fmt: skip
    prefix = request.node.name.split("_")[1][:4] + str(int(time.time()) % 1000)
    fleet = start_fleet(cluster, pods, agents, exporter, tmp_path, prefix=prefix)
    fleet.wait_all_fresh()
    return fleet


def test_all_agents_fresh_and_kubesprays_own_check_passes(fleet: Fleet) -> None:
    ok, detail = kubespray_check(fleet.exporter, expected_agents=len(fleet.pods))
    assert ok, detail
    status, body = fleet.exporter.connectivity()
    assert (status, body["Absent"], body["Outdated"]) == (200, None, None)
    metrics = fleet.exporter.metrics()
    ping = f"http://{fleet.exporter.endpoint}/api/v1/ping"
    for pod, agent in fleet.agents.items():
        legacy = f"{agent.node}-{'host_network' if 'hostnet' in pod else 'private_network'}"
        assert f'ncagent_report_count_total{{agent="{legacy}"}}' in metrics
        assert f'ncagent_http_probe_code{{agent="{legacy}",url="{ping}"}} 200.0' in metrics
        network = "host" if "hostnet" in pod else "pod"
        assert f'network="{network}",node="{agent.node}",pod="{pod}",status="fresh"}} 1.0' in metrics


def test_a_killed_agent_is_outdated_after_twice_its_interval(fleet: Fleet) -> None:
    victim = fleet.pods[0]
    fleet.agents[victim].kill()
    killed = time.monotonic()
    wait_until(lambda: fleet.exporter.connectivity()[0] == 400, 2 * INTERVAL_SECONDS + SLACK_SECONDS,
               "the check to fail", interval_seconds=0.2)  # fmt: skip
    elapsed = time.monotonic() - killed
    status, body = fleet.exporter.connectivity()
    assert (status, body["Outdated"], body["Absent"]) == (400, [victim], None)
    assert elapsed >= INTERVAL_SECONDS  # its last report was at most one interval before the kill
    # /metrics shows the last reconcile pass: it may lag the live check by one check interval
    wait_until(
        lambda: agent_states(fleet.exporter)[victim] == "outdated", SLACK_SECONDS, "outdated in /metrics"
    )


def test_a_gracefully_deleted_pod_leaves_the_expected_set_without_a_false_absent(fleet: Fleet) -> None:
    victim = fleet.pods[1]
    deleted = fleet.cluster.delete_pod(victim)  # graceful: the API server keeps it until the kubelet ends it
    fleet.agents[victim].kill()  # the kubelet's SIGTERM
    assert deleted["metadata"].get("deletionTimestamp"), deleted["metadata"]
    wait_until(lambda: victim not in agent_states(fleet.exporter), 10, "the terminating pod to leave")
    watched_until = time.monotonic() + 2 * INTERVAL_SECONDS + SLACK_SECONDS
    while time.monotonic() < watched_until:
        status, body = fleet.exporter.connectivity()
        assert (status, body["Absent"], body["Outdated"]) == (200, None, None)
        time.sleep(0.5)
    still_there = fleet.cluster.pod(victim)
    assert still_there is not None and still_there["metadata"]["deletionTimestamp"]


def test_a_pod_relabelled_out_of_the_selector_leaves_and_relabelled_back_returns(fleet: Fleet) -> None:
    pod = fleet.pods[2]
    before = fleet.cluster.pod(pod)
    assert before is not None
    fleet.cluster.relabel(pod, {"app": "not-an-agent"})
    wait_until(lambda: pod not in agent_states(fleet.exporter), 10, "the relabelled pod to leave")
    labels = fleet.cluster.daemonset(host_network="hostnet" in pod)["spec"]["template"]["metadata"]["labels"]
    fleet.cluster.relabel(pod, labels)
    wait_until(lambda: agent_states(fleet.exporter).get(pod) == "fresh", 10, "the pod to be back and fresh")
    assert fleet.exporter.connectivity()[0] == 200
    # What a label-selector watch saw: leaving the selector is DELETED, coming back is ADDED.
    selector = "app in (netchecker-agent,netchecker-agent-hostnet)"
    events = fleet.cluster.admin.watch_events(NAMESPACE, selector, before["metadata"]["resourceVersion"])
    assert [kind for kind, name in events if name == pod][:2] == ["DELETED", "ADDED"]


def test_a_new_pod_is_starting_then_absent_after_the_grace(
    cluster: Cluster, pods: PodFactory, exporter: ExporterFactory, tmp_path: Path
) -> None:
    grace = 8
    kubeconfig = cluster.exporter_kubeconfig(tmp_path / "kubeconfig")
    process = exporter(f"-kubeconfig={kubeconfig}", "-check-interval=1", f"-startup-grace={grace}")
    pod = pods("netchecker-agent-silent", "node-z")
    created = time.monotonic()
    wait_until(lambda: agent_states(process).get("netchecker-agent-silent") == "starting", 10, "starting")
    assert process.connectivity()[0] == 200  # a starting pod is not judged yet
    wait_until(lambda: process.connectivity()[0] == 400, grace + SLACK_SECONDS, "the pod to be absent")
    # creationTimestamp has whole seconds: the grace may end up to 1 s early
    assert time.monotonic() - created >= grace - 1.5
    status, body = process.connectivity()
    assert (status, body["Absent"], body["Outdated"]) == (400, ["netchecker-agent-silent"], None)
    assert pod["metadata"]["name"] == "netchecker-agent-silent"
