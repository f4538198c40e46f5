"""The writer thread's rules, on a recording fake of its four API calls (the real ones: e2e/test_events.py):
only the leader writes, a missing grant is logged once, an unreachable API stops the batch."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from netchecker_exporter.kube_writes.api import KubeWriteError
from netchecker_exporter.kube_writes.condition_plan import Condition, ConditionPlanner, ConditionSettings
from netchecker_exporter.kube_writes.event_plan import EventPlanner, EventSettings
from netchecker_exporter.kube_writes.metrics import KubeWriteMetrics
from netchecker_exporter.kube_writes.write_gate import WriteGate
from netchecker_exporter.kube_writes.writer import KubeWriter, WriterIdentity
from netchecker_exporter.pods.base import PodSourceHealth
from netchecker_exporter.snapshot import Snapshot
from netchecker_exporter.store.base import StoreHealth
from tests.test_event_plan import POD_DOWN, fleet

NOW = 1_800_000_000.0
SILENT = ({"age": 300}, {"age": 100})


class FakeApi:
    """Records each call; `fail_with` makes every call raise that status (0: unreachable)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail_with: int | None = None
        self.nodes: list[tuple[str, dict[str, Condition], float]] = []

    def _call(self, verb: str, resource: str, what: str) -> None:
        self.calls.append((verb, what))
        if self.fail_with is not None:
            raise KubeWriteError(verb, resource, self.fail_with, "refused")

    def create_event(self, namespace: str, body: dict[str, Any]) -> None:
        self._call("create", "events", f"{namespace}/{body['regarding']['name']}/{body['reason']}")

    def patch_event(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self._call("patch", "events", f"{namespace}/{name}")

    def patch_node_status(self, node: str, patch: dict[str, Any]) -> None:
        self._call("patch", "nodes/status", node)

    def node_conditions(self) -> Iterator[tuple[str, dict[str, Condition], float]]:
        self._call("list", "nodes", "")
        yield from self.nodes


class FakeElector:
    namespace, name, identity = "netchecker", "netchecker-exporter", "me"

    def __init__(self, *, leading: bool) -> None:
        self.leading = leading

    def try_acquire_or_renew(self) -> bool:
        return self.leading

    def is_leader(self) -> bool:
        return self.leading

    def release(self) -> None:
        self.leading = False


def writer(
    api: FakeApi, *, elector: FakeElector | None = None, conditions: bool = False
) -> tuple[KubeWriter, CollectorRegistry]:
    registry = CollectorRegistry()
    ticks = iter(range(0, 10**6, 10))  # every round 10 s after the last: each one elects
    built = KubeWriter(
        api=api,  # type: ignore[arg-type]
        elector=elector or FakeElector(leading=True),  # type: ignore[arg-type]
        gate=WriteGate(settle_seconds=0, now=NOW - 1),
        events=EventPlanner(EventSettings(), NOW),
        conditions=ConditionPlanner(ConditionSettings(), NOW) if conditions else None,
        metrics=KubeWriteMetrics(registry),
        identity=WriterIdentity(
            "netchecker-server-0", {"kind": "Namespace", "name": "netchecker"}, "default"
        ),
        clock=lambda: NOW,
        monotonic=lambda: float(next(ticks)),
    )
    return built, registry


def offer(target: KubeWriter, at: float, **faults: tuple[dict[str, Any], dict[str, Any]]) -> None:
    healthy = Snapshot(
        (), StoreHealth(True), "kubernetes", PodSourceHealth(True, at), last_success_timestamp=at
    )
    target.offer(replace(healthy, diagnosis=fleet(at, size=6, **faults)))
    target.run_once()


def events(registry: CollectorRegistry, result: str) -> float | None:
    return registry.get_sample_value("netchecker_kubernetes_events_total", {"result": result})


def test_the_leader_writes_the_node_events_in_default() -> None:
    api = FakeApi()
    target, registry = writer(api)
    offer(target, NOW)
    offer(target, NOW + 10, n1=(POD_DOWN, {}), n2=SILENT)
    assert api.calls == [("create", "default/n2/NodeUnreachable"), ("create", "default/n1/PodNetworkDown")]
    assert (events(registry, "written"), registry.get_sample_value("netchecker_leader")) == (2, 1)


def test_a_follower_writes_nothing_and_keeps_the_same_account() -> None:
    api = FakeApi()
    elector = FakeElector(leading=False)
    target, _ = writer(api, elector=elector, conditions=True)
    offer(target, NOW)
    offer(target, NOW + 10, n1=(POD_DOWN, {}))
    assert api.calls == []
    written = Condition("NetcheckerPodNetworkProblem", "True", "PodNetworkDown", "words", NOW + 10)
    api.nodes = [("n1", {written.type: written}, NOW + 10)]  # what the old leader wrote
    elector.leading = True
    offer(target, NOW + 20, n1=(POD_DOWN, {}))  # taking over: it reads the Nodes, repeats nothing
    assert api.calls == [("list", "")]


def test_a_missing_grant_is_logged_once_and_every_refusal_counted(caplog: pytest.LogCaptureFixture) -> None:
    api = FakeApi()
    api.fail_with = 403
    target, registry = writer(api)
    offer(target, NOW)
    with caplog.at_level(logging.ERROR):
        offer(target, NOW + 10, n1=(POD_DOWN, {}), n2=SILENT)
        offer(target, NOW + 20, n3=(POD_DOWN, {}))
    hints = [r.getMessage() for r in caplog.records if "forbids us to create events" in r.getMessage()]
    assert len(hints) == 1 and 'verbs ["create", "patch"] on resource "events"' in hints[0]
    assert events(registry, "failed") == 5  # n1, n2 down; then n3 down, n1 and n2 recovered


def test_an_unreachable_api_server_costs_one_call_per_batch_not_one_per_write() -> None:
    api = FakeApi()
    api.fail_with = 0
    target, registry = writer(api)
    offer(target, NOW)
    offer(target, NOW + 10, n1=(POD_DOWN, {}), n2=SILENT, n3=({}, POD_DOWN))
    assert len(api.calls) == 1 and events(registry, "failed") == 3
    api.fail_with = None
    offer(target, NOW + 20, n1=(POD_DOWN, {}), n2=SILENT, n3=({}, POD_DOWN))
    assert api.calls[1:] == []  # no change since: given-up Events are not written later (the metric says)


def test_conditions_wait_for_the_node_list_and_then_write_differences_only() -> None:
    api = FakeApi()
    stale = Condition("NetcheckerPodNetworkProblem", "True", "PodNetworkDown", "old", NOW - 600)
    api.nodes = [("n1", {stale.type: stale}, NOW - 60), ("n2", {}, 0.0)]
    target, registry = writer(api, conditions=True)
    offer(target, NOW)
    assert api.calls == [("list", ""), ("patch", "n1")]  # n1's stale True cleared, healthy n2 untouched
    labels = {"result": "written"}
    assert registry.get_sample_value("netchecker_node_condition_patches_total", labels) == 1
