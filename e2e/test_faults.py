"""Faults of the real peers: kube-apiserver restarts, etcd compaction under the watch, our etcd killed."""

from __future__ import annotations

import json
import time
from pathlib import Path

from e2e.cluster import Cluster
from e2e.conftest import AgentFactory, ExporterFactory, PodFactory
from e2e.fleet import Fleet, start_fleet
from e2e.states import agent_states, pod_source_up, store_up
from tests.support.etcd import EtcdProcess
from tests.support.polling import wait_until

RELIST_ON_410 = "listing again"


def fleet_of(
    name: str, cluster: Cluster, pods: PodFactory, agents: AgentFactory, exporter: ExporterFactory,
    tmp_path: Path, *extra_flags: str,
) -> Fleet:  # fmt: skip
    fleet = start_fleet(cluster, pods, agents, exporter, tmp_path, prefix=name + str(int(time.time()) % 1000),
                        extra_flags=extra_flags)  # fmt: skip
    fleet.wait_all_fresh()
    return fleet


def test_an_api_server_restart_keeps_the_known_pods_and_recovers_by_itself(
    cluster: Cluster, pods: PodFactory, agents: AgentFactory, exporter: ExporterFactory, tmp_path: Path
) -> None:
    fleet = fleet_of("rst", cluster, pods, agents, exporter, tmp_path)
    cluster.apiserver.stop()
    try:
        wait_until(lambda: pod_source_up(fleet.exporter) == 0, 30, "pod_source_up 0 during the outage")
        status, body = fleet.exporter.connectivity()
        assert (status, body["Absent"], body["Outdated"]) == (200, None, None)
        assert set(fleet.pods) <= set(agent_states(fleet.exporter))
    finally:
        cluster.apiserver.start()
    wait_until(lambda: pod_source_up(fleet.exporter) == 1, 60, "pod_source_up 1 after the restart")
    pods("netchecker-agent-after-restart", "node-r", running=False)
    wait_until(lambda: "netchecker-agent-after-restart" in agent_states(fleet.exporter), 30,
               "a pod created after the restart, seen through the resumed watch")  # fmt: skip
    assert fleet.exporter.running


def current_revision(etcd: EtcdProcess) -> int:
    status = json.loads(etcd.etcdctl("endpoint", "status", "--write-out=json"))[0]["Status"]
    return int(status["header"]["revision"])


def test_a_compacted_resource_version_makes_the_exporter_list_again(
    cluster: Cluster, pods: PodFactory, agents: AgentFactory, exporter: ExporterFactory, tmp_path: Path
) -> None:
    """The watch's resourceVersion compacted away in etcd while the API server is down: 410, relist.

    Any restart with the watch cache on answers an old resourceVersion with 410 (the new cache
    starts at the current revision), so the API server comes back without a watch cache: the
    exporter's watch then goes to etcd itself, and only the compaction can make it 410.
    """
    fleet = fleet_of("cmp", cluster, pods, agents, exporter, tmp_path)
    cluster.apiserver.stop()
    try:
        for i in range(5):  # revisions the exporter never saw, then compacted away
            cluster.etcd.etcdctl("put", f"/e2e-compaction/{i}", "x")
        cluster.etcd.etcdctl("compact", str(current_revision(cluster.etcd)))
        cluster.apiserver.start(["--watch-cache=false"])
        wait_until(
            lambda: RELIST_ON_410 in fleet.exporter.log(), 60, "the exporter to list again after a 410"
        )
        relist = next(line for line in fleet.exporter.log().splitlines() if RELIST_ON_410 in line)
        assert "The resourceVersion for the provided watch is too old." in relist  # etcd's compaction, mapped
    finally:
        cluster.apiserver.restart()
    wait_until(lambda: pod_source_up(fleet.exporter) == 1, 60, "pod_source_up 1")
    pods("netchecker-agent-after-compaction", "node-c", running=False)
    wait_until(lambda: "netchecker-agent-after-compaction" in agent_states(fleet.exporter), 30,
               "a pod created after the relist")  # fmt: skip
    fleet.wait_all_fresh()


def test_our_own_etcd_killed_and_restarted_the_exporter_recovers_without_a_restart(
    cluster: Cluster, pods: PodFactory, agents: AgentFactory, exporter: ExporterFactory, tmp_path: Path,
    store_etcd: EtcdProcess,
) -> None:  # fmt: skip
    # The real agent gives up on a report after (interval - 1) s: 1 s here. With the default
    # -ping-timeout of 5 s our 503 would come too late and the agent would log a client timeout.
    fleet = fleet_of("etc", cluster, pods, agents, exporter, tmp_path,
                     f"-etcd-endpoints={store_etcd.url}", "-ping-timeout=0.5")  # fmt: skip
    assert store_up(fleet.exporter) == 1
    store_etcd.kill()  # SIGKILL
    wait_until(lambda: store_up(fleet.exporter) == 0, 30, "store_up 0 while our etcd is down")
    agent = fleet.agents[fleet.pods[0]]
    wait_until(lambda: "Response status code: 503" in agent.log(), 20, "a report refused with 503")
    store_etcd.start()
    wait_until(lambda: store_up(fleet.exporter) == 1, 60, "store_up 1 once etcd is back")
    assert set(fleet.pods) <= set(fleet.exporter.agents())  # the mirror reloaded from the restarted etcd
    before = fleet.exporter.agents()[fleet.pods[0]]["last_updated"]
    wait_until(lambda: fleet.exporter.agents()[fleet.pods[0]]["last_updated"] != before, 30,
               "a report stored in the restarted etcd")  # fmt: skip
    fleet.wait_all_fresh()
    # an agent whose report was refused is Outdated until its next report lands (one interval)
    wait_until(lambda: fleet.exporter.connectivity()[0] == 200, 10, "the check to pass again")
    assert fleet.exporter.running
