"""Large responses sent through a pipe that granian reads as a file, so a slow reader holds little.

granian's `send_bytes` queues without limit, so a stalled reader of /metrics kept the whole body in
granian's buffers. `response_file` instead reads a file in 128 KiB steps as the socket drains; given
`/proc/self/fd/N` of a pipe's read end, it reads what the loop writes into the pipe, and the pipe's
small kernel buffer makes the loop wait for the reader (docs/limits.md, Responses).
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import os
import termios
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

PIPED_MIN_BYTES = 256 * 1024
"""Smaller bodies are handed to granian whole (response_bytes): a copy this size per stalled reader
costs less than a pipe and a task."""
GRANIAN_HELD_BYTES = 2 * 128 * 1024
"""Beyond the pipe, what granian holds per piped response: its 128 KiB read step and the chunk hyper
has queued for the socket."""
OPEN_DEADLINE_SECONDS = 30.0
"""granian opens the pipe as soon as it sends the head; if nobody has read a byte by then (the
connection died before its answer), the pipe is closed so neither it nor this task lingers."""
CONSUMED_POLL_SECONDS = 0.02
PROC_FD = Path("/proc/self/fd")
GROWN_PIPE_BYTES = 1024 * 1024
"""The pipe of a reader that keeps up (Linux's default pipe-max-size). Through 64 KiB a 55 MB text
/metrics took about 850 waits for granian to drain the pipe, each a wake-up of the loop and of
granian's thread; through 1 MiB, a sixteenth of them (docs/performance.md, the text scrape)."""
GROW_AFTER_BYTES = 8 * 1024 * 1024
"""What a reader must have taken out of its pipe before it is offered the larger one. A client that
reads nothing still takes a few MiB out, into the kernel's socket buffers (Linux's tcp_wmem grows
the sending side to 4 MiB); past twice that it has been reading. A stalled or trickling reader
keeps holding only the small pipe, and a larger one is charged to the budget either way."""


class Readable(Protocol):
    def readinto(self, buffer: Any, /) -> int | None: ...


class PipeBudget(Protocol):
    """Where a pump asks for the bytes a larger pipe holds, and gives them back when it ends."""

    def reserve(self, size: int) -> bool: ...

    def release(self, size: int) -> None: ...


class Unbudgeted:
    """A pump's budget where nothing is budgeted (a front without admission, tests)."""

    def reserve(self, size: int) -> bool:
        return True

    def release(self, size: int) -> None:
        return None


class PipeOutcome(Enum):
    SENT = "sent"
    """Every byte is in the pipe and the write end closed: granian reads the rest and the EOF."""
    READER_GONE = "reader_gone"
    """granian dropped its end (the client went away): the rest was not written."""
    NEVER_READ = "never_read"
    """Nothing was read within OPEN_DEADLINE_SECONDS of the head: both ends closed."""
    CUT = "cut"
    """Ended short on request (`cut`): granian sees the end of the file before Content-Length's
    bytes and closes the connection."""


def pipes_usable() -> bool:
    """Whether this system lets granian open a pipe by its /proc path (Linux with /proc mounted)."""
    return PROC_FD.is_dir()


def piece_views(parts: tuple[bytes, ...]) -> Iterator[memoryview]:
    """The shared parts as views: written to the pipe without a copy of their own."""
    return (memoryview(part) for part in parts if part)


def file_views(file: Readable, block_bytes: int) -> Iterator[memoryview]:
    """A file read block by block into one buffer; each view is written before the next is read."""
    buffer = bytearray(block_bytes)
    view = memoryview(buffer)
    while count := file.readinto(buffer):
        yield view[:count]


def start_piped(
    proto: Any, status: int, headers: list[tuple[str, str]], budget: PipeBudget | None = None
) -> PipePump:
    """Answer with a new pipe granian reads as the response's file; the pump then fills it, in a
    larger pipe once the reader has kept up, when `budget` has room for it."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    os.set_blocking(write_end, False)
    try:
        proto.response_file(status, headers, str(PROC_FD / str(read_end)))
    except BaseException:
        os.close(read_end)
        os.close(write_end)
        raise
    return PipePump(read_end, write_end, budget)


async def send_piped(
    proto: Any, status: int, headers: list[tuple[str, str]], pieces: Iterator[memoryview]
) -> PipeOutcome:
    """Answer with `pieces` through a new pipe granian reads as the response's file."""
    return await start_piped(proto, status, headers).run(pieces)


class PipePump:
    """Writes into the pipe as fast as its reader takes bytes out; owns both ends until closed.

    Our read end keeps the pipe alive until granian has opened its own: the first byte it consumes
    shows it has, and from then on a write fails with EPIPE once granian lets go of it. Once the
    reader has taken GROW_AFTER_BYTES out, the pipe grows to GROWN_PIPE_BYTES, once, if the budget
    holds the difference (given back when the pump ends) and the kernel allows it."""

    def __init__(self, read_end: int, write_end: int, budget: PipeBudget | None = None) -> None:
        self._read_end: int | None = read_end
        self._write_end: int | None = write_end
        self._written = 0
        self._cut = False
        self._wake: asyncio.Future[None] | None = None
        self._budget = budget
        self._offered = False
        """Whether the larger pipe was asked for already (it is asked for once)."""
        self._capacity = fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ) if budget is not None else 0
        self.grown_bytes = 0
        """What the budget holds for the larger pipe, until the pump ends."""

    def cut(self) -> None:
        """End the response short at the next step, even while waiting for a stalled reader."""
        self._cut = True
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def run(self, pieces: Iterator[memoryview]) -> PipeOutcome:
        try:
            for piece in pieces:
                if not await self._write(piece):
                    return PipeOutcome.CUT if self._cut else PipeOutcome.NEVER_READ
            self._close_write_end()
            if self._read_end is not None and not await self._wait_consumed():
                return PipeOutcome.CUT if self._cut else PipeOutcome.NEVER_READ
            return PipeOutcome.SENT
        except BrokenPipeError:
            return PipeOutcome.READER_GONE
        finally:
            self._close_write_end()
            self._close_read_end()
            self._give_back()

    async def _write(self, piece: memoryview) -> bool:
        """All of `piece` into the pipe; False when cut or nobody opened it before the deadline."""
        assert self._write_end is not None
        while piece:
            if self._cut:
                return False
            try:
                count = os.write(self._write_end, piece)
            except BlockingIOError:
                if self._consumed():
                    self._close_read_end()
                if self._grew():
                    continue
                deadline = None if self._read_end is None else OPEN_DEADLINE_SECONDS
                try:
                    await self._writable(deadline)
                except TimeoutError:
                    return False
                self._close_read_end()  # writable again: granian has consumed bytes, so it holds its end
                continue
            piece, self._written = piece[count:], self._written + count
            await asyncio.sleep(0)  # a fast reader drains as fast as we write: let the loop run others
        return True

    async def _wait_consumed(self) -> bool:
        """A body that fit in the pipe: keep our read end until granian has taken a byte out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + OPEN_DEADLINE_SECONDS
        while not self._consumed():
            if loop.time() >= deadline or self._cut:
                return False
            await asyncio.sleep(CONSUMED_POLL_SECONDS)
        self._close_read_end()
        return True

    async def _writable(self, timeout: float | None) -> None:
        """Until the pipe has room (its reader took bytes out), or `cut`."""
        assert self._write_end is not None
        loop = asyncio.get_running_loop()
        wake = self._wake = loop.create_future()

        def ready() -> None:
            if not wake.done():
                wake.set_result(None)

        loop.add_writer(self._write_end, ready)
        try:
            async with asyncio.timeout(timeout):
                await wake
        finally:
            loop.remove_writer(self._write_end)
            self._wake = None

    def _grew(self) -> bool:
        """Whether the full pipe just grew: a reader that took GROW_AFTER_BYTES out (the pipe is
        full, so it took all but a pipe's worth of what was written) gets a larger one, once."""
        budget = self._budget
        if budget is None or self._offered or self._written - self._capacity < GROW_AFTER_BYTES:
            return False
        self._offered = True
        extra = GROWN_PIPE_BYTES - self._capacity
        if extra <= 0 or not budget.reserve(extra):
            return False
        assert self._write_end is not None
        try:
            fcntl.fcntl(self._write_end, fcntl.F_SETPIPE_SZ, GROWN_PIPE_BYTES)
        except OSError:  # over pipe-max-size, or the user's pipe pages (pipe-user-pages-soft) spent
            budget.release(extra)
            return False
        self.grown_bytes = extra
        return True

    def _give_back(self) -> None:
        if self.grown_bytes and self._budget is not None:
            self._budget.release(self.grown_bytes)
            self.grown_bytes = 0

    def _consumed(self) -> bool:
        """Whether granian has taken bytes out of the pipe (only it reads), so it holds its own end."""
        return self._read_end is None or _pending(self._read_end) < self._written

    def _close_write_end(self) -> None:
        if self._write_end is not None:
            os.close(self._write_end)
            self._write_end = None

    def _close_read_end(self) -> None:
        if self._read_end is not None:
            os.close(self._read_end)
            self._read_end = None


def _pending(read_end: int) -> int:
    """Bytes written into the pipe and not yet read out of it."""
    count = array.array("i", [0])
    fcntl.ioctl(read_end, termios.FIONREAD, count, True)
    return count[0]


def pipe_capacity_bytes() -> int:
    """The kernel's buffer of a new pipe (64 KiB unless the system says otherwise)."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        return fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ)
    finally:
        os.close(read_end)
        os.close(write_end)
