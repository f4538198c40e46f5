"""Which refusals are worth a log line: the first few per client and reason in each interval, then
one summary line per interval with the counts of those left out (the most refused named).

Pure (the clock is passed in). One line per refusal would let a client write our log at the rate
it can POST (docs/budgets.md#refusals-are-logged-at-a-bounded-rate); the counters stay exact.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

FIRST_PER_KEY = 5
INTERVAL_SECONDS = 60.0
SUMMARY_KEYS = 5
"""Keys named in the summary line, the most refused first; the rest are summed up."""
MAX_KEYS = 1_000
"""Clients remembered per interval; beyond them, new ones share one key per reason (so made-up
addresses cannot grow memory)."""
OVERFLOW_CLIENT = "other clients"
RefusalKey = tuple[str, str]
"""(client address, refusal reason)."""


@dataclass(frozen=True, slots=True)
class LogDecision:
    log_this: bool
    """Write this refusal's own line."""
    left_out: dict[RefusalKey, int] | None
    """The interval just ended: how many refusals per key were not logged (None: not ended yet)."""


class RefusalLogLimiter:
    """Counts refusals per key in fixed intervals; thread-safe."""

    def __init__(
        self,
        *,
        first_per_key: int = FIRST_PER_KEY,
        interval_seconds: float = INTERVAL_SECONDS,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._first = first_per_key
        self._interval = interval_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._started = clock()
        self._seen: Counter[RefusalKey] = Counter()
        self._left_out: Counter[RefusalKey] = Counter()
        self._lock = threading.Lock()

    def decide(self, key: RefusalKey) -> LogDecision:
        """Count one refusal under `key` and say whether to log it (and the last interval's summary)."""
        with self._lock:
            ended = self._end_interval_if_due()
            if key not in self._seen and len(self._seen) >= self._max_keys:
                key = (OVERFLOW_CLIENT, key[1])
            self._seen[key] += 1
            log_this = self._seen[key] <= self._first
            if not log_this:
                self._left_out[key] += 1
            return LogDecision(log_this, ended)

    def _end_interval_if_due(self) -> dict[RefusalKey, int] | None:
        now = self._clock()
        if now - self._started < self._interval:
            return None
        ended = dict(self._left_out)
        self._started, self._seen, self._left_out = now, Counter(), Counter()
        return ended or None


def summarize_left_out(left_out: dict[RefusalKey, int]) -> str:
    """One line: the total, the most refused keys with their counts, and how many keys more."""
    ranked = sorted(left_out.items(), key=lambda item: (-item[1], item[0]))
    named = ", ".join(
        f"{count} from {client or '?'} ({reason})" for (client, reason), count in ranked[:SUMMARY_KEYS]
    )
    more = len(ranked) - SUMMARY_KEYS
    return f"{sum(left_out.values())} in all: {named}" + (
        f" and {more} more clients or reasons" if more > 0 else ""
    )
