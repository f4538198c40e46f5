"""A read-only, seekable file over byte chunks, so a WSGI server sends /metrics without joining it."""

from __future__ import annotations

import bisect
import io
import itertools
from collections.abc import Sequence
from typing import Any


class ChunkFile(io.RawIOBase):
    """A read-only, seekable file over byte chunks: the front streams it block by block, never joined."""

    def __init__(self, chunks: Sequence[bytes], shared: object = None) -> None:
        self.shared = shared
        """What every reader of this body shares (a Snapshot's render): a reader still on an outdated
        one is cut (http/stale_bodies); None for a body of its own."""
        self._chunks = [memoryview(chunk) for chunk in chunks if chunk]
        self._starts = list(itertools.accumulate((len(c) for c in self._chunks), initial=0))
        self._size = self._starts[-1]
        self._position = 0

    @property
    def parts(self) -> tuple[memoryview, ...]:
        """The chunks, as read-only views: a sender may write them out without copying them."""
        return tuple(chunk.toreadonly() for chunk in self._chunks)

    def close(self) -> None:
        """Let the chunks go: a server thread may keep its last response (and so this file) until
        its next request, which pinned up to one old render per thread (200 MB after a flood)."""
        self._chunks, self.shared = [], None
        super().close()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = min(max(0, base + offset), self._size)
        return self._position

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        written = 0
        while written < len(target) and self._position < self._size:
            index = bisect.bisect_right(self._starts, self._position) - 1
            chunk = self._chunks[index]
            offset = self._position - self._starts[index]
            count = min(len(target) - written, len(chunk) - offset)
            target[written : written + count] = chunk[offset : offset + count]
            written += count
            self._position += count
        return written
