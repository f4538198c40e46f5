"""The one open HTTP response of the watch thread, held so close() can cut a read in progress."""

from __future__ import annotations

import contextlib
import threading
from typing import Any


class OpenResponse:
    """Swaps the open response; once closing, a new one is cut at once so no read can block."""

    def __init__(self, closing: threading.Event) -> None:
        self._closing = closing
        self._lock = threading.Lock()
        self._response: Any = None

    def set(self, response: Any, *, shutdown_previous: bool = False) -> None:
        with self._lock:
            previous, self._response = self._response, response
            if response is not None and self._closing.is_set():
                self._response = None
                discard(response, shutdown=True)
        if previous is not None:
            discard(previous, shutdown=shutdown_previous)


def discard(response: Any, *, shutdown: bool) -> None:
    if shutdown:
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            response.shutdown()  # unblocks a read in progress on the watch thread
    response.close()
    response.release_conn()
