"""The reconcile loop: snapshots swapped whole, failures counted without killing the loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

from netchecker_exporter.check import AgentStatus, ExpectedPod
from netchecker_exporter.errors import NetcheckerError, PodSourceUnavailableError, StoreUnavailableError
from netchecker_exporter.pods.base import PodSourceHealth
from netchecker_exporter.pods.none import ReportedPodSource
from netchecker_exporter.reconcile import Reconciler
from netchecker_exporter.report import AgentRecord, parse_report
from netchecker_exporter.store.memory import MemoryStore
from tests.support.api_server import memory_reconciler
from tests.support.clock import FakeClock
from tests.support.polling import wait_until


class FlakyPods:
    """A pod source whose answers a test scripts: a tuple of pods, or an exception to raise."""

    kind = "static"
    reporters_are_expected = False

    def __init__(self, *answers: tuple[ExpectedPod, ...] | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    def start(self) -> None:
        """Nothing to start."""

    def expected_pods(self, records: Mapping[str, AgentRecord]) -> tuple[ExpectedPod, ...]:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer

    def health(self) -> PodSourceHealth:
        return PodSourceHealth(up=not isinstance(self.answers[0], Exception), last_sync_timestamp=None)

    def close(self) -> None:
        """Nothing to release."""


def make(clock: FakeClock, pods: FlakyPods, hostnet_report: dict[str, Any]) -> Reconciler:
    store = MemoryStore(report_ttl_seconds=300, clock=clock)
    store.put_report(parse_report(hostnet_report, hostnet_report["podname"]), clock())
    return memory_reconciler(
        store=store,
        pods=pods,
        check_interval_seconds=0.01,
        clock=clock,
    )


@pytest.mark.parametrize("failure", [PodSourceUnavailableError("API down"), RuntimeError("a bug")])
def test_a_failing_pass_is_counted_and_keeps_the_last_verdicts(
    clock: FakeClock, hostnet_report: dict[str, Any], failure: Exception
) -> None:
    pods = (ExpectedPod(hostnet_report["podname"]), ExpectedPod("silent"))
    reconciler = make(clock, FlakyPods(pods, failure, pods), hostnet_report)
    first = reconciler.reconcile_once()
    assert [v.status for v in first.verdicts] == [AgentStatus.FRESH, AgentStatus.ABSENT]
    clock.advance(30)
    failed = reconciler.reconcile_once()
    assert failed.failures_total == 1
    assert failed.verdicts == first.verdicts
    assert failed.last_success_timestamp == first.last_success_timestamp
    recovered = reconciler.reconcile_once()
    assert recovered.last_success_timestamp == clock()
    assert [v.status for v in recovered.verdicts] == [AgentStatus.OUTDATED, AgentStatus.ABSENT]
    assert recovered.failures_total == 1


def test_the_loop_survives_failures_and_stops_on_its_event(
    clock: FakeClock, hostnet_report: dict[str, Any]
) -> None:
    pods = FlakyPods(RuntimeError("first"), RuntimeError("second"), (ExpectedPod(hostnet_report["podname"]),))
    reconciler = make(clock, pods, hostnet_report)
    stop = threading.Event()
    loop = threading.Thread(target=reconciler.run, args=(stop,))
    loop.start()
    deadline = threading.Event()
    for _ in range(500):
        if reconciler.snapshot.reconciled:
            break
        deadline.wait(0.01)
    stop.set()
    loop.join(timeout=5)
    assert not loop.is_alive()
    assert reconciler.snapshot.reconciled
    assert reconciler.snapshot.failures_total == 2


def pod_names(reconciler: Reconciler) -> set[str]:
    return {verdict.pod.name for verdict in reconciler.snapshot.verdicts}


def test_an_accepted_report_is_in_the_snapshot_long_before_the_check_interval(
    hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    store = MemoryStore(report_ttl_seconds=300)
    reconciler = memory_reconciler(
        store=store,
        pods=ReportedPodSource(),
        check_interval_seconds=3600,
    )
    stop = threading.Event()
    loop = threading.Thread(target=reconciler.run, args=(stop,), daemon=True)
    loop.start()
    try:
        wait_until(lambda: reconciler.snapshot.reconciled, 10, "the first pass")
        for payload in (hostnet_report, podnet_report):
            store.put_report(parse_report(payload, payload["podname"]), time.time())
            reconciler.report_accepted(payload["podname"])
            wait_until(
                lambda p=payload: p["podname"] in pod_names(reconciler), 10, "the report in the snapshot"
            )
    finally:
        stop.set()
        loop.join(timeout=5)
    assert not loop.is_alive()


def test_connectivity_check_runs_a_pass_that_the_next_scrape_reads_and_raises_its_error(
    clock: FakeClock, hostnet_report: dict[str, Any]
) -> None:
    pods = FlakyPods((ExpectedPod(hostnet_report["podname"]),), PodSourceUnavailableError("API down"))
    store = MemoryStore(report_ttl_seconds=300, clock=clock)
    reconciler = memory_reconciler(
        store=store,
        pods=pods,
        check_interval_seconds=10,
        clock=clock,
    )
    store.put_report(parse_report(hostnet_report, hostnet_report["podname"]), clock())
    verdicts = reconciler.judge_agents_now()
    assert [v.status for v in verdicts] == [AgentStatus.FRESH]
    assert reconciler.snapshot.verdicts == verdicts
    with pytest.raises(NetcheckerError, match="API down"):
        reconciler.judge_agents_now()
    assert reconciler.snapshot.failures_total == 1
    assert reconciler.snapshot.verdicts == verdicts


def test_a_refresh_judges_the_agents_that_reported_and_keeps_the_rest_of_the_pass(
    clock: FakeClock, hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    store = MemoryStore(report_ttl_seconds=300, clock=clock)
    reconciler = memory_reconciler(
        store=store,
        pods=ReportedPodSource(),
        check_interval_seconds=10,
        clock=clock,
    )
    for payload in (hostnet_report, podnet_report):
        store.put_report(parse_report(payload, payload["podname"]), clock())
    full = reconciler.reconcile_once()
    clock.advance(25)  # both are outdated by now, but only a full pass says so
    store.put_report(parse_report(hostnet_report, hostnet_report["podname"]), clock())
    reconciler.report_accepted(hostnet_report["podname"])
    refreshed = reconciler.refresh_reported()
    by_name = {verdict.pod.name: verdict for verdict in refreshed.verdicts}
    assert by_name[hostnet_report["podname"]].record == store.get_record(hostnet_report["podname"])
    assert by_name[hostnet_report["podname"]].record is not None
    assert by_name[hostnet_report["podname"]].record.report_count == 2
    untouched = next(v for v in full.verdicts if v.pod.name == podnet_report["podname"])
    assert by_name[podnet_report["podname"]] is untouched
    assert untouched.status is AgentStatus.FRESH
    assert refreshed.last_success_timestamp == full.last_success_timestamp
    assert refreshed.diagnosis is full.diagnosis
    assert reconciler.refresh_reported() is refreshed  # nothing reported since: the same Snapshot


def test_a_refresh_with_a_new_name_is_a_full_pass(
    clock: FakeClock, hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    store = MemoryStore(report_ttl_seconds=300, clock=clock)
    reconciler = memory_reconciler(
        store=store,
        pods=ReportedPodSource(),
        check_interval_seconds=10,
        clock=clock,
    )
    store.put_report(parse_report(hostnet_report, hostnet_report["podname"]), clock())
    reconciler.reconcile_once()
    clock.advance(25)
    store.put_report(parse_report(podnet_report, podnet_report["podname"]), clock())
    reconciler.report_accepted(podnet_report["podname"])
    refreshed = reconciler.refresh_reported()
    assert pod_names(reconciler) == {hostnet_report["podname"], podnet_report["podname"]}
    assert refreshed.last_success_timestamp == clock()
    statuses = {verdict.pod.name: verdict.status for verdict in refreshed.verdicts}
    assert statuses[hostnet_report["podname"]] is AgentStatus.OUTDATED


def test_with_a_pod_list_a_refresh_leaves_unlisted_reporters_to_the_full_pass(
    clock: FakeClock, hostnet_report: dict[str, Any], podnet_report: dict[str, Any]
) -> None:
    """A made-up or not-yet-listed name must not turn every refresh into a full pass."""
    listed = (ExpectedPod(hostnet_report["podname"]),)
    reconciler = make(clock, FlakyPods(listed), hostnet_report)
    full = reconciler.reconcile_once()
    clock.advance(5)
    reconciler.report_accepted(podnet_report["podname"])
    refreshed = reconciler.refresh_reported()
    assert refreshed.last_success_timestamp == full.last_success_timestamp
    assert pod_names(reconciler) == {hostnet_report["podname"]}


class UnreadableStore(MemoryStore):
    """A store whose reads fail, as etcd's before its mirror has loaded."""

    def get_record(self, podname: str) -> AgentRecord | None:
        raise StoreUnavailableError("etcd store: the records have not been loaded from etcd yet")

    def list_records(self) -> Mapping[str, AgentRecord]:
        raise StoreUnavailableError("etcd store: the records have not been loaded from etcd yet")


def test_a_refresh_whose_store_cannot_read_fails_as_a_counted_pass_not_the_loop(
    clock: FakeClock, hostnet_report: dict[str, Any]
) -> None:
    reconciler = memory_reconciler(
        store=UnreadableStore(report_ttl_seconds=300, clock=clock),
        pods=ReportedPodSource(),
        check_interval_seconds=10,
        clock=clock,
    )
    reconciler.report_accepted(hostnet_report["podname"])
    refreshed = reconciler.refresh_reported()
    assert refreshed.failures_total == 1
    assert not refreshed.reconciled
