"""Stopping on SIGTERM and SIGINT without running anything that takes a lock in a signal handler.

A Python signal handler runs in the main thread between two bytecodes, possibly in the middle of
the previous signal's handler: a handler that called threading.Event.set() (whose lock is not
reentrant) could deadlock on a burst of signals. Here the Python handler does nothing; the
interpreter's C handler writes the signal number into a pipe (signal.set_wakeup_fd), and a watcher
thread reads it and sets the stop Event, outside any handler.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopOnSignals:
    """Sets `stop` when one of `signals` arrives, however many arrive and whenever they do."""

    def __init__(self, stop: threading.Event, signals: Iterable[signal.Signals] = STOP_SIGNALS) -> None:
        self._stop = stop
        self._signals = tuple(signals)
        self._read_fd = -1

    def install(self) -> None:
        """Call from the main thread (signal.signal demands it), before anything may be signalled."""
        self._read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        for signum in self._signals:
            signal.signal(signum, _do_nothing)
        # A burst larger than the pipe drops the extra bytes: one is enough to stop.
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        threading.Thread(target=self._watch, name="stop-signals", daemon=True).start()

    def ignore_further(self) -> None:
        """Once stopped: later signals are ignored, so none can kill the process while it exits
        (the interpreter resets Python handlers to the default, killing, action as it finalizes)."""
        for signum in self._signals:
            signal.signal(signum, signal.SIG_IGN)

    def _watch(self) -> None:
        wanted = {int(signum) for signum in self._signals}
        while True:
            select.select([self._read_fd], [], [])
            try:
                received = os.read(self._read_fd, 512)
            except BlockingIOError:
                continue
            names = sorted({signal.Signals(n).name for n in received if n in wanted})
            if names and not self._stop.is_set():  # once: a burst is one request to stop
                log.info("received %s: stopping", ", ".join(names))
                self._stop.set()


def stop_after_delay(
    signalled: threading.Event, stop: threading.Event, leave: Callable[[], None], delay_seconds: float
) -> None:
    """On a stop signal: with a delay, leave the Service (readiness 503) and keep serving for it,
    because Kubernetes removes a terminating pod's endpoint while it already has SIGTERM; then stop.
    Runs on a thread of its own; returns once `stop` is set."""
    signalled.wait()
    if delay_seconds > 0 and not stop.is_set():
        leave()
        log.info("readiness is 503 now; serving %g s more before stopping (-shutdown-delay)", delay_seconds)
        stop.wait(delay_seconds)
    stop.set()


def _do_nothing(_signum: int, _frame: FrameType | None) -> None:
    """The Python-level handler: its presence stops the default action, the pipe does the rest."""
