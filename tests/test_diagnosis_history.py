"""History and flapping, pure: transitions from (previous history, this pass's verdicts, now), bounds,
restoring what was stored, and the flapping rule on top of the checks' verdicts. No I/O."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import pytest

from netchecker_exporter.diagnosis.checks import NodeVerdict
from netchecker_exporter.diagnosis.flapping import apply_flapping, flap_finding
from netchecker_exporter.diagnosis.history import (
    EMPTY_HISTORY,
    NODE,
    History,
    HistoryLimits,
    NodeHistory,
    Transition,
    record_pass,
    restore,
)
from netchecker_exporter.diagnosis.nodes import diagnose
from netchecker_exporter.store.history_codec import decode_node_history, encode_node_history
from tests.support.diagnosis import NOW, SETTINGS, Agent, node_agents, verdicts

LIMITS = HistoryLimits()
UP: dict[str, object] = {}
DOWN: dict[str, object] = {"age": 300}


def one_pass(
    history: History, agents: Iterable[Agent], now: float, limits: HistoryLimits = LIMITS
) -> tuple[History, frozenset[str]]:
    return record_pass(history, diagnose(verdicts(list(agents), now), now, SETTINGS), now, limits)


def flapping_node(name: str, episodes: int, *, every: float = 60.0, start: float = NOW) -> History:
    """`episodes` outages (both agents silent) and recoveries of node `name`, one every `every` s."""
    history, _ = one_pass(EMPTY_HISTORY, node_agents(name), start)
    for episode in range(episodes):
        at = start + (episode + 1) * every
        history, _ = one_pass(history, node_agents(name, DOWN, DOWN), at)
        history, _ = one_pass(history, node_agents(name), at + 20)
    return history


def test_a_first_sight_is_a_state_not_a_change() -> None:
    history, changed = one_pass(EMPTY_HISTORY, node_agents("n1"), NOW)
    node = history.nodes["n1"]
    assert (node.verdict, node.verdict_changes, node.agent_changes, changed) == (
        "healthy",
        (),
        (),
        frozenset(),
    )
    assert node.agents == (("netchecker-agent-hostnet-n1", "fresh"), ("netchecker-agent-n1", "fresh"))


def test_a_verdict_change_is_recorded_with_its_time_and_reason_and_the_agents_changes_too() -> None:
    history, _ = one_pass(EMPTY_HISTORY, node_agents("n1"), NOW)
    history, changed = one_pass(history, node_agents("n1", DOWN, DOWN), NOW + 30)
    node = history.nodes["n1"]
    (change,) = node.verdict_changes
    assert (change.at, change.subject, change.before) == (NOW + 30, NODE, "healthy")
    assert change.after == "node_unreachable"
    assert "no agent has reported for" in change.reason
    assert sorted((t.subject, t.before, t.after) for t in node.agent_changes) == [
        ("netchecker-agent-hostnet-n1", "fresh", "outdated"),
        ("netchecker-agent-n1", "fresh", "outdated"),
    ]
    assert all(t.reason == "silent: last report 5 min ago" for t in node.agent_changes)
    assert (changed, node.changes_total, history.transitions) == (frozenset({"n1"}), 1, 3)


def test_an_unchanged_pass_changes_nothing_and_writes_nothing() -> None:
    history, _ = one_pass(EMPTY_HISTORY, node_agents("n1"), NOW)
    again, changed = one_pass(history, node_agents("n1"), NOW + 10)
    assert again.nodes["n1"] is history.nodes["n1"] and changed == frozenset()


def test_each_node_keeps_its_last_n_changes_and_counts_all_of_them() -> None:
    limits = HistoryLimits(per_node=3, max_transitions=1000)
    history, _ = one_pass(EMPTY_HISTORY, node_agents("n1"), NOW, limits)
    for step in range(1, 11):
        history, _ = one_pass(history, node_agents("n1", *([DOWN, DOWN] if step % 2 else [UP, UP])),
                              NOW + 10 * step, limits)  # fmt: skip
    node = history.nodes["n1"]
    assert [t.at for t in node.verdict_changes] == [NOW + 80, NOW + 90, NOW + 100]
    assert len(node.agent_changes) == 6
    assert node.changes_total == 10
    assert history.transitions == 9


def test_the_total_bound_drops_the_oldest_changes_of_every_node_first() -> None:
    limits = HistoryLimits(per_node=32, max_transitions=20)
    history = EMPTY_HISTORY
    for index, name in enumerate(("old", "mid", "new")):
        start = NOW + 1000 * index
        history, _ = one_pass(history, node_agents(name), start, limits)
        for step in range(1, 4):  # 3 changes of the node, 6 of its agents
            history, _ = one_pass(history, node_agents(name, *([DOWN, DOWN] if step % 2 else [UP, UP])),
                                  start + 100 * step, limits)  # fmt: skip
    assert history.transitions <= limits.max_transitions
    assert history.transitions == sum(n.transitions for n in history.nodes.values())
    assert history.nodes["new"].transitions == 9
    assert history.nodes["old"].transitions < 9
    assert history.nodes["old"].changes_total == 3  # the count is kept, whatever the bound drops


def test_a_node_gone_from_the_diagnosis_keeps_its_changes_and_one_without_any_is_forgotten() -> None:
    history = flapping_node("flappy", 1)
    history, _ = one_pass(history, node_agents("quiet"), NOW + 200)
    history, _ = one_pass(history, [], NOW + 300)
    assert set(history.nodes) == {"flappy"}


def test_the_stored_history_comes_first_and_the_counts_add_up() -> None:
    stored = flapping_node("n1", 2, start=NOW - 3600).nodes
    mine = flapping_node("n1", 1)
    merged = restore(mine, stored, LIMITS)
    node = merged.nodes["n1"]
    assert [t.at for t in node.verdict_changes] == sorted(t.at for t in node.verdict_changes)
    assert (len(node.verdict_changes), node.changes_total, merged.restored) == (6, 6, True)
    assert node.verdict == mine.nodes["n1"].verdict


def test_after_a_restart_a_change_while_the_server_was_down_is_recorded_on_the_first_pass() -> None:
    stored = flapping_node("n1", 1).nodes  # healthy when it stopped
    history = restore(EMPTY_HISTORY, stored, LIMITS)
    history, changed = one_pass(history, node_agents("n1", DOWN, DOWN), NOW + 900)
    assert changed == {"n1"} and history.nodes["n1"].verdict_changes[-1].after == "node_unreachable"


@pytest.mark.parametrize(("episodes", "flapping"), [(1, False), (2, True), (5, True)])
def test_a_node_is_flapping_at_four_changes_within_the_window(episodes: int, flapping: bool) -> None:
    """One outage and its recovery are two changes: two outages in 15 minutes make it flap."""
    history = flapping_node("n1", episodes)
    now = NOW + episodes * 60 + 30
    finding = flap_finding(history.nodes["n1"], now, SETTINGS)
    assert (finding is not None) is flapping
    if finding is not None:
        assert finding.data["changes"] == 2 * episodes
        assert "between healthy and a problem" in finding.reason
        assert "(healthy, node unreachable; last " in finding.reason


def test_changes_older_than_the_window_and_the_start_up_grace_do_not_count() -> None:
    history = flapping_node("n1", 3)
    assert flap_finding(history.nodes["n1"], NOW + 180 + 20 + SETTINGS.flap_window_seconds, SETTINGS) is None
    node = NodeHistory(
        "healthy", (), tuple(Transition(NOW + i, NODE, "starting", "healthy", "") for i in range(9))
    )
    assert flap_finding(node, NOW + 10, SETTINGS) is None


def test_the_flapping_verdict_shows_between_outages_and_the_outage_verdict_during_them() -> None:
    history = flapping_node("n1", 2)
    now = NOW + 150
    up = apply_flapping(diagnose(verdicts(node_agents("n1"), now), now, SETTINGS), history, SETTINGS)
    (node,) = up.nodes
    assert (node.verdict, [f.verdict for f in node.findings]) == (
        NodeVerdict.FLAPPING,
        [NodeVerdict.FLAPPING],
    )
    assert "the problem comes and goes" in node.reason
    assert up.cluster.verdict == "degraded" and up.cluster.counts[NodeVerdict.FLAPPING] == 1
    down_agents = verdicts(node_agents("n1", DOWN, DOWN), now)
    down = apply_flapping(diagnose(down_agents, now, SETTINGS), history, SETTINGS)
    assert [f.verdict for f in down.nodes[0].findings] == [NodeVerdict.NODE_UNREACHABLE, NodeVerdict.FLAPPING]


def test_the_flapping_rule_never_feeds_itself() -> None:
    """The history records the checks' verdicts: showing `flapping` is not another change."""
    history = flapping_node("n1", 2)
    for step in range(5):
        now = NOW + 150 + 10 * step
        checked = diagnose(verdicts(node_agents("n1"), now), now, SETTINGS)
        history, changed = record_pass(history, checked, now, LIMITS)
        assert apply_flapping(checked, history, SETTINGS).nodes[0].verdict is NodeVerdict.FLAPPING
        assert changed == frozenset()
    assert history.nodes["n1"].changes_total == 4


