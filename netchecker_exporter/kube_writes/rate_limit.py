"""Token buckets on an explicit clock: what bounds the writes to the Kubernetes API (docs/events.md).

Pure: the caller passes `now`, so tests drive time by hand.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    burst: int
    per_second: float


class TokenBucket:
    """Up to `burst` at once, then `per_second` on average."""

    def __init__(self, rate: Rate, now: float) -> None:
        self._rate = rate
        self._tokens = float(rate.burst)
        self._at = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._at)
        self._tokens = min(float(self._rate.burst), self._tokens + elapsed * self._rate.per_second)
        self._at = now

    def available(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= 1.0

    def take(self, now: float) -> bool:
        self._refill(now)
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def full(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= self._rate.burst


class KeyedBuckets:
    """One bucket per key (a node); full buckets are forgotten, so memory follows the busy keys."""

    def __init__(self, rate: Rate) -> None:
        self._rate = rate
        self._buckets: dict[str, TokenBucket] = {}

    def available(self, key: str, now: float) -> bool:
        bucket = self._buckets.get(key)
        return bucket is None or bucket.available(now)

    def take(self, key: str, now: float) -> bool:
        bucket = self._buckets.setdefault(key, TokenBucket(self._rate, now))
        return bucket.take(now)

    def forget_full(self, now: float) -> None:
        for key in [k for k, bucket in self._buckets.items() if bucket.full(now)]:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
