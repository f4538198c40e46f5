"""HandoffPool: results and errors come back to the awaiting coroutine, one wake-up per batch."""

from __future__ import annotations

import asyncio
import threading
import time
import weakref

import pytest

from netchecker_exporter.http.loop_handoff import HandoffPool
from tests.support.polling import wait_until


class CountingPool(HandoffPool):
    def __init__(self, threads: int) -> None:
        super().__init__(threads, name="test")
        self.wakes = 0

    def _wake(self, loop: asyncio.AbstractEventLoop) -> None:
        self.wakes += 1
        super()._wake(loop)


def test_results_and_exceptions_reach_the_awaiting_coroutine() -> None:
    pool = HandoffPool(2, name="test")

    def fail() -> None:
        raise ValueError("from the worker")

    async def main() -> tuple[str, str]:
        name = await pool.run(lambda: threading.current_thread().name)
        with pytest.raises(ValueError, match="from the worker"):
            await pool.run(fail)
        return name, await pool.run(str.upper, "x")

    try:
        worker, upper = asyncio.run(main())
    finally:
        pool.shutdown()
    assert worker.startswith("test_")
    assert upper == "X"


def test_calls_that_finish_while_the_loop_is_busy_share_one_wake_up() -> None:
    pool = CountingPool(4)
    calls = 200

    async def main() -> list[int]:
        tasks = [asyncio.ensure_future(pool.run(lambda i=i: i * 2)) for i in range(calls)]
        await asyncio.sleep(0)  # every task has queued its call
        deadline = time.monotonic() + 10
        while len(pool._finished) < calls and time.monotonic() < deadline:
            time.sleep(0.01)  # the loop is blocked, as under load: the workers finish meanwhile
        return list(await asyncio.gather(*tasks))

    try:
        results = asyncio.run(main())
    finally:
        pool.shutdown()
    assert results == [i * 2 for i in range(calls)]
    assert pool.wakes == 1


def test_a_steady_stream_of_calls_all_settle() -> None:
    pool = HandoffPool(8, name="test")

    async def main() -> int:
        done = 0
        for _ in range(20):
            done += len(await asyncio.gather(*(pool.run(time.sleep, 0.001) for _ in range(50))))
        return done

    try:
        assert asyncio.run(main()) == 1000
    finally:
        pool.shutdown()


def test_submitted_calls_run_unawaited_and_a_failing_one_does_not_stop_its_worker() -> None:
    pool = HandoffPool(1, name="test")
    ran = threading.Event()

    def fail() -> None:
        raise ValueError("nobody awaits this")

    try:
        pool.submit(fail)
        pool.submit(ran.set)
        assert ran.wait(5)
    finally:
        pool.shutdown()


def test_an_idle_worker_keeps_no_reference_to_the_last_call() -> None:
    pool = HandoffPool(1, name="test")

    class Request:
        pass

    request, done = Request(), threading.Event()
    alive = weakref.ref(request)
    try:
        pool.submit(lambda _request: done.set(), request)
        assert done.wait(5)
        del request
        wait_until(lambda: alive() is None, 5, "the finished call's arguments to be freed")
    finally:
        pool.shutdown()
