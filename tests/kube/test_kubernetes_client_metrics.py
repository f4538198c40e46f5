"""The Kubernetes client's metrics, against the fake API server: calls by result, restarts, relists."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry

from netchecker_exporter.pods.kube_metrics import KubernetesClientMetrics
from tests.support.kube_access import SourceFactory
from tests.support.kube_apiserver import CUT, FakeKubeApiServer
from tests.support.kube_cluster import FakeCluster
from tests.support.polling import wait_until

REQUESTS = "netchecker_kubernetes_requests_total"
RESTARTS = "netchecker_kubernetes_watch_restarts_total"
RELISTS = "netchecker_kubernetes_relists_total"


def counted(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    if value is None:
        raise LookupError(f"no sample {name}{labels}")
    return value


def test_a_list_then_a_watch_are_counted_and_a_quiet_watch_is_no_sync(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    registry = CollectorRegistry()
    cluster.create_pod("agent-a")
    source = make_source(metrics=KubernetesClientMetrics(registry))
    assert source.wait_until_synced(5)
    wait_until(lambda: counted(registry, REQUESTS, verb="watch", result="success") == 1, what="the watch")
    listed = source.health().last_sync_timestamp
    assert listed is not None
    assert counted(registry, REQUESTS, verb="list", result="success") == 1
    assert counted(registry, RELISTS) == 1
    time.sleep(0.05)  # an open watch used to report "now": any later read would differ
    assert source.health().last_sync_timestamp == listed
    cluster.create_pod("agent-b")
    wait_until(lambda: (source.health().last_sync_timestamp or 0) > listed, what="the event as a sync")


def test_failures_restarts_and_relists_are_counted_by_reason(
    cluster: FakeCluster, apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    registry = CollectorRegistry()
    cluster.create_pod("agent-a")
    apiserver.fail(500, on="list")
    source = make_source(metrics=KubernetesClientMetrics(registry))
    assert source.wait_until_synced(5)
    assert counted(registry, REQUESTS, verb="list", result="error") == 1
    wait_until(lambda: counted(registry, REQUESTS, verb="watch", result="success") == 1, what="the watch")
    apiserver.fail(CUT, on="watch")
    apiserver.cut_watches()
    wait_until(lambda: counted(registry, RESTARTS, reason="dropped") >= 1, what="a dropped watch")
    apiserver.fail(410, on="watch")
    apiserver.cut_watches()
    wait_until(lambda: counted(registry, RESTARTS, reason="expired") == 1, what="an expired watch")
    assert counted(registry, REQUESTS, verb="watch", result="expired") == 1
    wait_until(lambda: counted(registry, RELISTS) == 2, what="the relist after 410 Gone")
    assert counted(registry, REQUESTS, verb="list", result="success") == 2
