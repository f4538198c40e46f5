"""A Judgement carried from pass to pass gives what judge_agents gives on the same inputs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from netchecker_exporter.check import AgentStatus, ExpectedPod, Judgement, judge_agents
from netchecker_exporter.report import AgentRecord, AgentReport

START = 1_000_000.0
INTERVALS = (1, 3, 10)
BOUNDARIES = sorted({k * 2 * i for i in INTERVALS for k in range(6)})
"""Ages where a verdict changes by time alone (k windows of 2 x interval), hit exactly."""


def record(name: str, at: float, interval: int = 10, missed: int = 0) -> AgentRecord:
    return AgentRecord(AgentReport(name, "n1", interval, "", 0, {}, {}, ()), at, 1, missed)


def test_an_agent_whose_verdict_holds_keeps_the_same_verdict_object() -> None:
    pods, records = [ExpectedPod("a"), ExpectedPod("b")], {"a": record("a", START), "b": record("b", START)}
    first = Judgement().judged_again(pods, records, START + 1)
    again = first.judged_again(pods, records, START + 5)
    assert again.verdicts[0] is first.verdicts[0]
    assert again.verdicts == judge_agents(pods, records, START + 5)


def test_crossing_a_threshold_judges_the_agent_again() -> None:
    pods, records = [ExpectedPod("a")], {"a": record("a", START)}
    judged = Judgement().judged_again(pods, records, START + 19.5)
    assert judged.verdicts[0].status is AgentStatus.FRESH
    at_window = judged.judged_again(pods, records, START + 20)  # exactly 2 x interval: fresh, one window
    assert (at_window.verdicts[0].status, at_window.verdicts[0].missed_keepalives) == (AgentStatus.FRESH, 1)
    after = at_window.judged_again(pods, records, START + 20.001)
    assert after.verdicts[0].status is AgentStatus.OUTDATED
    assert after.judged_again(pods, records, START + 40).verdicts[0].missed_keepalives == 2


def test_the_start_up_grace_ends_on_time() -> None:
    pods = [ExpectedPod("a", absent_not_before=START + 10)]
    starting = Judgement().judged_again(pods, {}, START)
    assert starting.verdicts[0].status is AgentStatus.STARTING
    assert starting.judged_again(pods, {}, START + 10).verdicts[0].status is AgentStatus.ABSENT


NAMES = ("a", "b", "c")
moments = st.sampled_from(BOUNDARIES) | st.floats(-5, 70, allow_nan=False)
pod_lists = st.lists(
    st.builds(
        ExpectedPod,
        name=st.sampled_from(NAMES),
        namespace=st.sampled_from(("", "x")),
        absent_not_before=st.sampled_from((0.0, START + 3, START + 12)),
    ),
    max_size=5,
)
record_sets = st.dictionaries(
    st.sampled_from(NAMES),
    st.tuples(st.sampled_from((0.0, -2.0, 1.5, 7.0)), st.sampled_from(INTERVALS), st.integers(0, 3)),
)
steps = st.lists(
    st.tuples(moments, st.booleans(), pod_lists, record_sets, st.booleans()), min_size=1, max_size=8
)


@given(steps)
def test_a_judgement_given_the_same_pod_tuple_again_equals_judge_agents(
    passes: list[tuple[float, bool, list[ExpectedPod], dict[str, tuple[float, int, int]], bool]],
) -> None:
    """As pod sources do: the same tuple while the list stands, a new one when it changes."""
    judgement, pods, records = Judgement(), (ExpectedPod("a"),), {"a": record("a", START)}
    for offset, new_pods, pod_list, changes, refresh in passes:
        now = START + offset
        if new_pods:
            pods = tuple(pod_list)
        for name, (received, interval, missed) in changes.items():
            records[name] = record(name, START + received, interval, missed)
        if refresh:
            reported = {name: records[name] for name in changes}
            judgement = judgement.rejudged(reported, now - 0.5, new_names_expected=False) or judgement
        judgement = judgement.judged_again(pods, records, now)
        assert judgement.verdicts == judge_agents(pods, records, now)
        assert judgement.pods is pods


@given(steps)
def test_a_carried_judgement_equals_judge_agents_on_the_same_inputs(
    passes: list[tuple[float, bool, list[ExpectedPod], dict[str, tuple[float, int, int]], bool]],
) -> None:
    """Passes at times that go forward and back and hit the thresholds exactly, with the pod list
    and the records changing or not between them, and refreshes of some agents in between."""
    judgement, pods, records = Judgement(), [ExpectedPod("a")], {"a": record("a", START)}
    for offset, new_pods, pod_list, changes, refresh in passes:
        now = START + offset
        if new_pods:
            pods = pod_list
        for name, (received, interval, missed) in changes.items():
            records[name] = record(name, START + received, interval, missed)
        if refresh:  # as refresh_reported does between full passes, on the changed records only
            reported = {name: records[name] for name in changes}
            judgement = judgement.rejudged(reported, now - 0.5, new_names_expected=False) or judgement
        judgement = judgement.judged_again(pods, records, now)
        assert judgement.verdicts == judge_agents(pods, records, now)
