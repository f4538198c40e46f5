"""The pipe a large response goes through: every byte arrives, and no end of it outlives the answer
whether the reader takes it all, goes away halfway, or never opens it. The reader here is a thread
that opens the /proc path as granian does; the real granian is in test_shared_views_process.py."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netchecker_exporter.http import piped_response
from netchecker_exporter.http.piped_response import PipeOutcome, file_views, piece_views, send_piped
from netchecker_exporter.metrics.chunk_file import ChunkFile

BODY = bytes(range(256)) * 4096
"""1 MiB: many times a pipe's buffer."""


def open_descriptors() -> int:
    return len(list(Path("/proc/self/fd").iterdir()))


class ThreadReader:
    """granian's part: opens the response's file by its path, after `delay`, and reads it."""

    def __init__(
        self, *, delay: float = 0.0, stop_after: int | None = None, step: int = 131_072, pause: float = 0.0
    ) -> None:
        self.delay, self.stop_after, self.step, self.pause = delay, stop_after, step, pause
        self.received = bytearray()
        self.headers: list[tuple[str, str]] = []
        self._thread: threading.Thread | None = None

    def response_file(self, status: int, headers: list[tuple[str, str]], path: str) -> None:
        self.headers = headers
        self._thread = threading.Thread(target=self._read, args=(path,), daemon=True)
        self._thread.start()

    def _read(self, path: str) -> None:
        time.sleep(self.delay)
        with open(path, "rb") as file:
            while chunk := file.read(self.step):
                self.received += chunk
                time.sleep(self.pause)  # a slow client: the body outlasts the test's cut
                if self.stop_after is not None and len(self.received) >= self.stop_after:
                    return

    def join(self) -> None:
        assert self._thread is not None
        self._thread.join(timeout=30)


def send(reader: Any, pieces: Callable[[], Any]) -> PipeOutcome:
    return asyncio.run(send_piped(reader, 200, [("content-length", "1")], pieces()))


def test_every_part_arrives_in_order_and_both_ends_are_closed() -> None:
    before, reader = open_descriptors(), ThreadReader()
    parts = (BODY[:1000], b"", BODY[1000:], b"# EOF\n")
    assert send(reader, lambda: piece_views(parts)) is PipeOutcome.SENT
    reader.join()
    assert bytes(reader.received) == b"".join(parts)
    assert open_descriptors() == before


def test_a_file_body_arrives_whole_when_its_reader_opens_late() -> None:
    reader = ThreadReader(delay=0.3, step=4096)
    file = ChunkFile([BODY, b"tail"])
    assert send(reader, lambda: file_views(file, 65536)) is PipeOutcome.SENT
    reader.join()
    assert bytes(reader.received) == BODY + b"tail"


def test_a_body_that_fits_in_the_pipe_waits_for_its_reader_to_open_it() -> None:
    before, reader = open_descriptors(), ThreadReader(delay=0.3)
    assert send(reader, lambda: piece_views((b"small",))) is PipeOutcome.SENT
    reader.join()
    assert bytes(reader.received) == b"small"
    assert open_descriptors() == before


def test_a_reader_that_goes_away_halfway_ends_the_pump() -> None:
    before, reader = open_descriptors(), ThreadReader(stop_after=200_000)
    assert send(reader, lambda: piece_views((BODY,))) is PipeOutcome.READER_GONE
    reader.join()
    assert open_descriptors() == before


def test_a_pipe_nobody_opens_is_closed_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(piped_response, "OPEN_DEADLINE_SECONDS", 0.3)

    class NeverOpens:
        def response_file(self, status: int, headers: list[tuple[str, str]], path: str) -> None:
            assert Path(path).exists()

    for body in (BODY, b"small"):
        before, started = open_descriptors(), time.monotonic()
        assert send(NeverOpens(), lambda body=body: piece_views((body,))) is PipeOutcome.NEVER_READ
        assert time.monotonic() - started < 10
        assert open_descriptors() == before


def test_a_failing_handover_closes_both_ends() -> None:
    class Refuses:
        def response_file(self, status: int, headers: list[tuple[str, str]], path: str) -> None:
            raise RuntimeError("protocol closed")

    before = open_descriptors()
    with pytest.raises(RuntimeError):
        send(Refuses(), lambda: piece_views((BODY,)))
    assert open_descriptors() == before
    assert os.path.isdir("/proc/self/fd") == piped_response.pipes_usable()


def test_a_cut_ends_a_response_short_and_closes_its_pipe() -> None:
    async def scenario() -> tuple[PipeOutcome, ThreadReader]:
        reader = ThreadReader(step=4096, pause=0.001)  # 64 MiB would take over 16 s
        pump = piped_response.start_piped(reader, 200, [])

        async def cut_once_reading() -> None:
            while not reader.received:
                await asyncio.sleep(0.01)
            pump.cut()

        cutting = asyncio.create_task(cut_once_reading())
        outcome = await pump.run(piece_views((BODY * 64,)))
        await cutting
        return outcome, reader

    before = open_descriptors()
    outcome, reader = asyncio.run(scenario())
    reader.join()
    assert outcome is PipeOutcome.CUT
    assert 0 < len(reader.received) < len(BODY) * 64
    assert open_descriptors() == before


class RecordingBudget:
    """A pump's budget that says yes (or no) and keeps what it holds."""

    def __init__(self, *, room: bool = True) -> None:
        self.room, self.held, self.asked = room, 0, []

    def reserve(self, size: int) -> bool:
        self.asked.append(size)
        if self.room:
            self.held += size
        return self.room

    def release(self, size: int) -> None:
        self.held -= size


def send_budgeted(reader: ThreadReader, body: bytes, budget: RecordingBudget) -> tuple[PipeOutcome, int]:
    """The outcome, and the largest pipe the pump had while it wrote."""

    async def scenario() -> tuple[PipeOutcome, int]:
        pump = piped_response.start_piped(reader, 200, [], budget)
        largest = 0

        def sizes() -> Any:
            nonlocal largest
            for view in piece_views((body,)):
                for start in range(0, len(view), 65536):
                    largest = max(largest, pump.grown_bytes)
                    yield view[start : start + 65536]

        return await pump.run(sizes()), largest

    return asyncio.run(scenario())


def test_a_reader_that_keeps_up_is_given_the_larger_pipe_and_the_budget_gets_it_back() -> None:
    before, reader, budget = open_descriptors(), ThreadReader(), RecordingBudget()
    outcome, largest = send_budgeted(reader, BODY * 16, budget)
    reader.join()
    assert outcome is PipeOutcome.SENT and bytes(reader.received) == BODY * 16
    assert budget.asked == [piped_response.GROWN_PIPE_BYTES - piped_response.pipe_capacity_bytes()]
    assert largest == budget.asked[0]  # the pipe did grow while the pump wrote
    assert budget.held == 0 and open_descriptors() == before


def test_a_reader_that_stops_early_is_never_offered_the_larger_pipe() -> None:
    reader, budget = ThreadReader(stop_after=4 * len(BODY)), RecordingBudget()
    outcome, largest = send_budgeted(reader, BODY * 16, budget)
    reader.join()
    assert outcome is PipeOutcome.READER_GONE
    assert budget.asked == [] and largest == 0


def test_without_room_in_the_budget_the_body_still_arrives_through_the_small_pipe() -> None:
    reader, budget = ThreadReader(), RecordingBudget(room=False)
    outcome, largest = send_budgeted(reader, BODY * 12, budget)
    reader.join()
    assert outcome is PipeOutcome.SENT and bytes(reader.received) == BODY * 12
    assert len(budget.asked) == 1 and largest == 0 and budget.held == 0
