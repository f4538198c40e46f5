"""A long loop sleeps once per slice of work, and only then."""

from __future__ import annotations

from typing import Any

from netchecker_exporter.gil_slices import GilSlices
from netchecker_exporter.metrics.exposition import AgentCache
from tests.support.reports import make_snapshot, varied_snapshot


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
