"""Without the `watch` grant (kubespray's role: pods get, list) the source lists every check
interval, as the original did, sees every change, and watches again once the grant appears."""

from __future__ import annotations

import dataclasses
import logging
import time

import pytest
from prometheus_client import CollectorRegistry

from netchecker_exporter.pods.kube_metrics import KubernetesClientMetrics
from netchecker_exporter.pods.kubernetes import KubernetesPodSource
from netchecker_exporter.pods.sync_mode import Refusal, SyncMode, SyncModeState
from tests.support.kube_access import FAST, SourceFactory
from tests.support.kube_apiserver import FakeKubeApiServer
from tests.support.kube_cluster import FakeCluster
from tests.support.polling import wait_until

LIST_INTERVAL_SECONDS = 0.1
LISTING = dataclasses.replace(FAST, list_interval_seconds=LIST_INTERVAL_SECONDS, watch_probe_every_lists=1000)
HINT = 'Grant verb "watch" on resource "pods"'
SYNC_MODE = "netchecker_kubernetes_pod_sync_mode"


def names(source: KubernetesPodSource) -> set[str]:
    return {pod.name for pod in source.expected_pods({})}


def mode(registry: CollectorRegistry) -> str:
    """The one mode netchecker_kubernetes_pod_sync_mode shows as 1 (and it must be exactly one)."""
    values = {m.value: registry.get_sample_value(SYNC_MODE, {"mode": m.value}) for m in SyncMode}
    shown = [m for m, value in values.items() if value == 1.0]
    assert len(shown) == 1 and sum(v or 0.0 for v in values.values()) == 1.0, values
    return shown[0]


def hints(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if HINT in r.getMessage()]


def listing_state(list_interval_seconds: float, probe_every_lists: int) -> SyncModeState:
    state = SyncModeState(list_interval_seconds, probe_every_lists)
    assert state.watch_due() and state.mode is SyncMode.WATCH
    assert state.watch_forbidden() is Refusal.FIRST  # maybe RBAC still loading: still watch mode
    assert state.mode is SyncMode.WATCH and state.watch_due()
    assert state.watch_forbidden() is Refusal.CONFIRMED
    assert state.mode is SyncMode.LIST
    return state


@pytest.mark.parametrize(("lists", "due"), [(0, False), (2, False), (3, True), (4, True)])
def test_in_list_mode_the_watch_is_tried_again_after_every_few_lists(lists: int, due: bool) -> None:
    state = listing_state(list_interval_seconds=10, probe_every_lists=3)
    for _ in range(lists):
        state.listed(0.0, 1.0)
    assert state.watch_due() is due
    assert state.probe_seconds == 30


def test_a_refused_probe_stays_in_list_mode_and_waits_as_long_again() -> None:
    state = listing_state(list_interval_seconds=1, probe_every_lists=2)
    state.listed(0.0, 1.0)
    state.listed(0.0, 1.0)
    assert state.watch_due()
    assert state.watch_forbidden() is Refusal.AGAIN  # no second switch, no second hint
    assert not state.watch_due()
    assert state.watch_opened() is True and state.mode is SyncMode.WATCH
    assert state.watch_opened() is False


@pytest.mark.parametrize(
    ("started", "ended", "now", "wait"),
    [
        (100.0, 100.5, 100.5, 9.5),  # a quick list: the next starts one interval after this one did
        (100.0, 108.0, 108.0, 5.0),  # a slow list: half an interval of rest for the API server
        (100.0, 100.5, 130.0, 0.0),  # overdue (a probe watch ran meanwhile): list at once
    ],
)
def test_lists_start_an_interval_apart_but_never_back_to_back(
    started: float, ended: float, now: float, wait: float
) -> None:
    state = listing_state(list_interval_seconds=10, probe_every_lists=6)
    state.listed(started, ended)
    assert state.seconds_to_next_list(now) == wait


