"""A read-only file over segments, each a few KiB of bytes or a compressed run of agents' lines
inflated only when the reader reaches it, so a plain-text scrape holds one inflated run at a time.

Kept joined per Snapshot, the text body was a second 53 MiB copy of the agents' lines at 10,000
agents (issue 19); joined per reader at once, 50 slow readers held 50 copies (issue 23). Here
every reader shares the compressed runs and inflates one (JOIN_AGENTS agents, at most a few MiB)
as it reads into it, and lets it go when it moves on.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from netchecker_exporter.metrics.deflate_run import DeflateRun, inflated

Segment = bytes | DeflateRun
"""Bytes sent as they are, or a compressed run sent as its text."""


def segment_size(segment: Segment) -> int:
    """The segment's length as text (a run says it without being inflated)."""
    return len(segment) if isinstance(segment, bytes) else segment.length


def plain(segment: Segment) -> bytes:
    """The segment's text."""
    return segment if isinstance(segment, bytes) else inflated(segment)


class SegmentFile(io.RawIOBase):
    """Reads `segments` in order, each inflated when reached; not seekable (the front only reads)."""

    def __init__(self, segments: Sequence[Segment], shared: object = None) -> None:
        self.shared = shared
        """What every reader of this body shares, as ChunkFile.shared: the Snapshot's layout."""
        self._segments = list(segments)
        self._next = 0
        self._current = memoryview(b"")
        self._offset = 0

    def close(self) -> None:
        """Let the segments go (see ChunkFile.close: a thread may keep its last response)."""
        self._segments, self._current, self.shared = [], memoryview(b""), None
        super().close()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        written = 0
        while written < len(target):
            if self._offset == len(self._current):
                if self._next == len(self._segments):
                    break
                self._current, self._offset = memoryview(plain(self._segments[self._next])), 0
                self._segments[self._next] = b""  # read once: the run inflated now is all this file keeps
                self._next += 1
                continue
            count = min(len(target) - written, len(self._current) - self._offset)
            target[written : written + count] = self._current[self._offset : self._offset + count]
            written += count
            self._offset += count
        return written
