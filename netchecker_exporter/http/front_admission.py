"""What the front lets a request hold, across all clients, and the fast refusal beyond each budget.

Budgets (docs/limits.md): connections in total and per source address, bytes of
request bodies in flight (reserved by the declared length before a byte is read) and of responses
being handed to granian, and heavy reads (the multi-megabyte renders) at once. A refusal is a 503
with a JSON message naming the flag, and the connection is closed where keeping it would keep the
held bytes. Refusals are counted by budget and logged at most once per interval per budget.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from netchecker_exporter.http.byte_budget import CountBudget
from netchecker_exporter.http.connection_ledger import Admission, ConnectionLedger, LedgerLimits
from netchecker_exporter.settings import FrontLimitSettings

log = logging.getLogger(__name__)

HEAVY_PATHS = frozenset({"/metrics", "/api/v1/agents", "/api/v1/agents/", "/api/v1/diagnosis", "/"})
"""GETs whose answer is megabytes at 10,000 agents (and a render on a read thread)."""
BUDGETS = ("connections", "connections_per_client", "inflight_bytes", "heavy_reads", "stale_body")
LOG_INTERVAL_SECONDS = 10.0
IDLE_SECONDS = 5.0
"""The front passes granian's header-read timeout, which also ends idle keep-alive connections."""
CLIENT_BYTE_SHARE = 0.25
"""Of -max-inflight-bytes, what one source address may hold: an attacker's half-sent bodies leave
three quarters to the agents (16 MiB of the default 64: 4,500 reports at once from one address)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    budget: str
    status: int
    body: bytes
    close: bool
    retry_after_seconds: int = 1

    def headers(self) -> list[tuple[str, str]]:
        headers = [("content-type", "application/json"), ("retry-after", str(self.retry_after_seconds))]
        return [*headers, ("connection", "close")] if self.close else headers


class FrontMetrics:
    """netchecker_http_* : refusals by budget and what is held now."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.refused = Counter(
            "netchecker_http_refused",
            "Requests refused (503) or connections closed because a front budget was reached, by budget.",
            ["budget"],
            registry=registry,
        )
        for budget in BUDGETS:
            self.refused.labels(budget=budget)
        self.connections = Gauge(
            "netchecker_http_connections",
            "Client connections known to the front (seen within the idle timeout).",
            registry=registry,
        )
        self.inflight_bytes = Gauge(
            "netchecker_http_inflight_bytes",
            "Bytes held for requests and responses now: bodies being received (their declared length) "
            "and large responses being sent (what each holds until its last byte is handed over).",
            registry=registry,
        )
        self.heavy_reads = Gauge(
            "netchecker_http_heavy_reads", "Heavy reads (/metrics, listings, diagnosis, page) in progress.",
            registry=registry,
        )  # fmt: skip


class RefusalLog:
    """One warning per budget per interval, with how many were refused since the last one."""

    def __init__(self, clock: Callable[[], float], interval: float = LOG_INTERVAL_SECONDS) -> None:
        self._clock, self._interval = clock, interval
        self._last: dict[str, float] = {}
        self._since: dict[str, int] = {}

    def refused(self, refusal: Refusal, detail: str) -> None:
        now = self._clock()
        self._since[refusal.budget] = self._since.get(refusal.budget, 0) + 1
        if now - self._last.get(refusal.budget, -self._interval) < self._interval:
            return
        count, self._since[refusal.budget] = self._since[refusal.budget], 0
        self._last[refusal.budget] = now
        log.warning("front budget %s reached (%d refused since the last line): %s",
                    refusal.budget, count, detail)  # fmt: skip


def _refusal(budget: str, message: str, *, close: bool) -> Refusal:
    return Refusal(budget, 503, json.dumps({"error": message}).encode(), close)


