"""A response body rendered once and sent to every reader from the same immutable bytes.

Fifty slow readers of an 8 MB listing must cost one 8 MB body, not fifty: each response is a
ChunkFile over the shared chunks (the server copies one block at a time), and the gzip form is
compressed once, on the first reader that asks for it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from netchecker_exporter.metrics.chunk_file import ChunkFile
from netchecker_exporter.metrics.gzip_body import gzip_member

VARY = {"Vary": "Accept-Encoding"}
"""Caches between us and the reader must keep the two encodings apart."""


class SharedBody:
    """One body's chunks and, once asked for, their gzip member; both shared by every reader."""

    __slots__ = ("_gzip", "_lock", "chunks", "size")

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = tuple(chunk for chunk in chunks if chunk)
        self.size = sum(map(len, self.chunks))
        self._gzip: bytes | None = None
        self._lock = threading.Lock()

    def gzipped(self) -> bytes:
        """The gzip member, compressed by the first reader; the others wait for it, then share it."""
        with self._lock:
            if self._gzip is None:
                self._gzip = gzip_member(self.chunks)
            return self._gzip

    def response(self, *, gzip: bool) -> tuple[ChunkFile, dict[str, str]]:
        """A file over the shared bytes for one reader, with the headers its encoding needs."""
        if gzip:
            data = self.gzipped()
            return ChunkFile([data], shared=self), {
                **VARY,
                "Content-Encoding": "gzip",
                "Content-Length": str(len(data)),
            }
        return ChunkFile(self.chunks, shared=self), {**VARY, "Content-Length": str(self.size)}
