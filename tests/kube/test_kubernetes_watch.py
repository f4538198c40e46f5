"""The Kubernetes pod source against a wire-level fake API server: listing, watching, selectors."""

from __future__ import annotations

import dataclasses

from netchecker_exporter.check import Network
from tests.support.kube_access import FAST, SourceFactory
from tests.support.kube_apiserver import FakeKubeApiServer
from tests.support.kube_cluster import FakeCluster
from tests.support.polling import wait_until


def names(source) -> set[str]:
    return {pod.name for pod in source.expected_pods({})}


def test_only_pods_matching_the_selector_are_expected_across_namespaces(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    cluster.create_pod("agent-a", namespace="netchecker", labels={"app": "netchecker-agent"})
    cluster.create_pod("agent-b", namespace="kube-system", labels={"app": "netchecker-agent-hostnet"})
    cluster.create_pod("web", namespace="netchecker", labels={"app": "web"})
    cluster.create_pod("unlabelled", namespace="netchecker", labels={})
    source = make_source()
    assert source.wait_until_synced(5)
    assert names(source) == {"agent-a", "agent-b"}
    (listed,) = apiserver.list_requests()
    assert listed.path == "/api/v1/pods"
    assert listed.query["labelSelector"] == "app in (netchecker-agent,netchecker-agent-hostnet)"


def test_the_namespace_setting_lists_and_watches_one_namespace_only(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    cluster.create_pod("agent-a", namespace="netchecker")
    cluster.create_pod("agent-b", namespace="default")
    source = make_source(namespace="netchecker")
    assert source.wait_until_synced(5)
    cluster.create_pod("agent-c", namespace="default")
    cluster.create_pod("agent-d", namespace="netchecker")
    wait_until(lambda: "agent-d" in names(source), what="agent-d")
    assert names(source) == {"agent-a", "agent-d"}
    assert {r.path for r in apiserver.requests} == {"/api/v1/namespaces/netchecker/pods"}


def test_a_custom_selector_is_applied_by_the_api_server(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    cluster.create_pod("canary", labels={"app": "netchecker-agent", "track": "canary"})
    cluster.create_pod("stable", labels={"app": "netchecker-agent"})
    source = make_source(selector="app=netchecker-agent,track notin (stable),!legacy")
    assert source.wait_until_synced(5)
    assert names(source) == {"canary", "stable"}
    cluster.create_pod("legacy", labels={"app": "netchecker-agent", "legacy": "yes"})
    cluster.create_pod("fresh", labels={"app": "netchecker-agent"})
    wait_until(lambda: "fresh" in names(source), what="fresh")
    assert names(source) == {"canary", "stable", "fresh"}


def test_a_large_list_is_read_in_pages_with_limit_and_continue(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    for i in range(5):
        cluster.create_pod(f"agent-{i}")
    source = make_source(timing=dataclasses.replace(FAST, page_size=2))
    assert source.wait_until_synced(5)
    assert names(source) == {f"agent-{i}" for i in range(5)}
    pages = apiserver.list_requests()
    assert [r.query["limit"] for r in pages] == ["2", "2", "2"]
    assert ["continue" in r.query for r in pages] == [False, True, True]


def test_an_expired_continue_token_restarts_the_list_from_the_beginning(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    for i in range(3):
        cluster.create_pod(f"agent-{i}")
    apiserver.fail(410, on="continue")
    source = make_source(timing=dataclasses.replace(FAST, page_size=1))
    assert source.wait_until_synced(5)
    assert names(source) == {"agent-0", "agent-1", "agent-2"}
    assert ["continue" in r.query for r in apiserver.list_requests()] == [False, True, False, True, True]


def test_watch_events_add_change_and_remove_expected_pods(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    cluster.create_pod("agent-a", node="node-a")
    source = make_source()
    assert source.wait_until_synced(5)
    cluster.create_pod("agent-b", node="node-b", phase="Pending")
    wait_until(lambda: "agent-b" in names(source), what="ADDED agent-b")
    cluster.update_pod("netchecker", "agent-b", lambda pod: pod["spec"].__setitem__("hostNetwork", True))
    wait_until(lambda: {p.network for p in source.expected_pods({})} == {Network.POD, Network.HOST})
    cluster.delete_pod("netchecker", "agent-a")
    wait_until(lambda: names(source) == {"agent-b"}, what="DELETED agent-a")
    assert len(apiserver.list_requests()) == 1


def test_a_pod_relabelled_out_of_the_selector_and_back_leaves_and_returns(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    cluster.create_pod("agent-a")
    cluster.create_pod("agent-b")
    source = make_source()
    assert source.wait_until_synced(5)
    cluster.relabel("netchecker", "agent-a", {"app": "retired"})
    wait_until(lambda: names(source) == {"agent-b"}, what="agent-a to leave")
    cluster.relabel("netchecker", "agent-a", {"app": "netchecker-agent-hostnet"})
    wait_until(lambda: names(source) == {"agent-a", "agent-b"}, what="agent-a to return")
    assert len(apiserver.list_requests()) == 1


def test_pods_being_deleted_or_finished_are_not_expected(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    cluster.create_pod("done", phase="Succeeded")
    cluster.create_pod("crashed", phase="Failed")
    cluster.create_pod("running")
    cluster.create_pod("leaving")
    cluster.create_pod("stays")
    source = make_source()
    assert source.wait_until_synced(5)
    assert names(source) == {"running", "leaving", "stays"}
    cluster.start_deleting("netchecker", "leaving")
    cluster.set_phase("netchecker", "running", "Failed")
    wait_until(lambda: names(source) == {"stays"}, what="terminating and failed pods to drop out")


def test_node_namespace_and_network_come_from_the_pod(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    cluster.create_pod("netchecker-agent-x1", namespace="nc", node="worker-1")
    cluster.create_pod("netchecker-agent-hostnet-x1", namespace="nc", node="worker-1", host_network=True,
                       labels={"app": "netchecker-agent-hostnet"})  # fmt: skip
    cluster.create_pod("host-by-spec", namespace="nc", node="worker-2", host_network=True)
    hostnet = {"app": "netchecker-agent-hostnet"}
    cluster.create_pod("host-by-label", namespace="nc", node="worker-2", labels=hostnet)
    source = make_source()
    assert source.wait_until_synced(5)
    pods = {p.name: (p.namespace, p.node, p.network) for p in source.expected_pods({})}
    assert pods == {
        "netchecker-agent-x1": ("nc", "worker-1", Network.POD),
        "netchecker-agent-hostnet-x1": ("nc", "worker-1", Network.HOST),
        "host-by-spec": ("nc", "worker-2", Network.HOST),
        "host-by-label": ("nc", "worker-2", Network.HOST),
    }
