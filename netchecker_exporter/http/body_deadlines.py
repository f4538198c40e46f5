"""Bodies being received, by deadline: a sweep on the loop cancels the ones past theirs.

Every body has the same timeout, so deadlines arrive in order and an insertion-ordered map is a
queue: adding and removing one is O(1) and a sweep looks only at the expired ones. This replaces
an asyncio timer per request (a TimerHandle pushed on the loop's heap and cancelled again) for
the bodies received off the loop; a sweep every tenth of the timeout answers a late body within
110 % of it.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

SWEEPS_PER_TIMEOUT = 10


class BodyDeadlines:
    """Pending bodies and when each expires; safe from any thread."""

    def __init__(self, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self.sweep_every_seconds = timeout_seconds / SWEEPS_PER_TIMEOUT
        self._pending: collections.OrderedDict[object, tuple[float, Any]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, key: object, body: Any, now: float) -> None:
        """`body` (a future with cancel()) is awaited from `now`; it expires a timeout later."""
        with self._lock:
            self._pending[key] = (now + self.timeout_seconds, body)

    def discard(self, key: object) -> None:
        """The body came (or the request ended otherwise): it no longer expires."""
        with self._lock:
            self._pending.pop(key, None)

    def expired(self, now: float) -> list[Any]:
        """Remove and return the bodies whose deadline has passed, oldest first."""
        late = []
        with self._lock:
            pending = self._pending
            while pending:
                key = next(iter(pending))
                deadline, body = pending[key]
                if deadline > now:
                    break
                del pending[key]
                late.append(body)
        return late