def test_a_diagnosis_without_flapping_nodes_is_returned_as_it_was() -> None:
    checked = diagnose(verdicts(node_agents("n1"), NOW), NOW, SETTINGS)
    assert apply_flapping(checked, flapping_node("n1", 1), SETTINGS) is checked


def test_the_stored_form_reads_back_the_same() -> None:
    node = flapping_node("n1", 3).nodes["n1"]
    assert decode_node_history(encode_node_history(node), LIMITS) == node


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (b'{"version": 2}', "not a version 1 node history"),
        (b"[1]", "not a version 1 node history"),
        (b'{"version": 1, "verdict": "on_fire"}', "unknown verdict 'on_fire'"),
        (b'{"version": 1, "verdict": "healthy", "agents": [["p", "dead"]]}', "unknown agent status 'dead'"),
        (b'{"version": 1, "verdict": "healthy", "agents": [], "changes_total": -1}', "changes_total"),
        (
            b'{"version": 1, "verdict": "healthy", "agents": [], "changes_total": 1, "verdict_changes": '
            b'[["x", "healthy", "healthy", ""]], "agent_changes": []}',
            "seconds since the epoch",
        ),
    ],
)
def test_a_stored_value_that_is_not_ours_is_refused_with_the_reason(value: bytes, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        decode_node_history(value, LIMITS)


def test_a_stored_value_is_cut_to_the_limits() -> None:
    node = flapping_node("n1", 10).nodes["n1"]
    small = HistoryLimits(per_node=4, max_transitions=100)
    read = decode_node_history(encode_node_history(node), small)
    assert (len(read.verdict_changes), len(read.agent_changes)) == (4, 8)
    assert read.verdict_changes == node.verdict_changes[-4:]
    assert dataclasses.replace(read, verdict_changes=(), agent_changes=()).changes_total == 20


def test_one_outage_through_several_verdicts_is_two_flips_not_flapping() -> None:
    """The two agents of a node fall silent, and come back, a pass or two apart: one outage."""
    history, _ = one_pass(EMPTY_HISTORY, node_agents("n1"), NOW)
    for offset, agents in ((10, node_agents("n1", UP, DOWN)), (20, node_agents("n1", DOWN, DOWN)),
                           (30, node_agents("n1", DOWN, UP)), (40, node_agents("n1"))):  # fmt: skip
        history, _ = one_pass(history, agents, NOW + offset)
    node = history.nodes["n1"]
    assert [t.after for t in node.verdict_changes] == [
        "host_network_down", "node_unreachable", "pod_network_down", "healthy"
    ]  # fmt: skip
    assert len(node.flips_since(NOW)) == 2
    assert flap_finding(node, NOW + 40, SETTINGS) is None
