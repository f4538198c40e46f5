"""When to recover from etcd's NOSPACE alarm by ourselves: compact, defragment, then disarm.

etcd raises NOSPACE when its database reaches --quota-backend-bytes, and then refuses every
write until someone disarms the alarm, even after the records that filled it have expired
(docs/budgets.md#nospace-the-store-recovers-by-itself). Once the alarm is
seen, the keeper compacts all history and defragments (which gives the freed pages back to the
file), at most once per RETRY_SECONDS since defragmenting blocks the member while it runs, and
only when it can help; it disarms once the file is well under the quota.

Whether it can help: etcd 3.4's figure of the data in use (dbSizeInUse) is taken at the start of
each write transaction, while the pages the previous one freed are still pending in bbolt, so after
a compaction it counts what the compaction freed until the next commit (3.6's did not lag in the
same test). Under NOSPACE there may be
no next commit (once every lease has expired, nothing writes), and the figure stays high for good.
So a defragmentation runs when that figure is under the mark, or else once per compacted
revision: the revision moves only when records are deleted, so this costs one defragmentation
per wave of expiries, and a defragmentation's result is the one measure that cannot lag.
etcd 3.6 reports its quota in Status; an older member does not, and the size of its database
when the alarm was first seen stands in for it (it overshoots the quota by the writes that
crossed it and bbolt's growth step: up to 1.4x on a 4 MiB quota), with a wider margin. Pure apart
from the clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable

RETRY_SECONDS = 30.0
"""Between attempts while the alarm stays: records expire meanwhile, and a defragmentation of a
GiB-sized database blocks its member for seconds."""
FREE_FRACTION = 0.8
"""Disarm only with a fifth of the quota free, so the first writes do not raise it again at once."""
FREE_FRACTION_OF_SIZE_SEEN = 0.5
"""The same, when the quota is not reported and the size that raised the alarm stands in for it."""


class NoSpaceRecovery:
    def __init__(
        self, *, retry_seconds: float = RETRY_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._retry = retry_seconds
        self._clock = clock
        self._full_bytes: int | None = None
        self._fraction = FREE_FRACTION
        self._last_attempt = float("-inf")
        self._measured_revision: int | None = None

    def due(self, *, alarmed: bool, db_size_bytes: int, quota_bytes: int = 0) -> bool:
        """Whether to compact and defragment now; call on every keeper pass with etcd's Status
        (`quota_bytes` 0: not reported)."""
        if not alarmed:
            self._full_bytes = None
            self._last_attempt = float("-inf")
            self._measured_revision = None
            return False
        if quota_bytes > 0:
            self._full_bytes, self._fraction = quota_bytes, FREE_FRACTION
        elif self._full_bytes is None:
            self._full_bytes, self._fraction = db_size_bytes, FREE_FRACTION_OF_SIZE_SEEN
        now = self._clock()
        if now - self._last_attempt < self._retry:
            return False
        self._last_attempt = now
        return True

    def may_defragment(self, *, in_use_bytes: int, compacted_revision: int) -> bool:
        """Whether to defragment after compacting history up to `compacted_revision`, with
        `in_use_bytes` etcd's figure of the data in use then (it may lag: see the module's note)."""
        return self.may_disarm(in_use_bytes) or compacted_revision != self._measured_revision

    def defragmented(self, compacted_revision: int) -> None:
        """A defragmentation measured the database with history compacted up to `compacted_revision`."""
        self._measured_revision = compacted_revision

    def may_disarm(self, db_size_bytes: int) -> bool:
        """Whether `db_size_bytes` (in use after compaction, or the file after defragmentation)
        is far enough under the quota to disarm the alarm."""
        return self._full_bytes is not None and db_size_bytes < self._fraction * self._full_bytes

    def threshold_bytes(self) -> int:
        """Under how many bytes the database must be to disarm (0: no alarm)."""
        return int(self._fraction * self._full_bytes) if self._full_bytes is not None else 0
