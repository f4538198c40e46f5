"""-max-metrics-bytes: a fleet-wide bound on the bytes of /metrics the stored agents can make.

Each report is bounded (probes, URL and name lengths) and -max-agents bounds the agents, but their
product is ~15 GB of /metrics. This ledger charges each agent the estimate of its lines
(metrics/export_estimate.py) when its report arrives and refuses a report that would take the total over
the budget; an agent's new report replaces its old share, so a known agent whose report does not
grow is never refused. Shares are released when records expire or are dropped.

Pure apart from a lock and a clock. The memory store releases what it drops; a store whose records
also change behind its back (etcd: other replicas, lease expiry) passes `recount`, and the ledger
is rebuilt from its records at most once a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping

from netchecker_exporter.errors import MetricsBudgetError
from netchecker_exporter.report import AgentRecord, AgentReport

RECOUNT_SECONDS = 1.0
FRESH_SECONDS = 10.0
"""A share charged this recently survives a recount that does not see its record yet: the write may
still be on its way to etcd (at most -ping-timeout), and must not be admitted twice over."""

Estimate = Callable[[AgentReport], int]
Records = Callable[[], Mapping[str, AgentRecord]]


class MetricsBudget:
    """The running total of the stored agents' estimated /metrics bytes, by agent."""

    def __init__(
        self, *, max_bytes: int, estimate: Estimate, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_bytes = max_bytes
        self._estimate = estimate
        self._monotonic = monotonic
        self._shares: dict[str, tuple[AgentReport, int]] = {}
        """Per agent: the report its share was estimated from (recounts skip unchanged ones), the share."""
        self._fresh: dict[str, float] = {}
        """Agents charged since the last recount, and when."""
        self._total = 0
        self._recounted = -RECOUNT_SECONDS
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        """Bytes charged to the stored agents now."""
        with self._lock:
            return self._total

    def admit(
        self, report: AgentReport, then: Callable[[], None] | None = None, *, recount: Records | None = None
    ) -> None:
        """Charge `report`'s agent its share, replacing its previous one, or raise MetricsBudgetError
        and change nothing. `then` runs first, under the lock (the agent bounds of a new name): if it
        raises, nothing is charged either."""
        share = self._estimate(report)
        name = report.podname
        with self._lock:
            if recount is not None:
                self._recount(recount)
            previous = self._shares.get(name)
            old = previous[1] if previous is not None else 0
            if share > old and self._total - old + share > self.max_bytes:
                raise _budget_error(self._total - old, share, self.max_bytes)
            if then is not None:
                then()
            self._shares[name] = (report, share)
            self._fresh[name] = self._monotonic()
            self._total += share - old

    def release(self, names: Iterable[str]) -> None:
        """The records of `names` went away (expired, dropped): their shares are free again."""
        with self._lock:
            for name in names:
                previous = self._shares.pop(name, None)
                self._fresh.pop(name, None)
                if previous is not None:
                    self._total -= previous[1]

    def _recount(self, records: Records) -> None:
        """Shares from the records as they are now (a share is estimated again only when its record
        changed), plus those charged in the last FRESH_SECONDS whose record is not seen yet."""
        now = self._monotonic()
        if now - self._recounted < RECOUNT_SECONDS:
            return
        self._recounted = now
        self._fresh = {n: at for n, at in self._fresh.items() if now - at < FRESH_SECONDS}
        shares: dict[str, tuple[AgentReport, int]] = {}
        for name, record in records().items():
            known = self._shares.get(name)
            fresh = known is not None and (name in self._fresh or known[0] is record.report)
            shares[name] = known if known is not None and fresh else self._charge(record.report)
        shares.update({n: self._shares[n] for n in self._fresh if n not in shares and n in self._shares})
        self._shares = shares
        self._total = sum(share for _report, share in shares.values())

    def _charge(self, report: AgentReport) -> tuple[AgentReport, int]:
        return report, self._estimate(report)


def _budget_error(others: int, share: int, limit: int) -> MetricsBudgetError:
    return MetricsBudgetError(
        f"the stored agents' series are estimated at {others} bytes of /metrics and this report's at "
        f"{share}: over the {limit} bytes of -max-metrics-bytes, refused until records expire",
    )
