"""Wait for a condition with a deadline instead of sleeping a guessed time (every suite uses this)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T | None],
    timeout_seconds: float = 5.0,
    what: str = "a condition",
    *,
    interval_seconds: float = 0.02,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll until `condition()` is truthy and return it; raise TimeoutError naming `what` at the deadline.

    Exceptions of the types in `ignoring` count as "not yet" (e.g. connection refused at start-up).
    """
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            result = condition()
        except ignoring:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_seconds}s waiting for {what}")
        time.sleep(interval_seconds)
