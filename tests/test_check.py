"""Check logic as tables: (expected pods, records, now) -> verdicts and the connectivity result."""

from __future__ import annotations

import pytest

from netchecker_exporter.check import (
    FAILURE_MESSAGE,
    AgentStatus,
    ExpectedPod,
    Judgement,
    Network,
    connectivity_result,
    judge_agent,
    judge_agents,
    network_of_pod_name,
    pods_from_records,
    verdict_positions,
)
from netchecker_exporter.report import AgentRecord, AgentReport

NOW = 1_000_000.0


def make_record(
    name: str, *, age: float, interval: int = 10, missed: int = 0, node: str = "n1"
) -> AgentRecord:
    report = AgentReport(name, node, interval, "", 0, {}, {}, ())
    return AgentRecord(report, NOW - age, report_count=5, missed_keepalives=missed)


@pytest.mark.parametrize(
    ("age", "interval", "status", "missed"),
    [
        (0, 10, AgentStatus.FRESH, 0),
        (19.999, 10, AgentStatus.FRESH, 0),
        (20, 10, AgentStatus.FRESH, 1),  # exactly 2 x interval: not yet older than it
        (20.001, 10, AgentStatus.OUTDATED, 1),
        (45, 10, AgentStatus.OUTDATED, 2),
        (4.5, 2, AgentStatus.OUTDATED, 1),
        (-2, 10, AgentStatus.FRESH, 0),  # a clock step back never makes negative ages
    ],
)
def test_agent_is_outdated_after_two_missed_intervals(
    age: float, interval: int, status: AgentStatus, missed: int
) -> None:
    verdict = judge_agent(ExpectedPod("a"), make_record("a", age=age, interval=interval), NOW)
    assert verdict.status is status
    assert verdict.missed_keepalives == missed
    assert verdict.report_age_at(NOW) == pytest.approx(max(0.0, age))


def test_missed_keepalives_add_to_the_stored_running_total() -> None:
    verdict = judge_agent(ExpectedPod("a"), make_record("a", age=65, missed=7), NOW)
    assert verdict.missed_keepalives == 10


@pytest.mark.parametrize(
    ("absent_not_before", "status"),
    [(0.0, AgentStatus.ABSENT), (NOW, AgentStatus.ABSENT), (NOW + 1, AgentStatus.STARTING)],
)
def test_a_pod_without_a_report_is_absent_unless_still_in_its_grace(
    absent_not_before: float, status: AgentStatus
) -> None:
    verdict = judge_agent(ExpectedPod("a", absent_not_before=absent_not_before), None, NOW)
    assert verdict.status is status
    assert verdict.report_age_at(NOW) is None


CASES = [
    # (expected pods, records {name: age}, ok, absent, outdated, message)
    ([], {}, True, (), (), "All 0 pods successfully reported back to the server"),
    (["a", "b"], {"a": 1, "b": 2}, True, (), (), "All 2 pods successfully reported back to the server"),
    (["a", "b"], {"a": 1}, False, ("b",), (), FAILURE_MESSAGE),
    (["a", "b"], {"a": 1, "b": 30}, False, (), ("b",), FAILURE_MESSAGE),
    (["c", "a", "b"], {"b": 30}, False, ("a", "c"), ("b",), FAILURE_MESSAGE),
    (["a"], {"a": 1, "gone": 500}, True, (), (), "All 1 pods successfully reported back to the server"),
]


@pytest.mark.parametrize(("pods", "ages", "ok", "absent", "outdated", "message"), CASES)
def test_connectivity_result_lists_absent_and_outdated_pods(
    pods: list[str],
    ages: dict[str, float],
    ok: bool,
    absent: tuple[str, ...],
    outdated: tuple[str, ...],
    message: str,
) -> None:
    records = {name: make_record(name, age=age) for name, age in ages.items()}
    result = connectivity_result(judge_agents([ExpectedPod(p) for p in pods], records, NOW))
    assert (result.ok, result.absent, result.outdated, result.message) == (ok, absent, outdated, message)


def test_starting_pods_are_neither_counted_nor_failing() -> None:
    pods = [ExpectedPod("a"), ExpectedPod("new", absent_not_before=NOW + 60)]
    result = connectivity_result(judge_agents(pods, {"a": make_record("a", age=1)}, NOW))
    assert result.ok
    assert result.message == "All 1 pods successfully reported back to the server"


@pytest.mark.parametrize(
    ("name", "network", "label"),
    [
        ("netchecker-agent-hostnet-x7k2p", Network.HOST, "n1-host_network"),
        ("netchecker-agent-7fq2m", Network.POD, "n1-private_network"),
    ],
)
def test_network_and_legacy_agent_label_follow_the_pod_name(name: str, network: Network, label: str) -> None:
    records = {name: make_record(name, age=1)}
    (pod,) = pods_from_records(records)
    assert pod.network is network_of_pod_name(name) is network
    assert judge_agent(pod, records[name], NOW).legacy_agent_label == label


def test_the_pod_sources_node_wins_over_the_reported_one() -> None:
    verdict = judge_agent(ExpectedPod("a", node="from-k8s"), make_record("a", age=1, node="reported"), NOW)
    assert verdict.node == "from-k8s"
    assert judge_agent(ExpectedPod("a"), make_record("a", age=1, node="reported"), NOW).node == "reported"


def test_rejudge_judges_only_the_named_agents_and_keeps_the_other_verdicts() -> None:
    records = {name: make_record(name, age=30) for name in ("a", "b", "c")}
    pods = [ExpectedPod("a"), ExpectedPod("b", namespace="x"), ExpectedPod("b", namespace="y")]
    pods.append(ExpectedPod("c"))
    judged = Judgement().judged_again(pods, records, NOW)
    verdicts = judged.verdicts
    assert verdicts == judge_agents(pods, records, NOW)
    assert judged.positions == verdict_positions(verdicts) == {"a": (0,), "b": (1, 2), "c": (3,)}
    fresh = make_record("b", age=0)
    rejudged = judged.rejudged({"b": fresh}, NOW, new_names_expected=True)
    assert rejudged is not None
    again = rejudged.verdicts
    fresh_, outdated = AgentStatus.FRESH, AgentStatus.OUTDATED
    assert [v.status for v in again] == [outdated, fresh_, fresh_, outdated]
    assert again[1].record is fresh
    assert again[2].record is fresh
    assert again[0] is verdicts[0]  # the lines cache compares identity
    assert again[3] is verdicts[3]
    gone = judged.rejudged({"c": None}, NOW, new_names_expected=True)
    assert gone is not None
    assert gone.verdicts[3].status is AgentStatus.ABSENT


def test_rejudge_leaves_a_new_name_to_a_full_pass_only_when_reporters_are_expected() -> None:
    judged = Judgement().judged_again([ExpectedPod("a")], {}, NOW)
    new = {"new": make_record("new", age=0)}
    assert judged.rejudged(new, NOW, new_names_expected=True) is None
    kept = judged.rejudged(new, NOW, new_names_expected=False)  # not listed
    assert kept is not None
    assert kept.verdicts == judged.verdicts
