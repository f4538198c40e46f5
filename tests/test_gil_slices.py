"""A long loop sleeps once per slice of work, and only then."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netchecker_exporter.gil_slices import GilSlices, release_in_slices
from netchecker_exporter.metrics.exposition import AgentCache
from netchecker_exporter.pods.none import ReportedPodSource
from netchecker_exporter.reconcile import Reconciler
from netchecker_exporter.report import parse_report
from netchecker_exporter.settings import DiagnosisSettings
from netchecker_exporter.store.history import MemoryHistory
from netchecker_exporter.store.memory import MemoryStore
from tests.support.reports import NOW, make_snapshot, varied_snapshot


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_it_sleeps_after_each_slice_of_work_and_not_before() -> None:
    time = FakeTime()  # in whole milliseconds, so that no rounding blurs the edges
    pause = GilSlices(20, 5, clock=time.clock, sleep=time.sleep)
    for _ in range(19):  # 19 ms of work in 1 ms items
        time.now += 1
        pause()
    assert time.slept == []
    time.now += 1
    pause()
    assert time.slept == [5]  # at 20 ms; the next slice starts after the sleep
    for _ in range(19):
        time.now += 1
        pause()
    assert time.slept == [5]
    time.now += 1
    pause()
    assert time.slept == [5, 5]


def test_the_agent_cache_pauses_per_agent_it_writes_and_not_per_cached_one(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    cache, written = AgentCache(legacy_metrics=True), []
    first = varied_snapshot(hostnet_report, podnet_report).verdicts
    lines, _ = cache.update(first, lambda: written.append(1))
    assert len(written) == len(first)
    written.clear()
    cache.update(tuple(first), lambda: written.append(1))  # a new Snapshot, the same verdicts
    assert written == []
    other = make_snapshot(hostnet_report, podnet_report).verdicts
    cache.update((*first[1:], *other), lambda: written.append(1))
    assert len(written) == len(other)
    assert lines


def test_a_full_pass_pauses_per_agent_judged_and_per_node_diagnosed(hostnet_report: dict[str, Any]) -> None:
    store = MemoryStore(report_ttl_seconds=300, clock=lambda: NOW)
    for index in range(40):  # 2 agents a node: 20 nodes
        payload = {**hostnet_report, "podname": f"agent-{index}", "nodename": f"node-{index // 2}"}
        store.put_report(parse_report(payload, f"agent-{index}"), NOW)
    calls: list[int] = []
    made: list[int] = []

    def slices() -> Callable[[], None]:
        made.append(1)
        return lambda: calls.append(len(made))

    reconciler = Reconciler(
        store=store,
        pods=ReportedPodSource(),
        check_interval_seconds=10,
        diagnosis=DiagnosisSettings(),
        history_store=MemoryHistory(),
        clock=lambda: NOW,
        slices=slices,
    )
    snapshot = reconciler.reconcile_once()
    assert len(snapshot.verdicts) == 40
    assert calls.count(1) == 40  # judging: once per agent
    assert calls.count(2) >= 3 * 20  # diagnosing (targets, facts, verdicts) and the history: per node
    assert snapshot.diagnosis.cluster.nodes_judged == 20


def test_release_in_slices_drops_one_item_per_pause() -> None:
    items: list[object] = [object(), object(), object()]
    left: list[int] = []
    release_in_slices(items, lambda: left.append(len(items)))
    assert left == [2, 1, 0]
    assert items == []
