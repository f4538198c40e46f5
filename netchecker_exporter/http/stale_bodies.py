"""Readers still sending a shared body long after a newer one replaced it are cut off.

A piped response keeps its body alive (piped_response), and /metrics is a new 56 MB body per
Snapshot at 10,000 agents: readers that each started on a different Snapshot and then read at
1 KB/s would keep one body each, for hours. So once a newer body of the same kind (path, type,
encoding) has been handed out, readers of the older one have `grace_seconds` to finish; then their
responses are ended short and their connections closed (docs/limits.md, Responses).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable

STALE_BODY_GRACE_SECONDS = 15.0
"""Longer than Prometheus' default scrape timeout (10 s): a scrape that began just before the
Snapshot changed still ends in time. With a Snapshot every -check-interval (10 s), readers keep at
most the current body and those of the last 15 s alive."""


class StaleBodies:
    """Loop-only: which bodies piped responses are reading, and the cut of outdated ones' readers."""

    def __init__(self, grace_seconds: float = STALE_BODY_GRACE_SECONDS) -> None:
        self._grace = grace_seconds
        self._newest: dict[Hashable, int] = {}
        self._readers: dict[int, set[Callable[[], None]]] = {}
        self.cut = 0
        """Responses cut so far (the front counts them as refusals)."""

    def reading(self, kind: Hashable, body: object, cut: Callable[[], None]) -> Callable[[], None]:
        """A response of `kind` starts sending `body`; `cut` ends it early. Returns its `done`."""
        identity = id(body)  # alive while a reader holds it, which is all that is compared
        previous = self._newest.get(kind)
        if previous != identity:
            self._newest[kind] = identity
            if previous in self._readers:
                asyncio.get_running_loop().call_later(self._grace, self._cut_readers, kind, previous)
        self._readers.setdefault(identity, set()).add(cut)

        def done() -> None:
            readers = self._readers.get(identity)
            if readers is not None:
                readers.discard(cut)
                if not readers:
                    del self._readers[identity]

        return done

    def _cut_readers(self, kind: Hashable, identity: int) -> None:
        # Handed out anew as this kind's newest since (an id reused): not stale. Only this kind's:
        # another kind's newest may be a body freed since, whose id this live one now has.
        if self._newest.get(kind) == identity:
            return
        for cut in tuple(self._readers.pop(identity, ())):
            self.cut += 1
            cut()