def test_one_refusal_between_accepted_watches_never_starts_list_mode() -> None:
    """A restarted API server refuses for half a second before its RBAC is loaded."""
    state = SyncModeState(1, 6)
    for _ in range(3):
        assert state.watch_forbidden() is Refusal.FIRST
        assert state.watch_opened() is False
    assert state.mode is SyncMode.WATCH


def test_a_forbidden_watch_lists_every_interval_and_sees_every_change(
    cluster: FakeCluster,
    apiserver: FakeKubeApiServer,
    make_source: SourceFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    apiserver.fail(403, on="watch", times=None)
    cluster.create_pod("agent-old", node="node-a")
    source = make_source(timing=LISTING, metrics=KubernetesClientMetrics(registry))
    wait_until(lambda: mode(registry) == "list", what="list mode")
    assert names(source) == {"agent-old"}
    cluster.delete_pod("netchecker", "agent-old")  # a rollout: the pod is replaced
    cluster.create_pod("agent-new", node="node-a")
    cluster.create_pod("agent-d", node="node-d")  # a new node
    wait_until(lambda: names(source) == {"agent-new", "agent-d"}, what="the changes, by listing")
    lists = len(apiserver.list_requests())
    wait_until(lambda: len(apiserver.list_requests()) >= lists + 3, what="lists going on")
    assert len(apiserver.watch_requests()) == 2  # refused twice, then no probe due yet
    assert source.health().up  # listing works: the source is in touch
    [record] = hints(caplog)
    assert record.levelno == logging.WARNING
    assert "cluster-wide (ClusterRole + ClusterRoleBinding)" in record.getMessage()
    assert f"listing them every {LIST_INTERVAL_SECONDS:g}s" in record.getMessage()
    assert 'cannot watch resource "pods"' in record.getMessage()  # the API server's own words
    relists = registry.get_sample_value("netchecker_kubernetes_relists_total") or 0.0
    assert relists <= len(apiserver.list_requests()) <= relists + 1  # every list counted, one in flight


def test_lists_are_spaced_by_the_interval_not_back_to_back(
    apiserver: FakeKubeApiServer, make_source: SourceFactory
) -> None:
    """A load can only make lists rarer, so an upper bound on their count holds on a busy machine."""
    interval, watched = 0.5, 1.5
    apiserver.fail(403, on="watch", times=None)
    source = make_source(timing=dataclasses.replace(LISTING, list_interval_seconds=interval))
    assert source.wait_until_synced(5)
    time.sleep(watched)
    assert 1 <= len(apiserver.list_requests()) <= 1 + watched / interval + 1  # the first, and one in flight


def test_once_watch_is_granted_the_next_probe_goes_back_to_watching(
    cluster: FakeCluster,
    apiserver: FakeKubeApiServer,
    make_source: SourceFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    registry = CollectorRegistry()
    apiserver.fail(403, on="watch", times=None)
    cluster.create_pod("agent-a")
    probing = dataclasses.replace(LISTING, watch_probe_every_lists=3)
    source = make_source(timing=probing, metrics=KubernetesClientMetrics(registry))
    wait_until(lambda: len(apiserver.watch_requests()) >= 4, what="two refused probes")
    lists, watches = len(apiserver.list_requests()), len(apiserver.watch_requests())
    assert lists >= 1 + 3 * (watches - 2)  # after the two refusals, a probe every third list
    assert mode(registry) == "list"
    apiserver.clear_faults()  # the grant is added
    wait_until(lambda: mode(registry) == "watch", what="watch mode again")
    assert any("watch of pods allowed again" in r.getMessage() for r in caplog.records)
    lists = len(apiserver.list_requests())
    cluster.create_pod("agent-b")
    wait_until(lambda: "agent-b" in names(source), what="agent-b, through the watch")
    assert len(apiserver.list_requests()) == lists  # watching: no more lists
    assert len(hints(caplog)) == 1
