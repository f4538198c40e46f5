"""The store's defences without a server: agent capacity, write admission, the write breaker's
states, malloc trimming after a drop."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from netchecker_exporter.errors import AgentLimitError, StoreBusyError
from netchecker_exporter.store.capacity import AgentCapacity
from netchecker_exporter.store.group_commit import GroupCommitter
from netchecker_exporter.store.reachability import Reachability
from netchecker_exporter.tuning import MallocTrimmer


def test_without_a_pod_list_every_new_agent_counts_against_max_agents() -> None:
    capacity = AgentCapacity(max_agents=2)
    capacity.admit("a", 1, list)
    with pytest.raises(AgentLimitError, match="-max-agents") as error:
        capacity.admit("b", 2, list)
    assert error.value.reason == "agent_limit"


def test_listed_pods_keep_their_slots_whatever_unlisted_names_arrive() -> None:
    stored: list[str] = []
    capacity = AgentCapacity(max_agents=2, max_unlisted=1, listed=lambda: ["p1", "p2"], monotonic=lambda: 0.0)
    for name in ("x1", "p1", "p2"):
        capacity.admit(name, len(stored), lambda: stored)
        stored.append(name)
    with pytest.raises(AgentLimitError, match="-max-unlisted-agents"):
        capacity.admit("x2", len(stored), lambda: stored)


def test_before_the_pod_list_loads_only_max_agents_bounds_new_agents() -> None:
    """Issue 22: the API unreachable since start-up must not refuse reports; the unlisted bound
    starts once a list has loaded, counting what was stored before it."""
    stored: list[str] = []
    pods: list[str] | None = None
    now = [0.0]
    capacity = AgentCapacity(max_agents=3, max_unlisted=1, listed=lambda: pods, monotonic=lambda: now[0])
    for name in ("x1", "x2", "p1"):
        capacity.admit(name, len(stored), lambda: stored)
        stored.append(name)
        now[0] += 2  # past the refresh: each admission asks the pod source again
    with pytest.raises(AgentLimitError, match="-max-agents"):
        capacity.admit("x3", len(stored), lambda: stored)
    stored.remove("x2")
    pods = ["p1", "p2"]  # the list loads: x1 is one unlisted agent, the bound's whole share
    now[0] += 2
    with pytest.raises(AgentLimitError, match="-max-unlisted-agents"):
        capacity.admit("x4", len(stored), lambda: stored)
    capacity.admit("p2", len(stored), lambda: stored)


def test_one_write_too_many_is_refused_at_once_not_queued() -> None:
    release = threading.Event()

    def commit(items: Sequence[int], deadline: float) -> list[int | Exception]:
        release.wait(5)
        return list(items)

    committer: GroupCommitter[int, int] = GroupCommitter(commit, max_items=8, name="t", max_pending=2)
    results: list[int] = []
    writers = [threading.Thread(target=lambda i=i: results.append(committer.submit(i, 5))) for i in range(2)]
    for writer in writers:
        writer.start()
    threading.Event().wait(0.3)
    with pytest.raises(StoreBusyError, match="-max-pending-writes"):
        committer.submit(3, 5)
    release.set()
    for writer in writers:
        writer.join()
    assert sorted(results) == [0, 1]
    committer.close()


def test_a_successful_read_does_not_mark_failing_writes_good() -> None:
    state = Reachability("etcd")
    state.mark(True)
    state.watching(True)
    assert state.health().up and state.write_refusal() is None
    state.writes(False, "etcd txn failed: RESOURCE_EXHAUSTED: database space exceeded")
    state.alarms(("NOSPACE",))
    state.mark(True)  # Status answered
    assert not state.health().up
    assert "NOSPACE" in state.health().detail and "NOSPACE" in (state.write_refusal() or "")
    state.alarms(())
    assert not state.health().up  # still failing until a write succeeds
    state.writes(True)
    assert state.health().up


def test_malloc_is_trimmed_only_after_records_went_away() -> None:
    trimmer = MallocTrimmer(shrink=100)
    assert [trimmer.observe(n) for n in (10, 500, 450, 399, 399, 1000)] == [False] * 3 + [True] + [False] * 2


def test_malloc_is_trimmed_again_once_the_last_views_of_expired_records_let_go() -> None:
    """The previous Snapshot and the last scraped bodies still held the expired records when the
    first trim ran; a follow-up trim `settle` passes later hands their pages back (issue 9)."""
    trimmer = MallocTrimmer(shrink=100, settle=3)
    observed = [trimmer.observe(n) for n in (500, 100, 100, 100, 100, 100, 100)]
    assert observed == [False, True, False, False, True, False, False]
