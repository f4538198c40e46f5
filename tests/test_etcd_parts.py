"""The etcd store's pure parts, without etcd: mirror ordering, lease buckets, group commit, batch plans."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence

import pytest

from netchecker_exporter.errors import StoreUnavailableError
from netchecker_exporter.report import AgentRecord
from netchecker_exporter.store.etcd_channel import next_endpoint
from netchecker_exporter.store.etcd_leader import POLL_INTERVAL_SECONDS, Claim, find_leader, leading
from netchecker_exporter.store.etcd_plan import Base, Put, group_by_pod, plan_pod_write
from netchecker_exporter.store.group_commit import GroupCommitter, Linger
from netchecker_exporter.store.lease_pool import LeasePool, bucket_width_seconds
from netchecker_exporter.store.mirror import Mirror, MirrorEntry, MirrorEvent, OwnWrites
from tests.support.clock import FakeClock
from tests.support.reports import agent_report

NEVER = -math.inf


def record(count: int, podname: str = "netchecker-agent-a") -> AgentRecord:
    return AgentRecord(agent_report(podname), float(count), count, 0)


def test_mirror_ignores_a_commit_the_watch_already_passed() -> None:
    mirror = Mirror()
    mirror.replace({}, revision=5)
    mirror.apply_watched([MirrorEvent("netchecker-agent-a", None, 7)], revision=7)
    mirror.apply_committed({"netchecker-agent-a": MirrorEntry(record(1), 6)})  # late: deleted at 7
    assert mirror.entry("netchecker-agent-a") is None


def test_mirror_applies_own_commit_before_the_watch_and_never_goes_back() -> None:
    mirror = Mirror()
    mirror.replace({}, revision=5)
    mirror.apply_committed({"netchecker-agent-a": MirrorEntry(record(2), 9)})
    assert mirror.entry("netchecker-agent-a") == MirrorEntry(record(2), 9)
    mirror.apply_watched([MirrorEvent("netchecker-agent-a", record(1), 8)], revision=8)
    assert mirror.entry("netchecker-agent-a") == MirrorEntry(record(2), 9)
    assert not mirror.is_newer("netchecker-agent-a", 9)


def test_mirror_relist_keeps_commits_newer_than_the_listing() -> None:
    mirror = Mirror()
    mirror.replace({}, revision=1)
    mirror.apply_committed({"netchecker-agent-b": MirrorEntry(record(1, "netchecker-agent-b"), 12)})
    mirror.replace({"netchecker-agent-a": MirrorEntry(record(3), 4)}, revision=10)
    assert set(mirror.records()) == {"netchecker-agent-a", "netchecker-agent-b"}
    assert mirror.watched_revision == 10 and mirror.loaded


@pytest.mark.parametrize(("ttl", "width"), [(1, 1), (3, 1), (60, 3), (300, 15), (3600, 15)])
def test_bucket_width_is_five_percent_of_the_ttl_within_1_to_15_seconds(ttl: int, width: int) -> None:
    assert bucket_width_seconds(ttl) == width


def test_leases_cover_the_ttl_and_outlive_it_by_at_most_one_bucket() -> None:
    clock = FakeClock(now=990.0)  # a bucket (15 s wide) starts here
    granted: list[int] = []

    def grant(ttl: int) -> int:
        granted.append(ttl)
        return len(granted)

    pool = LeasePool(ttl_seconds=300, clock=clock, slots=4)
    first = pool.lease_for("netchecker-agent-a", grant)
    assert pool.lease_for("netchecker-agent-a", grant) == first
    assert len(granted) == 1
    # Granted at 990 for the bucket [990, 1005): lives until 1305, so a key written anywhere in the
    # bucket lives between 300 s (written at 1005) and 315 s (written at 990).
    assert granted == [315]
    clock.advance(14.9)
    assert pool.lease_for("netchecker-agent-a", grant) == first
    clock.advance(0.1)
    assert pool.lease_for("netchecker-agent-a", grant) != first


def test_prepare_grants_the_current_and_next_bucket_once() -> None:
    clock = FakeClock(now=1000.0)
    granted: list[int] = []
    pool = LeasePool(ttl_seconds=300, clock=clock, slots=4)
    assert pool.prepare(lambda ttl: granted.append(ttl) or len(granted)) == 8
    assert pool.prepare(lambda ttl: granted.append(ttl) or len(granted)) == 0
    clock.advance(15)  # next bucket was prepared: writing there costs no grant
    before = len(granted)
    names = [f"netchecker-agent-{i}" for i in range(50)]
    leases = {pool.lease_for(name, lambda ttl: pytest.fail("not prepared")) for name in names}
    assert len(granted) == before
    assert len(leases) == 4  # keys spread over every slot of the bucket
    pool.forget()
    assert pool.prepare(lambda ttl: 1) == 8


def test_group_commit_coalesces_writers_waiting_on_a_slow_commit() -> None:
    release = threading.Event()
    batches: list[int] = []

    def commit(items: Sequence[int], deadline: float) -> list[int | Exception]:
        release.wait(5)
        batches.append(len(items))
        return [item * 10 if item >= 0 else StoreUnavailableError("bad") for item in items]

    committer: GroupCommitter[int, int] = GroupCommitter(commit, max_items=64, name="test-writer")
    results: dict[int, object] = {}

    def submit(item: int) -> None:
        try:
            results[item] = committer.submit(item, timeout_seconds=5)
        except StoreUnavailableError as error:
            results[item] = error

    threads = [threading.Thread(target=submit, args=(i,)) for i in [*range(20), -1]]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join()
    committer.close()
    assert sum(batches) == 21 and len(batches) < 21
    assert results[7] == 70 and isinstance(results[-1], StoreUnavailableError)
    assert committer.stats().items == 21


def test_group_commit_fails_callers_in_time_when_commit_hangs() -> None:
    hang = threading.Event()

    def commit(items: Sequence[int], deadline: float) -> list[int | Exception]:
        hang.wait(10)
        raise StoreUnavailableError("gave up")

    committer: GroupCommitter[int, int] = GroupCommitter(commit, max_items=64, name="test-writer")
    with pytest.raises(StoreUnavailableError, match=r"not confirmed within 0\.2 s"):
        committer.submit(1, timeout_seconds=0.2)
    hang.set()
    committer.close()
    committer.close()
    with pytest.raises(StoreUnavailableError, match="closed"):
        committer.submit(2, timeout_seconds=0.2)


def test_group_commit_hands_every_caller_its_own_answer_none_and_errors_included() -> None:
    def commit(items: Sequence[int], deadline: float) -> list[int | Exception | None]:
        return [
            None if item == 0 else item if item > 0 else StoreUnavailableError(f"no {item}") for item in items
        ]

    committer: GroupCommitter[int, int | None] = GroupCommitter(commit, max_items=8, name="test-writer")
    answers: dict[int, object] = {}

    def submit(item: int) -> None:
        try:
            answers[item] = committer.submit(item, timeout_seconds=5)
        except StoreUnavailableError as error:
            answers[item] = str(error)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(-10, 11)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    committer.close()
    assert answers == {i: None if i == 0 else i if i > 0 else f"no {i}" for i in range(-10, 11)}


def test_group_commit_fails_a_whole_batch_whose_commit_raises() -> None:
    def commit(items: Sequence[int], deadline: float) -> list[int | Exception]:
        raise StoreUnavailableError("etcd said no")

    committer: GroupCommitter[int, int] = GroupCommitter(commit, max_items=8, name="test-writer")
    with pytest.raises(StoreUnavailableError, match="etcd said no"):
        committer.submit(1, timeout_seconds=5)
    with pytest.raises(StoreUnavailableError, match="etcd said no"):
        committer.submit(2, timeout_seconds=5)
    committer.close()


def test_group_commit_lingers_for_late_callers_only_after_a_big_batch() -> None:
    gate = threading.Event()
    batches: list[list[int]] = []

    def commit(items: Sequence[int], deadline: float) -> list[int | Exception]:
        gate.wait(5)
        batches.append(list(items))
        return list(items)

    linger = Linger(seconds=0.5, after_items=3)
    committer: GroupCommitter[int, int] = GroupCommitter(
        commit, max_items=64, name="test-writer", linger=linger
    )

    def submit_later(items: Sequence[int], delay_seconds: float = 0.0) -> list[threading.Thread]:
        time.sleep(delay_seconds)
        threads = [threading.Thread(target=committer.submit, args=(i, 5)) for i in items]
        for thread in threads:
            thread.start()
        return threads

    first = submit_later([0])
    queued = submit_later([1, 2, 3], delay_seconds=0.1)  # behind the blocked commit of 0
    gate.set()
    for thread in first + queued:
        thread.join()
    started = time.monotonic()
    early = submit_later([4])
    late = submit_later([5], delay_seconds=0.1)  # arrives while the writer lingers
    for thread in early + late:
        thread.join()
    assert time.monotonic() - started >= 0.5
    started = time.monotonic()
    assert committer.submit(6, timeout_seconds=5) == 6  # after a batch of 2: no lingering
    assert time.monotonic() - started < 0.4
    committer.close()
    assert batches[-2:] == [[4, 5], [6]] and sum(map(len, batches)) == 7


def test_own_writes_are_recognised_by_value_only_while_in_flight() -> None:
    own = OwnWrites()
    mine, other = record(1), record(2)
    value = b'{"podname":"netchecker-agent-a","n":1}'
    with own.in_flight([("netchecker-agent-a", value, mine)]):
        assert own.record_for("netchecker-agent-a", bytes(bytearray(value))) is mine  # equal, not identical
        assert own.record_for("netchecker-agent-a", b'{"podname":"netchecker-agent-a","n":9}') is None
        assert own.record_for("netchecker-agent-b", value) is None
    assert own.record_for("netchecker-agent-a", value) is None
    assert len(own) == 0
    newer = b'{"podname":"netchecker-agent-a","n":2}'
    older = own.in_flight([("netchecker-agent-a", value, mine)])
    older.__enter__()
    with own.in_flight([("netchecker-agent-a", newer, other)]):
        older.__exit__(None, None, None)  # an older Txn ends: the newer value stays recognised
        assert own.record_for("netchecker-agent-a", newer) is other
    assert len(own) == 0


def test_two_reports_for_one_pod_in_a_batch_chain() -> None:
    report = agent_report("netchecker-agent-a", interval=10)
    puts = [Put(report, 100.0), Put(agent_report("netchecker-agent-b"), 100.0), Put(report, 150.0)]
    pods = group_by_pod(puts)
    write = plan_pod_write("netchecker-agent-a", pods["netchecker-agent-a"], Base(record(4), 33))
    assert write.base_revision == 33
    assert [(i, r.report_count, r.missed_keepalives) for i, r in write.records] == [(0, 5, 4), (2, 6, 6)]
    assert b'"report_count":6' in write.value


# -- endpoint failover --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hung_at", "leaderless_at", "current", "expected"),
    [
        ([5.0, NEVER, NEVER], [NEVER, NEVER, NEVER], 0, 1),  # the first failure: the next in order
        ([5.0, 6.0, NEVER], [NEVER, NEVER, NEVER], 1, 2),
        # A hung leader is not tried again while a member that only lacks a leader is there.
        ([5.0, 6.0, NEVER], [NEVER, NEVER, 7.0], 2, 2),
        # Every member hung: the one that hung longest ago.
        ([5.0, 6.0, 7.0], [NEVER, NEVER, NEVER], 2, 0),
        # A member cut off from the others says "no leader" for good: a healthy one is preferred.
        ([NEVER, NEVER, NEVER], [NEVER, NEVER, 7.0], 2, 0),
    ],
)
def test_failover_prefers_the_endpoint_that_failed_longest_ago(
    hung_at: list[float], leaderless_at: list[float], current: int, expected: int
) -> None:
    assert next_endpoint(hung_at, leaderless_at, current) == expected


# -- finding the leader after a write hung ------------------------------------------------------


def claim(member: int, leader: int, term: int = 2) -> Claim:
    return Claim(member_id=member, leader_id=leader, raft_term=term)


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        # The leader froze: it says nothing, and the followers still follow it.
        ([None, claim(2, 1), claim(3, 1)], None),
        # An election is on: nobody has a leader.
        ([None, claim(2, 0), claim(3, 0)], None),
        ([None, claim(2, 3, 3), claim(3, 3, 3)], 2),
        # A leader cut off from the others still says it leads, in the older term.
        ([claim(1, 1, 2), claim(2, 3, 3), claim(3, 3, 3)], 2),
        # A live leader whose writes were slow: it still leads.
        ([claim(1, 1), claim(2, 1), claim(3, 1)], 0),
    ],
)
def test_the_leader_is_the_member_that_says_it_leads_in_the_newest_term(
    claims: list[Claim | None], expected: int | None
) -> None:
    assert leading(claims) == expected


def test_finding_the_leader_asks_until_an_election_ends_and_no_longer_than_it_may() -> None:
    clock = FakeClock(now=100.0)
    members = ["a", "b", "c"]
    elected_at = 101.3  # the old leader froze: "a" never answers; "c" wins the election at 101.3

    def ask(member: str) -> Claim | None:
        if member == "a":
            return None
        leader = 3 if clock() >= elected_at else 1
        return claim(members.index(member) + 1, leader, 3 if leader == 3 else 2)

    def ask_all(asked: Sequence[object]) -> list[Claim | None]:
        return [ask(str(member)) for member in asked]

    found = find_leader(members, 103.0, ask_all=ask_all, clock=clock, sleep=clock.advance)  # type: ignore[arg-type]
    assert found == 2
    assert elected_at <= clock() < elected_at + POLL_INTERVAL_SECONDS + 1e-9
    nobody = find_leader(members, 104.0, ask_all=lambda asked: [None] * 3, clock=clock, sleep=clock.advance)  # type: ignore[arg-type]
    assert nobody is None
    assert 104.0 - POLL_INTERVAL_SECONDS <= clock() <= 104.0


def test_a_member_whose_write_hung_leads_in_its_old_term_only_if_nobody_else_says_so() -> None:
    """Cut off, the old leader says it leads until it steps down: the majority's new leader wins;
    a leader that is only slow is the answer in the end, and so is one that won a newer term."""
    clock = FakeClock(now=100.0)
    members = ["a", "b", "c"]

    def cut_off(asked: Sequence[object]) -> list[Claim | None]:
        if clock() < 101.2:  # before the majority's election
            return [claim(1, 1, 2), claim(2, 1, 2), claim(3, 1, 2)]
        return [claim(1, 1, 2), claim(2, 2, 3), claim(3, 2, 3)]

    assert find_leader(members, 103.0, failed=0, ask_all=cut_off, clock=clock, sleep=clock.advance) == 1  # type: ignore[arg-type]
    assert 101.2 <= clock() < 101.2 + POLL_INTERVAL_SECONDS + 1e-9

    def slow(asked: Sequence[object]) -> list[Claim | None]:  # alive, leading, and slow to commit
        return [claim(1, 1, 2), claim(2, 1, 2), claim(3, 1, 2)]

    assert find_leader(members, 104.0, failed=0, ask_all=slow, clock=clock, sleep=clock.advance) == 0  # type: ignore[arg-type]
    assert 104.0 - POLL_INTERVAL_SECONDS <= clock() <= 104.0

    def reelected(asked: Sequence[object]) -> list[Claim | None]:  # stepped down, then won a new term
        if clock() < 104.5:
            return [claim(1, 0, 2), claim(2, 0, 2), claim(3, 0, 2)]
        return [claim(1, 1, 3), claim(2, 1, 3), claim(3, 1, 3)]

    assert find_leader(members, 107.0, failed=0, ask_all=reelected, clock=clock, sleep=clock.advance) == 0  # type: ignore[arg-type]
    assert clock() < 104.5 + POLL_INTERVAL_SECONDS + 1e-9
