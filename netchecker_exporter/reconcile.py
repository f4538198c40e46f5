"""The reconcile loop: judge every agent and swap in a new Snapshot every check interval; soon
after reports are accepted (debounced) judge again just the agents that reported, so every view
of the Snapshot is at most a second behind them.

Readers (/metrics, /readyz) take the current Snapshot with one attribute read: it is immutable and
replaced whole, so a scrape never waits on a pass. connectivity_check runs a pass of its own (as
the original judged at each call) and that pass swaps in the Snapshot the next scrape reads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from netchecker_exporter.check import AgentVerdict, Judgement
from netchecker_exporter.diagnosis.flapping import apply_flapping
from netchecker_exporter.diagnosis.history import History, HistoryLimits, history_of, record_pass, restore
from netchecker_exporter.diagnosis.nodes import Diagnosis, diagnose
from netchecker_exporter.errors import NetcheckerError
from netchecker_exporter.gil_slices import GilSlices, Pause, release_in_slices
from netchecker_exporter.pods.base import PodSource
from netchecker_exporter.settings import DiagnosisSettings
from netchecker_exporter.snapshot import Snapshot
from netchecker_exporter.store.base import ReportStore
from netchecker_exporter.store.history import HistoryStore

log = logging.getLogger(__name__)

REFRESH_AFTER_REPORT_SECONDS = 0.5
"""The most a report waits for its refresh to start, so it is on /metrics within a second. Under
steady ingest reports share refreshes, at most one per this delay; a refresh costs only the agents
that reported (and writing their lines), not the whole fleet."""


class Reconciler:
    """Owns the Snapshot; run() loops until its stop Event is set."""

    refresh_delay_seconds = REFRESH_AFTER_REPORT_SECONDS

    def __init__(  # noqa: PLR0913 (keyword-only: each is a dependency or a setting)
        self,
        *,
        store: ReportStore,
        pods: PodSource,
        check_interval_seconds: float,
        diagnosis: DiagnosisSettings,
        history_store: HistoryStore,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        slices: Callable[[], Pause] = GilSlices,
    ) -> None:
        self._store = store
        self._pods = pods
        self._interval = check_interval_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._slices = slices
        """A pass's pause, called per agent and per node: gives the GIL back every few ms."""
        self._diagnosis = diagnosis
        self._history_store = history_store
        self._limits = HistoryLimits.of(self._diagnosis)
        self._snapshot = Snapshot((), store.health(), pods.kind, pods.health())
        self._last_error: str | None = "no reconcile pass has run yet"
        self._reported = threading.Event()
        """Set by an accepted report, cleared when a pass starts: the Snapshot may be behind."""
        self._changed: set[str] = set()
        """Names that reported since the last pass (bounded: the store admitted each of them)."""
        self._changed_lock = threading.Lock()
        self._judgement = Judgement()
        """The last verdicts with how long each holds: a full pass judges again only what changed."""
        self._checked: Diagnosis | None = None
        """The checks' diagnosis of the last full pass (before the flapping rule): a pass keeps its
        nodes whose inputs did not change."""
        self._pass_lock = threading.Lock()

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def report_accepted(self, podname: str) -> None:
        """`podname`'s report was stored: it is judged again within the refresh delay (the API calls this)."""
        with self._changed_lock:
            self._changed.add(podname)
        if not self._reported.is_set():  # set() takes a lock and notifies: 1 us per report under ingest
            self._reported.set()

    def refresh_reported(self) -> Snapshot:
        """Judge again only the agents that reported since the last pass, on their new records.

        The other verdicts (and the diagnosis, and the pass metrics) stay as the last full pass
        left them. A name the Snapshot does not have is left to the next full pass when a pod list
        says who is expected; with none (every reporter is expected) it makes this a full pass.
        """
        with self._pass_lock:
            self._reported.clear()
            with self._changed_lock:
                changed, self._changed = self._changed, set()
            current = self._snapshot
            if not changed and current.reconciled:
                return current
            try:
                records = {name: self._store.get_record(name) for name in sorted(changed)}
            except Exception:  # the store cannot say (etcd's mirror not loaded): the full pass reports why
                return self._pass(diagnose_nodes=False)
            judgement = self._judgement.rejudged(
                records, self._clock(), new_names_expected=self._pods.reporters_are_expected
            )
            if judgement is None or not current.reconciled or self._last_error is not None:
                return self._pass(diagnose_nodes=False)
            self._judgement = judgement
            self._snapshot = replace(
                current,
                verdicts=judgement.verdicts,
                store=self._store.health(),
                pod_source=self._pods.health(),
            )
            return self._snapshot

    def judge_agents_now(self) -> tuple[AgentVerdict, ...]:
        """A pass of the caller's own, for connectivity_check; raises what made it fail.

        The pass swaps in its Snapshot, so the next scrape shows what connectivity_check said.
        """
        snapshot = self.reconcile_once(diagnose_nodes=False)
        if self._last_error is not None:
            raise NetcheckerError(self._last_error)
        return snapshot.verdicts

    def reconcile_once(self, *, diagnose_nodes: bool = True) -> Snapshot:
        """One pass; a failure is logged and counted, and the last verdicts are kept.

        `diagnose_nodes=False` keeps the last diagnosis (it costs 115 ms at 5,000 nodes): per-node
        verdicts move at the check interval.
        """
        with self._pass_lock:
            self._reported.clear()
            with self._changed_lock:
                self._changed.clear()
            return self._pass(diagnose_nodes=diagnose_nodes)

    def _pass(self, *, diagnose_nodes: bool) -> Snapshot:
        """A full pass; the caller holds the pass lock."""
        started = self._monotonic()
        previous = replace(self._snapshot, store=self._store.health(), pod_source=self._pods.health())
        try:
            records = self._store.list_records()
            pods = self._pods.expected_pods(records)
            now = self._clock()  # one moment for the verdicts, the diagnosis and the pass's timestamp
            judgement = self._judgement.judged_again(pods, records, now, self._slices())
        except NetcheckerError as error:  # an outage we know: its message says it all
            log.warning("reconcile pass failed: %s; keeping the last verdicts", error)
            return self._count_failure(previous, str(error))
        except Exception as error:
            log.exception("reconcile pass failed; keeping the last verdicts")
            return self._count_failure(previous, f"unexpected error: {error!r}")
        self._last_error = None
        self._judgement = judgement
        verdicts = judgement.verdicts
        diagnosis, history = previous.diagnosis, previous.history
        replaced: list[object] = []
        if diagnose_nodes:
            replaced = [*previous.diagnosis.nodes, *(self._checked.nodes if self._checked else ())]
            diagnosis, history = self._judge_nodes(verdicts, now, history)
        self._snapshot = replace(
            previous,
            verdicts=verdicts,
            diagnosis=diagnosis,
            history=history,
            last_success_timestamp=now,
            last_duration_seconds=self._monotonic() - started,
        )
        del previous
        release_in_slices(replaced, self._slices())  # once readers hold the new Snapshot
        return self._snapshot

    def _judge_nodes(
        self, verdicts: tuple[AgentVerdict, ...], now: float, history: History
    ) -> tuple[Diagnosis, History]:
        """The checks' verdicts, remembered (and queued for the history store); the flapping rule
        reads what is remembered. Nothing is written before the stored history is merged in."""
        queued: set[str] = set()
        if not history.restored and (stored := self._history_store.restored()) is not None:
            queued = {name for name, node in history.nodes.items() if node.transitions}  # seen before
            history = restore(history, stored, self._limits)
        pause = self._slices()
        checked = diagnose(verdicts, now, self._diagnosis, pause, self._checked)
        self._checked = checked
        history, changed = record_pass(history, checked, now, self._limits, pause)
        if history.restored and (changed or queued):
            self._history_store.save(history_of(history, changed | queued))
        return apply_flapping(checked, history, self._diagnosis, pause), history

    def _count_failure(self, previous: Snapshot, error: str) -> Snapshot:
        self._last_error = error
        self._snapshot = replace(previous, failures_total=previous.failures_total + 1)
        return self._snapshot

    def run(self, stop: threading.Event, after_pass: Callable[[], None] | None = None) -> None:
        """A full pass every check interval, and a refresh soon after accepted reports, until `stop`.

        `after_pass` runs after each of them: the CLI trims malloc and offers the
        Snapshot to its writers there.
        """
        last_full: float | None = None
        while not stop.is_set():
            started = self._monotonic()
            if last_full is None or started - last_full >= self._interval:
                self.reconcile_once()
                last_full = started
            else:
                self.refresh_reported()
            if after_pass is not None:
                self._run_after_pass(after_pass)
            self._wait_for_next_pass(stop, started)

    def _wait_for_next_pass(self, stop: threading.Event, started: float) -> None:
        """Until the check interval is up, or a report came in, or `stop`; passes start at least the
        refresh delay apart (counted from the last start, so a report waits at most that long)."""
        deadline = started + self._interval
        earliest = started + min(self.refresh_delay_seconds, self._interval)
        if stop.wait(max(0.0, earliest - self._monotonic())):
            return
        while not stop.is_set():
            remaining = deadline - self._monotonic()
            if remaining <= 0 or self._reported.wait(min(remaining, self.refresh_delay_seconds)):
                return

    def _run_after_pass(self, after_pass: Callable[[], None]) -> None:
        try:
            after_pass()
        except Exception:  # a bug there must not stop the loop; scrapes render on demand and fail loudly
            log.exception("after-pass hook failed; the loop goes on")
