"""The Kubernetes pod source when things go wrong: expiry, cut watches, outages, errors, RBAC."""

from __future__ import annotations

import dataclasses
import logging
import time

import pytest

from netchecker_exporter.errors import PodSourceUnavailableError
from netchecker_exporter.pods.watch_timing import WatchTiming
from tests.support.kube_access import FAST, SourceFactory
from tests.support.kube_apiserver import CUT, FakeKubeApiServer
from tests.support.kube_cluster import FakeCluster
from tests.support.polling import wait_until


def names(source) -> set[str]:
    return {pod.name for pod in source.expected_pods({})}


def test_resuming_a_watch_from_a_compacted_version_gets_410_and_lists_again(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    cluster.create_pod("agent-a")
    source = make_source()
    assert source.wait_until_synced(5)
    apiserver.set_unreachable(unreachable=True)
    wait_until(lambda: not source.health().up, what="the watch to be lost")
    cluster.create_pod("agent-b")
    cluster.compact()  # the version the source will resume from is gone: ERROR 410 in the stream
    apiserver.set_unreachable(unreachable=False)
    wait_until(lambda: names(source) == {"agent-a", "agent-b"}, what="agent-b")
    assert len(apiserver.list_requests()) == 2
    assert source.health().up


def test_a_watch_answered_with_http_410_lists_again(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    apiserver.fail(410, on="watch", message="too old resource version: 1 (1000)")
    source = make_source()
    wait_until(lambda: len(apiserver.list_requests()) == 2, what="a second list")
    wait_until(lambda: source.health().up, what="health up")


def test_a_cut_watch_resumes_from_the_last_seen_version_without_listing_again(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    cluster.create_pod("agent-a")
    source = make_source()
    assert source.wait_until_synced(5)
    seen = cluster.create_pod("agent-b")
    wait_until(lambda: "agent-b" in names(source), what="agent-b")
    apiserver.cut_watches()
    cluster.create_pod("agent-c")  # happens while no watch is open: the resumed watch replays it
    wait_until(lambda: "agent-c" in names(source), what="agent-c")
    assert len(apiserver.list_requests()) == 1
    resumed = apiserver.watch_requests()[1]
    assert resumed.query["resourceVersion"] == seen["metadata"]["resourceVersion"]


def test_a_quiet_cluster_costs_watches_but_no_repeated_lists(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    cluster.create_pod("agent-a")
    source = make_source(timing=dataclasses.replace(FAST, watch_timeout_seconds=1))
    assert source.wait_until_synced(5)
    wait_until(lambda: len(apiserver.watch_requests()) >= 4, timeout_seconds=10, what="four watch timeouts")
    assert len(apiserver.list_requests()) == 1
    assert {r.query["resourceVersion"] for r in apiserver.watch_requests()} == {str(cluster.version)}
    assert source.health().up
    assert names(source) == {"agent-a"}


@pytest.mark.parametrize(("bookmarks", "lists"), [(True, 1), (False, 2)])
def test_bookmarks_keep_a_quiet_watch_current_past_a_compaction(
    cluster: FakeCluster,
    apiserver: FakeKubeApiServer,
    make_source: SourceFactory,
    bookmarks: bool,
    lists: int,
) -> None:
    apiserver.bookmark_interval_seconds = 0.1 if bookmarks else None
    cluster.create_pod("agent-a")
    source = make_source(timing=dataclasses.replace(FAST, watch_timeout_seconds=1))
    assert source.wait_until_synced(5)
    cluster.advance(50)  # other objects change; our pods do not
    if bookmarks:
        wait_until(lambda: cluster.version in apiserver.bookmarks_sent, what="a bookmark at the new version")
    cluster.compact()
    wait_until(lambda: len(apiserver.watch_requests()) >= 3, timeout_seconds=10, what="the watch to time out")
    assert len(apiserver.list_requests()) == lists
    assert names(source) == {"agent-a"}


def test_while_the_api_is_down_the_last_known_pods_are_kept_and_health_is_down(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    cluster.create_pod("agent-a")
    cluster.create_pod("agent-b")
    source = make_source()
    assert source.wait_until_synced(5)
    apiserver.set_unreachable(unreachable=True)
    wait_until(lambda: not source.health().up, what="health to go down")
    last_sync = source.health().last_sync_timestamp
    assert last_sync is not None
    wait_until(lambda: len(apiserver.requests) >= 6, what="retries")
    assert names(source) == {"agent-a", "agent-b"}
    assert source.health().last_sync_timestamp == last_sync
    cluster.delete_pod("netchecker", "agent-b")
    apiserver.set_unreachable(unreachable=False)
    wait_until(lambda: source.health().up, what="recovery")
    wait_until(lambda: names(source) == {"agent-a"}, what="the deletion made during the outage")
    assert len(apiserver.list_requests()) == 1  # resumed from the last version: no relist


@pytest.mark.parametrize("status", [500, 503, 429, CUT])
def test_failing_lists_are_retried_until_they_succeed(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory, status: int
) -> None:
    cluster.create_pod("agent-a")
    apiserver.fail(status, on="list", times=3)
    source = make_source()
    with pytest.raises(PodSourceUnavailableError, match="not listed yet"):
        source.expected_pods({})
    assert source.wait_until_synced(5)
    assert names(source) == {"agent-a"}
    assert len(apiserver.list_requests()) == 4


def test_a_failing_watch_is_retried_from_the_same_version_without_listing_again(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    cluster.create_pod("agent-a")
    apiserver.fail(500, on="watch", times=2)
    source = make_source()
    wait_until(lambda: len(apiserver.watch_requests()) == 3, what="a third watch")
    assert len(apiserver.list_requests()) == 1
    assert len({r.query["resourceVersion"] for r in apiserver.watch_requests()}) == 1
    wait_until(lambda: source.health().up, what="health up")


def test_retry_after_from_a_throttling_api_server_is_respected(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    apiserver.fail(429, on="list", retry_after_seconds=1)
    started = time.monotonic()
    source = make_source(timing=WatchTiming(backoff_base_seconds=0.01, backoff_max_seconds=5))
    assert source.wait_until_synced(5)
    assert time.monotonic() - started >= 1.0


@pytest.mark.parametrize(
    ("namespace", "where"),
    [(None, "cluster-wide (ClusterRole + ClusterRoleBinding)"), ("netchecker", "in namespace netchecker")],
)
def test_a_403_names_the_missing_rbac_permission(
    apiserver: FakeKubeApiServer,
    make_source: SourceFactory,
    caplog: pytest.LogCaptureFixture,
    namespace: str | None,
    where: str,
) -> None:
    apiserver.fail(403, on="list", times=None)
    source = make_source(namespace=namespace)
    record = wait_until(lambda: [r for r in caplog.records if "RBAC" in r.getMessage()], what="an RBAC hint")[
        0
    ]
    assert record.levelno == logging.ERROR
    assert 'verbs ["list", "watch"] on resource "pods"' in record.getMessage()
    assert where in record.getMessage()
    assert "cannot list resource" in record.getMessage()  # the API server's own words
    assert source.health().up is False
    assert source.health().last_sync_timestamp is None
    with pytest.raises(PodSourceUnavailableError, match="HTTP 403"):
        source.expected_pods({})


def test_one_403_right_after_a_sync_is_no_rbac_alarm_but_a_second_one_is(
    cluster: FakeCluster,
    apiserver: FakeKubeApiServer,
    make_source: SourceFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster.create_pod("agent-a")
    source = make_source()
    wait_until(lambda: source.health().up, what="the first sync")
    # A list refused (a 403 on the watch is list mode: test_kubernetes_list_mode.py): the watch
    # resumes on an expired version, and the relist it needs is refused once.
    apiserver.fail(410, on="watch", times=1)
    apiserver.fail(403, on="list", times=1)
    apiserver.cut_watches()
    wait_until(lambda: any("RBAC may still be loading" in r.getMessage() for r in caplog.records),
               what="the restart warning")  # fmt: skip
    wait_until(lambda: source.health().up, what="health up again")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    apiserver.fail(410, on="watch", times=1)
    apiserver.fail(403, on="list", times=2)
    apiserver.cut_watches()
    wait_until(lambda: [r for r in caplog.records if r.levelno == logging.ERROR and "RBAC" in r.getMessage()],
               what="the RBAC hint on a second refusal")  # fmt: skip
    assert names(source) == {"agent-a"}


def test_a_401_says_the_credentials_were_rejected(
    apiserver: FakeKubeApiServer, make_source: SourceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    apiserver.token = "rotated-token"
    make_source()
    record = wait_until(
        lambda: [r for r in caplog.records if "credentials" in r.getMessage()], what="a hint"
    )[0]
    assert "HTTP 401" in record.getMessage()
    assert "service-account token or the kubeconfig user" in record.getMessage()


def test_close_ends_an_open_watch_promptly(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    source = make_source(timing=dataclasses.replace(FAST, watch_timeout_seconds=60, watch_idle_seconds=60))
    wait_until(lambda: apiserver.watch_requests(), what="a watch")
    started = time.monotonic()
    source.close()
    assert time.monotonic() - started < 1.0
