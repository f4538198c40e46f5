"""How many agents a store may hold: -max-agents, and -max-unlisted-agents for pods the pod source
does not list (yet), so a flood of made-up names can neither grow memory nor crowd out real pods;
and, with a MetricsBudget, how many bytes of /metrics they may make (-max-metrics-bytes).
The unlisted bound waits for a pod list to load: ingest never depends on the pod source.

Pure apart from a lock and a clock: the store asks admit_report() for every report; the agent
bounds are asked for new names only, so known agents are never refused by them.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable

from netchecker_exporter.errors import AgentLimitError
from netchecker_exporter.report import AgentReport
from netchecker_exporter.store.metrics_budget import MetricsBudget, Records

REFRESH_SECONDS = 1.0
"""How often the listed names and the unlisted count are recomputed (O(agents)) under a flood."""

ListedNames = Callable[[], Iterable[str] | None]
"""The names the pod source lists, or None while it has not loaded a list (API unreachable since
start-up): every agent then counts against -max-agents alone, as with no pod source."""


class AgentCapacity:
    """With no pod list (`listed` None, or answering None) every agent counts against `max_agents`.
    With one, listed pods count against `max_agents` and the others against `max_unlisted` alone:
    the watch may lag a new pod by a second, so its first reports are kept, but made-up names
    cannot take its slot."""

    def __init__(
        self,
        *,
        max_agents: int,
        max_unlisted: int = 0,
        listed: ListedNames | None = None,
        budget: MetricsBudget | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_agents = max_agents
        self.budget = budget
        self._max_unlisted = max_unlisted
        self._listed_source = listed
        self._monotonic = monotonic
        self._listed: frozenset[str] | None = None
        self._unlisted = 0
        self._refreshed = -REFRESH_SECONDS
        self._lock = threading.Lock()

    def admit_report(
        self,
        report: AgentReport,
        *,
        known: bool,
        count: int,
        names: Callable[[], Iterable[str]],
        records: Records | None = None,
    ) -> None:
        """May `report` be stored, `count` agents (`names`) being stored now? Raise AgentLimitError
        (or MetricsBudgetError) if not, changing nothing. `known`: the agent has a live record.
        `records`: the store's records, for a budget that must recount them (etcd)."""
        admit_name = None if known else functools.partial(self.admit, report.podname, count, names)
        if self.budget is not None:
            self.budget.admit(report, admit_name, recount=records)
        elif admit_name is not None:
            admit_name()

    def release(self, names: Iterable[str]) -> None:
        """These agents' records went away: their share of the budget is free again."""
        if self.budget is not None:
            self.budget.release(names)

    def admit(self, name: str, count: int, names: Callable[[], Iterable[str]]) -> None:
        """May the new agent `name` join the `count` stored ones (`names`)? Raise AgentLimitError if not."""
        if self._listed_source is None:
            return self._admit_against_max_agents(count)
        with self._lock:
            self._refresh(names)
            if self._listed is None:
                return self._admit_against_max_agents(count)
            if name in self._listed:
                if count - self._unlisted >= self.max_agents:
                    raise _limit_error("max-agents", self.max_agents, "listed agents", "agent_limit")
                return
            if self._unlisted >= self._max_unlisted:
                limit = self._max_unlisted
                raise _limit_error("max-unlisted-agents", limit, "unlisted agents", "unlisted_limit")
            self._unlisted += 1

    def _admit_against_max_agents(self, count: int) -> None:
        if count >= self.max_agents:
            raise _limit_error("max-agents", self.max_agents, "agents", "agent_limit")

    def _refresh(self, names: Callable[[], Iterable[str]]) -> None:
        now = self._monotonic()
        if now - self._refreshed < REFRESH_SECONDS or self._listed_source is None:
            return
        self._refreshed = now
        listed = self._listed_source()
        self._listed = None if listed is None else frozenset(listed)
        if self._listed is not None:
            self._unlisted = sum(1 for name in names() if name not in self._listed)


def _limit_error(flag: str, limit: int, what: str, reason: str) -> AgentLimitError:
    return AgentLimitError(
        f"{limit} {what} are stored (-{flag}): a new agent is refused until one expires",
        reason=reason,
    )
