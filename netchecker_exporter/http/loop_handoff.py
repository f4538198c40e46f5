"""Thread pools that hand their results back to the asyncio loop with one wake-up per batch.

asyncio's run_in_executor wakes the loop through its self-pipe for every finished call (a send()
and an epoll round trip in the loop), and builds a concurrent Future chained to an asyncio one;
with one report per call that was a tenth of the server's samples under ingest (BENCHMARKS.md).
Here a finished call joins a deque, and only the first one after the loop last drained it writes
the wake-up: under load one wake-up settles many requests.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
_Args = tuple[Any, ...]
_Job = tuple["asyncio.Future[Any] | None", Callable[..., Any], _Args]


class HandoffPool:
    """A fixed set of worker threads for calls awaited on one event loop."""

    def __init__(self, threads: int, *, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._finished: collections.deque[tuple[asyncio.Future[Any], Any, BaseException | None]]
        self._finished = collections.deque()
        self._wake_pending = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{index}", daemon=True)
            for index in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        """`call(*args)` on a worker thread; its result, or its exception raised here."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put((future, call, args))
        return await future

    def submit(self, call: Callable[..., object], *args: Any) -> None:
        """`call(*args)` on a worker thread, from any thread, with nothing awaiting it: the call
        answers its request itself (direct_post). An exception it lets out is logged."""
        self._jobs.put((None, call, args))

    def shutdown(self) -> None:
        """Let the workers end once the queued calls are done (they are daemons: exit never waits)."""
        for _ in self._threads:
            self._jobs.put(None)

    def _work(self) -> None:
        jobs = self._jobs
        while (job := jobs.get()) is not None:
            self._run(*job)
            del job  # an idle worker must not keep the last call's request (its body, its connection)

    def _run(self, future: asyncio.Future[Any] | None, call: Callable[..., Any], args: _Args) -> None:
        if future is None:
            _run_unawaited(call, args)
            return
        try:
            outcome: tuple[Any, BaseException | None] = (call(*args), None)
        except BaseException as error:  # handed to the awaiting coroutine, as run_in_executor does
            outcome = (None, error)
        self._finished.append((future, *outcome))
        if not self._wake_pending:  # appended first, then checked: _drain clears before it pops
            self._wake_pending = True
            self._wake(future.get_loop())

    def _wake(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop has closed (shutting down): nobody awaits these any more
            log.debug("event loop closed; %d finished calls dropped", len(self._finished))

    def _drain(self) -> None:
        """On the loop: settle every finished call."""
        self._wake_pending = False
        while self._finished:
            future, result, error = self._finished.popleft()
            if future.cancelled():
                continue
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)


def _run_unawaited(call: Callable[..., object], args: tuple[Any, ...]) -> None:
    try:
        call(*args)
    except Exception:  # nobody awaits it: the worker must go on to the next call
        log.exception("call on a worker thread failed")
