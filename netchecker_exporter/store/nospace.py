"""When to recover from etcd's NOSPACE alarm by ourselves: compact, defragment, then disarm.

etcd raises NOSPACE when its database reaches --quota-backend-bytes, and then refuses every
write until someone disarms the alarm, even after the records that filled it have expired
(issue 23: only a manual compact, defrag and disarm brought ingest back). Once the alarm is
seen, the keeper compacts all history and defragments (which gives the freed pages back to the
file), at most once per RETRY_SECONDS since defragmenting blocks the member while it runs; it
disarms once the database is back under FREE_FRACTION of the size it had when the alarm was
first seen (the quota, as near as a client can learn it: etcd's Status does not report it).
Pure apart from the clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable

RETRY_SECONDS = 30.0
"""Between attempts while the alarm stays: records expire meanwhile, and a defragmentation of a
GiB-sized database blocks its member for seconds."""
FREE_FRACTION = 0.8
"""Disarm only with a fifth of the quota free, so the first writes do not raise it again at once."""


class NoSpaceRecovery:
    def __init__(
        self, *, retry_seconds: float = RETRY_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._retry = retry_seconds
        self._clock = clock
        self._full_bytes: int | None = None
        self._last_attempt = float("-inf")

    def due(self, *, alarmed: bool, db_size_bytes: int) -> bool:
        """Whether to compact and defragment now; call on every keeper pass with etcd's Status."""
        if not alarmed:
            self._full_bytes = None
            self._last_attempt = float("-inf")
            return False
        if self._full_bytes is None:
            self._full_bytes = db_size_bytes
        now = self._clock()
        if now - self._last_attempt < self._retry:
            return False
        self._last_attempt = now
        return True

    def may_disarm(self, db_size_bytes: int) -> bool:
        """After a defragmentation: whether the database is small enough to disarm the alarm."""
        return self._full_bytes is not None and db_size_bytes < FREE_FRACTION * self._full_bytes

    @property
    def full_bytes(self) -> int | None:
        """The database size when the alarm was first seen (None: no alarm)."""
        return self._full_bytes
