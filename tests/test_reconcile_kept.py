"""A Reconciler that keeps verdicts and nodes between passes shows what a first pass would show."""

from __future__ import annotations

from typing import Any

import pytest

from netchecker_exporter.pods.none import ReportedPodSource
from netchecker_exporter.report import parse_report
from netchecker_exporter.store.memory import MemoryStore
from tests.support.api_server import memory_reconciler
from tests.support.clock import FakeClock

AGENTS = [(f"netchecker-agent-hostnet-{n}", f"node-{n}") for n in range(6)]


def report(body: dict[str, Any], pod: str, node: str, store: MemoryStore, at: float) -> None:
    store.put_report(parse_report({**body, "podname": pod, "nodename": node}, pod), at)


@pytest.mark.parametrize("step", [0.0, 1.0, 3.0, 4.0, 5.0, 30.0])
def test_a_later_pass_equals_a_first_pass_on_the_same_store(
    hostnet_report: dict[str, Any], step: float
) -> None:
    clock = FakeClock()
    store = MemoryStore(report_ttl_seconds=300, clock=clock)
    for pod, node in AGENTS:
        report(hostnet_report, pod, node, store, clock())
    carried = memory_reconciler(store=store, pods=ReportedPodSource(), check_interval_seconds=10, clock=clock)
    carried.reconcile_once()  # then one agent reports and is refreshed, one reports after it, the rest age
    (refreshed, refreshed_node), (unannounced, unannounced_node) = AGENTS[:2]
    clock.advance(step / 2)
    report(hostnet_report, refreshed, refreshed_node, store, clock())
    carried.report_accepted(refreshed)
    carried.refresh_reported()
    report(hostnet_report, unannounced, unannounced_node, store, clock())  # after the last refresh
    clock.advance(step / 2)
    later = carried.reconcile_once()
    first = memory_reconciler(store=store, pods=ReportedPodSource(), check_interval_seconds=10, clock=clock)
    fresh = first.reconcile_once()
    assert later.verdicts == fresh.verdicts
    assert later.diagnosis == fresh.diagnosis
