"""The writers act only on new diagnoses of healthy passes, one settle time after start and outages."""

from __future__ import annotations

from dataclasses import replace

import pytest

from netchecker_exporter.kube_writes.lease import LeaseView, may_take, micro_time
from netchecker_exporter.kube_writes.write_gate import WriteGate
from netchecker_exporter.pods.base import PodSourceHealth
from netchecker_exporter.snapshot import Snapshot
from netchecker_exporter.store.base import StoreHealth
from tests.test_event_plan import fleet

NOW = 1_800_000_000.0
SETTLE = 120.0


def snapshot(at: float, **changes: object) -> Snapshot:
    pods = PodSourceHealth(True, at)
    store = StoreHealth(True)
    healthy = Snapshot((), store, "kubernetes", pods, last_success_timestamp=at, diagnosis=fleet(at))
    return replace(healthy, **changes)  # type: ignore[arg-type]


def test_nothing_is_admitted_before_one_settle_time_after_start() -> None:
    gate = WriteGate(settle_seconds=SETTLE, now=NOW)
    assert gate.admit(snapshot(NOW + 60), NOW + 60) is None
    assert gate.settling(NOW + 60)
    admitted = gate.admit(snapshot(NOW + 130), NOW + 130)
    assert admitted is not None and admitted.at == NOW + 130


def test_a_diagnosis_is_admitted_once() -> None:
    gate = WriteGate(settle_seconds=SETTLE, now=NOW)
    same = snapshot(NOW + 130)
    assert gate.admit(same, NOW + 130) is not None
    assert gate.admit(same, NOW + 131) is None
    assert gate.admit(snapshot(NOW + 140), NOW + 140) is not None


@pytest.mark.parametrize(
    "sick",
    [
        {"store": StoreHealth(False, "etcd down")},
        {"pod_source": PodSourceHealth(False, NOW)},
        {"failures_total": 1},
    ],
    ids=["store down", "API server down", "a failed pass"],
)
def test_an_outage_holds_the_writers_until_one_settle_time_after_it(sick: dict[str, object]) -> None:
    gate = WriteGate(settle_seconds=SETTLE, now=NOW)
    assert gate.admit(snapshot(NOW + 200), NOW + 200) is not None
    assert gate.admit(snapshot(NOW + 210, **sick), NOW + 210) is None
    recovered = {"failures_total": 1} if "failures_total" in sick else {}
    assert gate.admit(snapshot(NOW + 300, **recovered), NOW + 300) is None  # records may be stale yet
    assert gate.admit(snapshot(NOW + 331, **recovered), NOW + 331) is not None


def test_before_the_first_pass_nothing_is_admitted() -> None:
    gate = WriteGate(settle_seconds=0, now=NOW)
    assert gate.admit(snapshot(NOW, last_success_timestamp=None), NOW) is None


@pytest.mark.parametrize(
    ("holder", "unchanged_for", "ours"),
    [("", 0.0, True), ("me", 0.0, True), ("other", 14.9, False), ("other", 15.0, True)],
)
def test_a_lease_is_taken_when_free_ours_or_unrenewed_for_a_whole_duration(
    holder: str, unchanged_for: float, ours: bool
) -> None:
    view = LeaseView(holder, "2026-12-01T00:00:00.000000Z", 3, "42")
    assert may_take(view, "me", unchanged_for_seconds=unchanged_for, lease_seconds=15) is ours


def test_micro_times_always_carry_microseconds_as_the_api_server_requires() -> None:
    assert micro_time(NOW) == "2027-01-15T08:00:00.000000Z"
    assert micro_time(NOW + 0.25) == "2027-01-15T08:00:00.250000Z"
