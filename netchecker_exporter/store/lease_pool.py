"""Which lease a key is written with: a small pool per time bucket, granted ahead of need.

etcd 3.4 slows down attaching keys to a lease that already holds many, so keys are spread
over `slots` leases per bucket (by a hash of the pod name). A lease for bucket b expires at
(b + 1) * width + ttl, so a key written during the bucket lives at least `ttl` seconds and at
most `ttl + width`. Pure: the caller passes the function that grants a lease.
"""

from __future__ import annotations

import math
import threading
import zlib
from collections.abc import Callable

GrantFunction = Callable[[int], int]
"""grant(ttl_seconds) -> lease id"""

DEFAULT_SLOTS = 16


def bucket_width_seconds(ttl_seconds: int) -> int:
    """5 % of the TTL, at least 1 s and at most 15 s: how long a key may outlive its TTL."""
    return max(1, min(15, ttl_seconds // 20))


class LeasePool:
    def __init__(self, *, ttl_seconds: int, clock: Callable[[], float], slots: int = DEFAULT_SLOTS) -> None:
        self.ttl_seconds = ttl_seconds
        self.width_seconds = bucket_width_seconds(ttl_seconds)
        self._clock = clock
        self._slots = slots
        self._leases: dict[tuple[int, int], int] = {}
        self._lock = threading.Lock()

    def lease_for(self, podname: str, grant: GrantFunction) -> int:
        """The lease to write `podname` with now, granting it if it was not prepared."""
        key = (self._bucket(self._clock()), zlib.crc32(podname.encode()) % self._slots)
        with self._lock:
            lease = self._leases.get(key)
        return lease if lease is not None else self._grant(key, grant)

    def prepare(self, grant: GrantFunction) -> int:
        """Grant the missing leases of the current and the next bucket; return how many."""
        current = self._bucket(self._clock())
        self._forget_before(current)
        wanted = [(bucket, slot) for bucket in (current, current + 1) for slot in range(self._slots)]
        with self._lock:
            missing = [key for key in wanted if key not in self._leases]
        for key in missing:
            self._grant(key, grant)
        return len(missing)

    def forget(self) -> None:
        """Drop every known lease (etcd lost them, e.g. its data was wiped)."""
        with self._lock:
            self._leases.clear()

    def _grant(self, key: tuple[int, int], grant: GrantFunction) -> int:
        bucket_end = (key[0] + 1) * self.width_seconds
        # Measured from before the request: etcd starts the TTL later, so keys never die early.
        ttl = math.ceil(bucket_end + self.ttl_seconds - self._clock())
        lease = grant(ttl)
        with self._lock:
            return self._leases.setdefault(key, lease)

    def _bucket(self, now: float) -> int:
        return math.floor(now / self.width_seconds)

    def _forget_before(self, bucket: int) -> None:
        with self._lock:
            for key in [k for k in self._leases if k[0] < bucket]:
                del self._leases[key]
