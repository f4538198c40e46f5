"""Long loops over the fleet, cut into slices that give the GIL back between them.

A full pass (150-200 ms at 10,000 agents) or the write of thousands of agents' lines is pure
Python: the switch interval hands the GIL over every millisecond (tuning.py), but the front's
threads need it again after every blocking call and queue behind the loop at each one, so a
request that came during a pass waited for most of it (steady-fleet p99 85 ms on the memory
store). A loop that calls its GilSlices once per item sleeps briefly once it has run a slice:
the other threads then run without contention, and no single step holds the GIL for more than
a few milliseconds. NO_PAUSE is for callers with no one to make room for (tests, one-shot tools).
"""

from __future__ import annotations

import time
from collections.abc import Callable

SLICE_SECONDS = 0.002
"""How long a loop runs before it makes room: 'a few ms' at most between the front's turns."""
PAUSE_SECONDS = 0.0005
"""How long it then sleeps: long enough for a waiting thread to take the GIL and serve a request
part (a sleep(0) is often back before a woken thread runs), short enough that a 200 ms pass
stretches by a quarter at most."""


class GilSlices:
    """Called once per item of a long loop: sleeps PAUSE_SECONDS after each SLICE_SECONDS of work."""

    __slots__ = ("_clock", "_pause", "_sleep", "_slice", "_slice_end")

    def __init__(
        self,
        slice_seconds: float = SLICE_SECONDS,
        pause_seconds: float = PAUSE_SECONDS,
        *,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._slice = slice_seconds
        self._pause = pause_seconds
        self._clock = clock
        self._sleep = sleep
        self._slice_end = clock() + slice_seconds

    def __call__(self) -> None:
        now = self._clock()
        if now >= self._slice_end:
            self._sleep(self._pause)
            self._slice_end = self._clock() + self._slice


Pause = Callable[[], None]
"""What a long loop calls once per item (a GilSlices, or NO_PAUSE)."""


def release_in_slices(items: list[object], pause: Pause) -> None:
    """Empty `items` one at a time, pausing after each: the caller's only reference to a big
    structure's parts. Dropped at once, the structure is freed in one step of reference counting
    that never gives the GIL back (the last pass's diagnosis at 5,000 nodes: about 50 ms)."""
    while items:
        items.pop()
        pause()


def NO_PAUSE() -> None:
    """A loop with no one to make room for."""
