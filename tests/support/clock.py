"""A clock that only moves when a test says so (we patch only the clock)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeClock:
    """Epoch seconds that only move when a test says so."""

    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