class FrontAdmission:
    """The budgets of one front. Requests are admitted on granian's thread, on the event loop and
    on the ingest threads that answer them (granian_dispatch), so every method holds one lock."""

    def __init__(
        self,
        budgets: FrontLimitSettings,
        metrics: FrontMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.budgets = budgets
        self._clock = clock
        self._ledger = ConnectionLedger(
            LedgerLimits(budgets.max_connections, budgets.max_connections_per_client, idle_seconds)
        )
        self._bytes = CountBudget(budgets.max_inflight_bytes)
        self._bytes_by_host: dict[str, int] = {}
        self._client_share = max(1, int(budgets.max_inflight_bytes * CLIENT_BYTE_SHARE))
        self._heavy = CountBudget(budgets.max_heavy_reads)
        self._metrics = metrics
        self._log = RefusalLog(clock)
        self._lock = threading.Lock()
        if metrics is not None:  # read at scrape time: nothing to update per request
            metrics.connections.set_function(lambda: len(self._ledger))
            metrics.inflight_bytes.set_function(lambda: self._bytes.held)
            metrics.heavy_reads.set_function(lambda: self._heavy.held)

    @property
    def inflight_bytes(self) -> int:
        return self._bytes.held

    def connection(self, peer: str) -> Refusal | bool:
        """A request on `peer`'s connection: a refusal, or whether to close the connection after it."""
        with self._lock:
            admission = self._ledger.admit(peer, self._clock())
            budgets = self.budgets
            if admission is Admission.OVER_TOTAL:
                held = len(self._ledger)
                message = (
                    f"{held} connections are held (-max-connections {budgets.max_connections}): "
                    "this one is closed; retry shortly"
                )
                return self._refuse(_refusal("connections", message, close=True), f"{held} connections held")
            if admission is Admission.OVER_CLIENT:
                host = peer.rpartition(":")[0]
                message = (
                    f"client {host} holds {self._ledger.held_by(host)} connections "
                    f"(-max-connections-per-client {budgets.max_connections_per_client}): this one is closed"
                )
                refusal = _refusal("connections_per_client", message, close=True)
                return self._refuse(refusal, f"client {host} at its share")
            return admission is Admission.CLOSE_AFTER

    def connection_done(self, peer: str, *, closing: bool) -> None:
        """The request on `peer` was answered; a closing connection leaves the ledger."""
        with self._lock:
            if closing:
                self._ledger.closed(peer)
            else:
                self._ledger.touch(peer, self._clock())

    def reserve_bytes(self, size: int, host: str) -> Refusal | None:
        """Hold `size` bytes of a body about to be received from `host`, or refuse before any is read.

        One source address may hold at most CLIENT_BYTE_SHARE of the budget, so a client sending
        large bodies slowly cannot take the reports of every other agent with it."""
        with self._lock:
            return self._reserve(size, host, "a body of", close=True)

    def response_charge(self, size: int, host: str) -> int:
        """What sending a large response of `size` to `host` is charged: its size, but at most the
        client's share while it holds nothing else, so a body larger than the share (a big fleet's
        status page) still goes to each client one at a time rather than never."""
        with self._lock:
            return size if self._bytes_by_host.get(host) else min(size, self._client_share)

    def reserve_response_bytes(self, size: int, host: str) -> Refusal | None:
        """Hold what sending a large response to `host` keeps in memory until its last byte is
        handed over (piped_response), from the same budget and share as bodies; or refuse it."""
        with self._lock:
            return self._reserve(size, host, "a response holding", close=False)

    def _reserve(self, size: int, host: str, what: str, *, close: bool) -> Refusal | None:
        if not size:
            return None
        over = self._hold(size, host)
        if over is None:
            return None
        limit, share = self.budgets.max_inflight_bytes, self._client_share
        if over == "share":
            held_by_host = self._bytes_by_host.get(host, 0)
            message = (
                f"client {host} has {held_by_host} bytes of requests and responses in flight; {what} {size} "
                f"bytes would exceed its share ({share}) of -max-inflight-bytes {limit}; retry shortly"
            )
            refusal = _refusal("inflight_bytes", message, close=close)
            return self._refuse(refusal, f"client {host} at its share of {share} bytes")
        message = (
            f"{self._bytes.held} bytes of requests and responses are in flight; {what} {size} bytes "
            f"would exceed -max-inflight-bytes {limit}; retry shortly"
        )
        refusal = _refusal("inflight_bytes", message, close=close)
        return self._refuse(refusal, f"{self._bytes.held} of {limit} bytes held")

    def reserve_more_response_bytes(self, size: int, host: str) -> bool:
        """Hold `size` more for a response being sent (its pipe grown, piped_response), if the budget
        and the client's share have room; no refusal to count or log: the response goes on as it was."""
        with self._lock:
            return self._hold(size, host) is None

    def _hold(self, size: int, host: str) -> str | None:
        """Hold `size` for `host` (under the lock), or say what it would exceed: "share" or "total"."""
        held_by_host = self._bytes_by_host.get(host, 0)
        if held_by_host + size > self._client_share:
            return "share"
        if not self._bytes.try_reserve(size):
            return "total"
        self._bytes_by_host[host] = held_by_host + size
        return None

    def release_bytes(self, size: int, host: str) -> None:
        if not size:
            return
        with self._lock:
            self._bytes.release(size)
            left = self._bytes_by_host.pop(host, 0) - size
            if left > 0:
                self._bytes_by_host[host] = left

    def count_stale_cut(self) -> None:
        """A large response ended short: its reader was still on a body replaced long ago."""
        if self._metrics is not None:
            self._metrics.refused.labels(budget="stale_body").inc()

    def start_heavy_read(self) -> Refusal | None:
        with self._lock:
            if self._heavy.try_reserve(1):
                return None
            limit = self.budgets.max_heavy_reads
            message = (
                f"{limit} heavy reads (/metrics, /api/v1/agents/, /api/v1/diagnosis, the status page) are "
                f"in progress (-max-heavy-reads {limit}); retry shortly"
            )
            return self._refuse(_refusal("heavy_reads", message, close=False), f"{limit} in progress")

    def end_heavy_read(self) -> None:
        with self._lock:
            self._heavy.release(1)

    def _refuse(self, refusal: Refusal, detail: str) -> Refusal:
        if self._metrics is not None:
            self._metrics.refused.labels(budget=refusal.budget).inc()
        self._log.refused(refusal, detail)
        return refusal
