"""The reconcile loop: every check interval, judge every agent and swap in a new Snapshot.

Readers (the collector, /readyz) take the current Snapshot with one attribute read: it is
immutable and replaced whole, so no lock is needed and a scrape never waits on a pass.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from netchecker_exporter.check import AgentVerdict, judge_agents
from netchecker_exporter.diagnosis import diagnose
from netchecker_exporter.errors import NetcheckerError
from netchecker_exporter.pods.base import PodSource
from netchecker_exporter.settings import DiagnosisSettings
from netchecker_exporter.snapshot import Snapshot
from netchecker_exporter.store.base import ReportStore

log = logging.getLogger(__name__)


class Reconciler:
    """Owns the Snapshot; run() loops until its stop Event is set."""

    def __init__(  # noqa: PLR0913 (keyword-only: each is a dependency or a setting)
        self,
        *,
        store: ReportStore,
        pods: PodSource,
        check_interval_seconds: float,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        diagnosis: DiagnosisSettings | None = None,
    ) -> None:
        self._store = store
        self._pods = pods
        self._interval = check_interval_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._diagnosis = diagnosis or DiagnosisSettings()
        self._snapshot = Snapshot((), store.health(), pods.kind, pods.health())

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def judge_agents_now(self) -> tuple[AgentVerdict, ...]:
        """Verdicts as of this instant (connectivity_check answers from this, not the snapshot)."""
        records = self._store.list_records()
        return judge_agents(self._pods.expected_pods(records), records, self._clock())

    def reconcile_once(self) -> Snapshot:
        """One pass; a failure is logged and counted, and the last verdicts are kept."""
        started = self._monotonic()
        previous = replace(self._snapshot, store=self._store.health(), pod_source=self._pods.health())
        try:
            verdicts = self.judge_agents_now()
        except NetcheckerError as error:  # an outage we know: its message says it all
            log.warning(
                "reconcile pass failed: %s; keeping the last verdicts, retrying in %ss", error, self._interval
            )
            return self._count_failure(previous)
        except Exception:
            log.exception("reconcile pass failed; keeping the last verdicts, retrying in %ss", self._interval)
            return self._count_failure(previous)
        now = self._clock()
        self._snapshot = replace(
            previous,
            verdicts=verdicts,
            diagnosis=diagnose(verdicts, now, self._diagnosis),
            last_success_timestamp=now,
            last_duration_seconds=self._monotonic() - started,
        )
        return self._snapshot

    def _count_failure(self, previous: Snapshot) -> Snapshot:
        self._snapshot = replace(previous, failures_total=previous.failures_total + 1)
        return self._snapshot

    def run(self, stop: threading.Event, after_pass: Callable[[], None] | None = None) -> None:
        """Reconcile every check interval until `stop` is set; `after_pass` runs after each pass.

        The CLI renders /metrics there, so scrapes copy bytes instead of rendering 10,000 agents.
        """
        while not stop.is_set():
            self.reconcile_once()
            if after_pass is not None:
                self._run_after_pass(after_pass)
            stop.wait(self._interval)

    def _run_after_pass(self, after_pass: Callable[[], None]) -> None:
        try:
            after_pass()
        except Exception:  # a bug there must not stop the loop; scrapes render on demand and fail loudly
            log.exception("after-pass hook failed; the loop goes on")
