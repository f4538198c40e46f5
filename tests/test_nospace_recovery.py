"""When the store acts on etcd's NOSPACE alarm, with a fake clock: at most once per retry interval,
and disarming only well under the quota (etcd 3.6 reports it; older members' size stands in)."""

from __future__ import annotations

from netchecker_exporter.store.nospace import NoSpaceRecovery
from tests.support.clock import FakeClock

MIB = 1024 * 1024


def test_nothing_is_due_without_an_alarm() -> None:
    recovery = NoSpaceRecovery(retry_seconds=30, clock=FakeClock())
    assert not recovery.due(alarmed=False, db_size_bytes=10 * MIB)
    assert not recovery.may_disarm(0)


def test_an_alarm_is_acted_on_at_once_then_at_most_once_per_retry_interval() -> None:
    clock = FakeClock()
    recovery = NoSpaceRecovery(retry_seconds=30, clock=clock)
    assert recovery.due(alarmed=True, db_size_bytes=10 * MIB)
    clock.advance(29)
    assert not recovery.due(alarmed=True, db_size_bytes=10 * MIB)
    clock.advance(1)
    assert recovery.due(alarmed=True, db_size_bytes=10 * MIB)


def test_a_reported_quota_is_the_measure_with_a_fifth_free() -> None:
    recovery = NoSpaceRecovery(clock=FakeClock())
    recovery.due(alarmed=True, db_size_bytes=6 * MIB, quota_bytes=4 * MIB)
    assert recovery.threshold_bytes() == int(0.8 * 4 * MIB)
    assert recovery.may_disarm(3 * MIB)
    assert not recovery.may_disarm(int(3.3 * MIB))


def test_without_a_reported_quota_half_the_size_that_raised_the_alarm_is_the_measure() -> None:
    """The size overshoots the quota (6 MB on a 4 MiB quota): 80 % of it would be over the quota."""
    clock = FakeClock()
    recovery = NoSpaceRecovery(retry_seconds=1, clock=clock)
    recovery.due(alarmed=True, db_size_bytes=6 * MIB)
    clock.advance(1)
    recovery.due(alarmed=True, db_size_bytes=5 * MIB)  # the first size seen stays the measure
    assert recovery.threshold_bytes() == 3 * MIB
    assert not recovery.may_disarm(int(4.5 * MIB))
    assert recovery.may_disarm(2 * MIB)


def test_a_cleared_alarm_forgets_its_size_and_a_new_one_is_acted_on_at_once() -> None:
    clock = FakeClock()
    recovery = NoSpaceRecovery(retry_seconds=30, clock=clock)
    recovery.due(alarmed=True, db_size_bytes=6 * MIB)
    assert not recovery.due(alarmed=False, db_size_bytes=1 * MIB)
    assert recovery.threshold_bytes() == 0
    assert recovery.due(alarmed=True, db_size_bytes=8 * MIB)
    assert recovery.threshold_bytes() == 4 * MIB


def test_a_defragmentation_runs_when_the_data_in_use_is_under_the_mark() -> None:
    recovery = NoSpaceRecovery(clock=FakeClock())
    recovery.due(alarmed=True, db_size_bytes=6 * MIB, quota_bytes=4 * MIB)
    recovery.defragmented(compacted_revision=41)
    assert recovery.may_defragment(in_use_bytes=1 * MIB, compacted_revision=41)


def test_a_figure_over_the_mark_is_checked_by_one_defragmentation_per_compacted_revision() -> None:
    """etcd's in-use figure lags a compaction until the next commit, which NOSPACE may never bring."""
    clock = FakeClock()
    recovery = NoSpaceRecovery(retry_seconds=1, clock=clock)
    recovery.due(alarmed=True, db_size_bytes=6 * MIB, quota_bytes=4 * MIB)
    assert recovery.may_defragment(in_use_bytes=5 * MIB, compacted_revision=29)
    recovery.defragmented(compacted_revision=29)
    assert not recovery.may_defragment(in_use_bytes=5 * MIB, compacted_revision=29)
    assert recovery.may_defragment(in_use_bytes=5 * MIB, compacted_revision=41)


def test_a_cleared_alarm_forgets_which_revision_was_measured() -> None:
    clock = FakeClock()
    recovery = NoSpaceRecovery(retry_seconds=1, clock=clock)
    recovery.due(alarmed=True, db_size_bytes=6 * MIB, quota_bytes=4 * MIB)
    recovery.defragmented(compacted_revision=29)
    recovery.due(alarmed=False, db_size_bytes=1 * MIB)
    recovery.due(alarmed=True, db_size_bytes=6 * MIB, quota_bytes=4 * MIB)
    assert recovery.may_defragment(in_use_bytes=5 * MIB, compacted_revision=29)
