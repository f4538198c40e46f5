"""Which Events a diagnosis makes: verdict changes, series, per-node and fleet rate limits; no I/O."""

from __future__ import annotations

import re
from typing import Any

import pytest

from netchecker_exporter.diagnosis.nodes import Diagnosis, NodeVerdict, diagnose
from netchecker_exporter.diagnosis.verdicts import CONDITION_KINDS, MAX_TEXT_BYTES, VERDICTS, fit_text
from netchecker_exporter.kube_writes.event_plan import (
    SUMMARY_REASON,
    EventCreate,
    EventPlanner,
    EventSettings,
    SeriesPatch,
    event_name,
)
from netchecker_exporter.kube_writes.rate_limit import Rate
from tests.support.diagnosis import NOW, SETTINGS, node_agents, verdicts

DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
POD_DOWN = {"age": 95}
HOST_DOWN: dict[str, Any] = {}


def fleet(now: float = NOW, size: int = 4, **faults: tuple[dict[str, Any], dict[str, Any]]) -> Diagnosis:
    """Nodes n1..n<size>, healthy but for `faults` (node -> (pod agent changes, host agent changes))."""
    agents = [a for i in range(1, size + 1) for a in node_agents(f"n{i}", *faults.get(f"n{i}", ({}, {})))]
    return diagnose(verdicts(agents, now), now, SETTINGS)


def creates(writes: list[EventCreate | SeriesPatch]) -> list[EventCreate]:
    return [w for w in writes if isinstance(w, EventCreate)]


def node_creates(writes: list[EventCreate | SeriesPatch]) -> list[EventCreate]:
    return [w for w in creates(writes) if w.node]


def test_every_verdict_has_a_row_and_the_names_are_valid_kubernetes_words() -> None:
    assert set(VERDICTS) == set(NodeVerdict)  # a new verdict (flapping) needs its row
    reasons = [s.event_reason for s in VERDICTS.values() if s.event_reason]
    assert len(set(reasons)) == len(reasons)
    assert all(re.fullmatch(r"[A-Z][A-Za-z]+", r) and len(r) <= 128 for r in reasons)
    types = [kind.type for kind in CONDITION_KINDS]
    assert len(set(types)) == len(types) and all(t.startswith("Netchecker") for t in types)
    assert VERDICTS[NodeVerdict.AGENT_MISSING].condition is None  # netchecker's fault, not the node's


def test_a_healthy_fleet_makes_no_event() -> None:
    planner = EventPlanner(EventSettings(), NOW)
    assert planner.plan(fleet(), NOW).writes == []
    assert planner.plan(fleet(NOW + 10), NOW + 10).writes == []


def test_a_node_going_down_makes_one_warning_in_the_diagnosis_words_about_the_pod_at_fault() -> None:
    planner = EventPlanner(EventSettings(), NOW)
    planner.plan(fleet(), NOW)
    down = fleet(NOW + 10, n2=(POD_DOWN, HOST_DOWN))
    (event,) = planner.plan(down, NOW + 10).writes
    node = next(n for n in down.nodes if n.node == "n2")
    assert isinstance(event, EventCreate)
    assert (event.node, event.reason, event.type, event.note) == (
        "n2",
        "PodNetworkDown",
        "Warning",
        node.reason,
    )
    assert event.related_pod == ("netchecker", "netchecker-agent-n2")
    assert planner.plan(fleet(NOW + 20, n2=(POD_DOWN, HOST_DOWN)), NOW + 20).writes == []  # still down


def test_recovery_makes_a_normal_recovered_event_naming_what_it_was() -> None:
    planner = EventPlanner(EventSettings(), NOW)
    planner.plan(fleet(NOW, n1=({"age": 300}, {"age": 100})), NOW)
    (event,) = planner.plan(fleet(NOW + 10), NOW + 10).writes
    assert isinstance(event, EventCreate)
    assert (event.reason, event.type, event.related_pod) == ("Recovered", "Normal", None)
    assert event.note.startswith("healthy again (was node unreachable): both networks report")


def test_a_node_in_its_start_up_grace_keeps_its_last_verdict() -> None:
    planner = EventPlanner(EventSettings(), NOW)
    planner.plan(fleet(NOW, n1=(POD_DOWN, HOST_DOWN)), NOW)
    assert planner.plan(fleet(NOW + 10, n1=({"age": None, "starting": True}, {})), NOW + 10).writes == []
    assert planner.plan(fleet(NOW + 20, n1=(POD_DOWN, HOST_DOWN)), NOW + 20).writes == []


def test_a_flapping_node_makes_one_series_patched_at_its_first_repeat_then_at_most_each_interval() -> None:
    planner = EventPlanner(EventSettings(series_patch_interval_seconds=60), NOW)
    down, up = (POD_DOWN, HOST_DOWN), ({}, {})
    written = []
    for step in range(6):  # down, up, down, up, down, up: 10 s apart
        at = NOW + 10 * step
        written += planner.plan(fleet(at, n1=down if step % 2 == 0 else up), at).writes
    assert [(type(w).__name__, w.key[1]) for w in written] == [
        ("EventCreate", "PodNetworkDown"),
        ("EventCreate", "Recovered"),
        ("SeriesPatch", "PodNetworkDown"),
        ("SeriesPatch", "Recovered"),
    ]
    assert [w.count for w in written if isinstance(w, SeriesPatch)] == [2, 2]
    later = planner.due_series(NOW + 200)
    assert sorted((p.key[1], p.count, p.last_observed) for p in later) == [
        ("PodNetworkDown", 3, NOW + 40),
        ("Recovered", 3, NOW + 50),
    ]
    assert planner.due_series(NOW + 210) == []
    assert planner.open_series == 2


