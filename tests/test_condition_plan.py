"""Which Node conditions a diagnosis sets: changes only, heartbeats, holds, clears; no I/O."""

from __future__ import annotations

from typing import Any

from netchecker_exporter.kube_writes.condition_plan import (
    Condition,
    ConditionPatch,
    ConditionPlanner,
    ConditionSettings,
)
from netchecker_exporter.kube_writes.rate_limit import Rate
from tests.test_event_plan import POD_DOWN, fleet

NOW = 1_800_000_000.0
POD_TYPE = "NetcheckerPodNetworkProblem"


def applied(planner: ConditionPlanner, patches: list[ConditionPatch]) -> list[ConditionPatch]:
    """As the writer does after each successful patch."""
    for patch in patches:
        planner.written(patch)
    return patches


def by_type(patch: ConditionPatch) -> dict[str, Condition]:
    return {c.type: c for c in patch.conditions}


def down(at: float, node: str = "n1", **more: tuple[dict[str, Any], dict[str, Any]]) -> Any:
    return fleet(at, **{node: (POD_DOWN, {})}, **more)


def test_healthy_nodes_get_nothing_written() -> None:
    planner = ConditionPlanner(ConditionSettings(), NOW)
    assert planner.plan(fleet(NOW), NOW) == []


def test_a_fault_sets_its_condition_true_with_the_reason_once() -> None:
    planner = ConditionPlanner(ConditionSettings(), NOW)
    diagnosis = down(NOW)
    (patch,) = applied(planner, planner.plan(diagnosis, NOW))
    conditions = by_type(patch)
    node = next(n for n in diagnosis.nodes if n.node == "n1")
    assert conditions[POD_TYPE] == Condition(POD_TYPE, "True", "PodNetworkDown", node.reason, NOW)
    assert conditions["NetcheckerDNSProblem"].status == "False"
    assert conditions["NetcheckerDNSProblem"].reason == "DNSWorks"
    assert planner.plan(down(NOW + 10), NOW + 10) == []  # a longer silence is no change


def test_unchanged_conditions_are_written_again_at_the_heartbeat_keeping_their_transition_time() -> None:
    planner = ConditionPlanner(ConditionSettings(heartbeat_seconds=300), NOW)
    applied(planner, planner.plan(down(NOW), NOW))
    assert planner.plan(down(NOW + 299), NOW + 299) == []
    (beat,) = applied(planner, planner.plan(down(NOW + 300), NOW + 300))
    assert beat.at == NOW + 300 and by_type(beat)[POD_TYPE].transition_at == NOW
    assert len(beat.conditions) == 6  # every type the node carries, with today's words
    assert planner.plan(down(NOW + 310), NOW + 310) == []


def test_recovery_sets_it_false_with_a_new_transition_time() -> None:
    planner = ConditionPlanner(ConditionSettings(), NOW)
    applied(planner, planner.plan(down(NOW), NOW))
    (patch,) = applied(planner, planner.plan(fleet(NOW + 10), NOW + 10))
    cleared = by_type(patch)[POD_TYPE]
    assert (cleared.status, cleared.reason, cleared.transition_at) == ("False", "PodNetworkWorks", NOW + 10)
    assert planner.plan(fleet(NOW + 20), NOW + 20) == []


def test_a_node_in_its_start_up_grace_keeps_what_it_has() -> None:
    planner = ConditionPlanner(ConditionSettings(), NOW)
    applied(planner, planner.plan(down(NOW), NOW))
    assert planner.plan(fleet(NOW + 10, n1=({"age": None, "starting": True}, {})), NOW + 10) == []
    assert planner.carried("n1")[POD_TYPE].status == "True"


def test_a_verdict_most_of_the_cluster_shares_is_not_the_nodes_fault_and_sets_nothing() -> None:
    planner = ConditionPlanner(ConditionSettings(), NOW)
    silent = ({"age": 300}, {"age": 100})
    outage = fleet(NOW, n1=silent, n2=silent, n3=silent)
    assert outage.cluster.verdict == "node_unreachable"
    assert planner.plan(outage, NOW) == []
    one = fleet(NOW + 10, n1=silent)
    (patch,) = planner.plan(one, NOW + 10)
    assert by_type(patch)["NetcheckerNodeUnreachable"].status == "True"


def test_a_node_whose_agents_are_gone_for_good_is_cleared_then_forgotten() -> None:
    planner = ConditionPlanner(ConditionSettings(gone_after_seconds=300), NOW)
    applied(planner, planner.plan(down(NOW), NOW))
    without_n1 = fleet(NOW + 10, size=4)
    without_n1 = type(without_n1)(without_n1.at, tuple(n for n in without_n1.nodes if n.node != "n1"),
                                  without_n1.targets, without_n1.cluster)  # fmt: skip
    assert planner.plan(without_n1, NOW + 10) == []
    (cleared,) = applied(planner, planner.plan(without_n1, NOW + 320))
    assert cleared.node == "n1" and {c.status for c in cleared.conditions} == {"False"}
    assert planner.plan(without_n1, NOW + 330) == [] and planner.carried("n1") == {}


def test_a_stale_true_left_by_an_earlier_leader_is_cleared_and_a_matching_one_left_alone() -> None:
    planner = ConditionPlanner(ConditionSettings(), NOW)
    stale = Condition(POD_TYPE, "True", "PodNetworkDown", "old words", NOW - 600)
    planner.seed(
        "n2", {POD_TYPE: stale, "Ready": Condition("Ready", "True", "KubeletReady", "", 0)}, NOW - 60
    )
    planner.seed("n1", {POD_TYPE: stale}, NOW - 60)
    (patch,) = planner.plan(down(NOW), NOW)
    assert patch.node == "n2" and by_type(patch)[POD_TYPE].status == "False"
    assert "Ready" not in by_type(patch)  # never ours to write


def test_changes_beyond_the_rate_wait_for_a_later_pass() -> None:
    planner = ConditionPlanner(ConditionSettings(rate=Rate(burst=2, per_second=0.1)), NOW)
    faults = {f"n{i}": (POD_DOWN, {}) for i in (1, 2)}
    first = applied(planner, planner.plan(fleet(NOW, size=6, **faults, n3=({}, POD_DOWN)), NOW))
    assert len(first) == 2
    assert planner.plan(fleet(NOW + 1, size=6, **faults, n3=({}, POD_DOWN)), NOW + 1) == []
    (late,) = planner.plan(fleet(NOW + 10, size=6, **faults, n3=({}, POD_DOWN)), NOW + 10)
    assert late.node == "n3"
