"""When to compact etcd's history: every interval, up to the revision seen one interval earlier.

Every report is a new revision of a ~1 KB value and etcd 3.4 keeps all of them until someone
compacts (its auto-compaction is off by default), so an uncompacted etcd reaches its 2 GiB quota
and refuses writes. Like kube-apiserver, we keep at least one interval of history. Pure.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class CompactionSchedule:
    def __init__(self, interval_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval_seconds
        self._clock = clock
        self._mark: tuple[float, int] | None = None

    def due(self, current_revision: int) -> int | None:
        """The revision to compact up to now, or None; call with the store's current revision."""
        now = self._clock()
        if self._mark is None:
            self._mark = (now, current_revision)
            return None
        marked_at, revision = self._mark
        if now - marked_at < self._interval:
            return None
        self._mark = (now, current_revision)
        return revision if revision > 1 else None
