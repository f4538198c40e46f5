"""Counted budgets the front holds across all connections: bytes in flight and heavy reads.

Loop-only (no lock): the RSGI handler reserves and releases on granian's event loop.
"""

from __future__ import annotations


class CountBudget:
    """At most `limit` units held at once; a reservation that does not fit is refused, not queued."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def try_reserve(self, units: int) -> bool:
        if units and self.held + units > self.limit:
            return False
        self.held += units
        return True

    def release(self, units: int) -> None:
        self.held -= units
