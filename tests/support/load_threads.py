"""Threads that each repeat one task until stopped (load while a fault is injected), and the longest
stretch between the moments they succeeded."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable
from typing import Self


class LoopThreads:
    """`count` threads, each calling `task(index)` until stop(); the task paces itself."""

    def __init__(self, count: int, task: Callable[[int], None], *, name: str = "load") -> None:
        self.stopping = threading.Event()
        self._task = task
        self._threads = [
            threading.Thread(target=self._loop, args=(i,), name=f"{name}-{i}", daemon=True)
            for i in range(count)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_seconds: float = 30) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout=timeout_seconds)

    def _loop(self, index: int) -> None:
        while not self.stopping.is_set():
            self._task(index)


class PostingFleet:
    """One thread per agent, each calling `_post(index)` until stop(); a subclass posts and paces."""

    def __init__(self, agents: int) -> None:
        self._threads = LoopThreads(agents, self._post, name="agent")

    def start(self) -> Self:
        self._threads.start()
        return self

    def stop(self) -> None:
        self._threads.stop(timeout_seconds=15)

    def _post(self, index: int) -> None:
        raise NotImplementedError


def longest_gap_seconds(
    times: Iterable[float], since: float | None = None, until: float | None = None
) -> float:
    """The longest stretch without a success: between successive `times`, and from `since` to the
    first and from the last to `until` where those are given."""
    inside = sorted(t for t in times if (since is None or t >= since) and (until is None or t <= until))
    edges = [*([since] if since is not None else []), *inside, *([until] if until is not None else [])]
    return max((b - a for a, b in itertools.pairwise(edges)), default=0.0)
