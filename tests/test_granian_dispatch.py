"""DirectLoop: InPlace callbacks run on the thread that schedules them; every other one on the loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from netchecker_exporter.http.granian_dispatch import DirectLoop, InPlace


class Recorder(InPlace):
    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls: list[tuple[Any, str]] = []

    def __call__(self, future: Any) -> None:
        self.calls.append((future, threading.current_thread().name))


def test_in_place_callbacks_run_at_once_where_scheduled_and_others_on_the_loop() -> None:
    recorder = Recorder()
    on_loop: list[str] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()

        def from_another_thread() -> None:
            assert loop.call_soon_threadsafe(recorder, "body") is None
            loop.call_soon_threadsafe(lambda: on_loop.append(threading.current_thread().name))

        worker = threading.Thread(target=from_another_thread, name="granian-like")
        worker.start()
        worker.join()
        assert recorder.calls == [("body", "granian-like")]  # before the loop ran anything
        assert on_loop == []
        loop.call_soon(recorder, "cancelled")
        assert recorder.calls[-1] == ("cancelled", threading.current_thread().name)
        await asyncio.sleep(0.01)

    with asyncio.Runner(loop_factory=DirectLoop) as runner:
        runner.run(scenario())
    assert on_loop == ["MainThread"]