def test_a_repeat_after_the_series_window_makes_a_new_event() -> None:
    planner = EventPlanner(EventSettings(series_window_seconds=100), NOW)
    planner.plan(fleet(NOW, n1=(POD_DOWN, HOST_DOWN)), NOW)
    planner.plan(fleet(NOW + 10), NOW + 10)
    writes = planner.plan(fleet(NOW + 200, n1=(POD_DOWN, HOST_DOWN)), NOW + 200).writes
    assert [(type(w).__name__, w.key[1]) for w in writes] == [("EventCreate", "PodNetworkDown")]


def test_a_failed_create_is_made_again_by_the_next_occurrence_and_a_gone_event_too() -> None:
    planner = EventPlanner(EventSettings(), NOW)
    (first,) = planner.plan(fleet(NOW, n1=(POD_DOWN, HOST_DOWN)), NOW).writes
    planner.create_failed(first.key)
    (recovered,) = planner.plan(fleet(NOW + 10), NOW + 10).writes
    (again,) = planner.plan(fleet(NOW + 20, n1=(POD_DOWN, HOST_DOWN)), NOW + 20).writes
    assert isinstance(again, EventCreate) and again.name != first.name
    planner.plan(fleet(NOW + 30), NOW + 30)
    (patch,) = [w for w in planner.plan(fleet(NOW + 40, n1=(POD_DOWN, HOST_DOWN)), NOW + 40).writes]
    assert isinstance(patch, SeriesPatch)
    planner.patch_failed(patch.key, gone=True)
    planner.plan(fleet(NOW + 50), NOW + 50)
    writes = planner.plan(fleet(NOW + 60, n1=(POD_DOWN, HOST_DOWN)), NOW + 60).writes
    assert [type(w).__name__ for w in writes] == ["EventCreate"]
    assert recovered.key == ("n1", "Recovered")


def test_a_node_gets_a_few_new_events_at_once_then_one_per_refill() -> None:
    settings = EventSettings(per_node=Rate(burst=2, per_second=1 / 100))
    planner = EventPlanner(settings, NOW)
    faults = [(POD_DOWN, {}), ({}, POD_DOWN), ({"skew": 99.0}, {"skew": 99.0}), ({"nslookup": {"x": ()}}, {})]
    plans = [planner.plan(fleet(NOW + i, n1=fault), NOW + i) for i, fault in enumerate(faults)]
    assert [len(node_creates(p.writes)) for p in plans] == [1, 1, 0, 0]
    assert [p.suppressed for p in plans] == [0, 0, 1, 1]
    summary = plans[2].writes[0]
    assert isinstance(summary, EventCreate) and summary.reason == SUMMARY_REASON
    assert [w.reason for w in creates(plans[3].writes)] == []  # the summary's repeat joins its series
    rebooted = ({"reboots": 1, "boot": NOW + 140}, {})
    later = planner.plan(fleet(NOW + 200, n1=rebooted), NOW + 200)  # 200 s refilled both tokens
    assert [w.reason for w in node_creates(later.writes)] == ["Rebooted"]


def test_a_cluster_wide_outage_makes_a_capped_number_of_node_events_and_one_summary() -> None:
    planner = EventPlanner(EventSettings(), NOW)
    size = 5000
    planner.plan(fleet(NOW, size), NOW)
    everyone = {f"n{i}": ({"age": 300}, {"age": 100}) for i in range(1, size + 1)}
    outage = planner.plan(fleet(NOW + 10, size, **everyone), NOW + 10)
    made = creates(outage.writes)
    assert len(made) == 51 and outage.suppressed == size - 50
    summary = made[-1]
    assert (summary.node, summary.reason) == ("", SUMMARY_REASON)
    assert summary.note.startswith(
        f"{size - 50} node Events not written (fleet rate limit): 4950 NodeUnreachable"
    )
    assert "5000 of 5000 nodes silent on both networks" in summary.note
    still = planner.plan(fleet(NOW + 20, size, **everyone), NOW + 20)
    assert still.writes == [] and still.suppressed == 0  # an ongoing outage is not a change


def test_notes_fit_the_api_limit_and_names_are_valid_for_any_node_name() -> None:
    note = fit_text("é" * 2000)
    assert len(note.encode()) <= MAX_TEXT_BYTES and note.endswith("...")
    assert fit_text("short") == "short"
    for node in ("n1", "a" * 253, "ip-10-0-0-1.eu-west-1.compute.internal", ""):
        name = event_name(node, "PodNetworkDown", NOW)
        assert DNS_NAME.match(name) and len(name) <= 253, name
    assert event_name("n1", "PodNetworkDown", NOW) != event_name("n1", "PodNetworkDown", NOW + 1)


@pytest.mark.parametrize("verdict", [v for v in NodeVerdict if VERDICTS[v].event_reason])
def test_every_fault_verdict_has_a_warning_or_normal_type(verdict: NodeVerdict) -> None:
    assert VERDICTS[verdict].event_type in {"Warning", "Normal"}
