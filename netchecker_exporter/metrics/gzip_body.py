"""A gzip body in two parts: the Snapshot's, already compressed, and the small tail per scrape.

The agents' lines (53 MiB of text at 10,000 agents) are kept as runs of raw deflate, each ending
on a sync flush (byte-aligned, not final: deflate_run.py); a body sends them one after another,
and each scrape appends the registry's few KiB as a fresh final deflate stream. One gzip member
results (curl and browsers read only the first), framed per RFC 1952 here, its CRC combined from
the runs' (ISA-L: about 5x zlib's speed at level 1 for the same size, BENCHMARKS.md).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from isal import isal_zlib

from netchecker_exporter.metrics.deflate_run import LEVEL, RAW_DEFLATE, DeflateRun, deflate_run

GZIP_WBITS = 31
"""zlib's wbits for a gzip member (16 + a 32 KiB window), with mtime 0: the same bytes every time."""
HEADER = bytes((0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 255))
"""RFC 1952: magic, method deflate, no flags, no mtime, no extra flags, OS unknown."""


@dataclass(frozen=True, slots=True)
class DeflatedPrefix:
    """Raw deflate in parts that a tail can follow, with the CRC and length the trailer needs."""

    parts: tuple[bytes, ...]
    crc: int
    length: int


class PieceRuns:
    """The small pieces of text between the runs (headers, the server and diagnosis families),
    each compressed as a run of its own, and kept for the next body by identity: a header, or a
    pass's diagnosis lines, is the same bytes object from one Snapshot to the next, so it is
    compressed once. Only the last body's pieces are kept."""

    def __init__(self) -> None:
        self._runs: dict[int, tuple[bytes, DeflateRun]] = {}
        self.compressed = 0
        """How many pieces were compressed so far (the others were the last body's)."""

    def runs(self, segments: Iterable[bytes | DeflateRun]) -> Iterator[DeflateRun]:
        """`segments` as runs: a run as it is, a piece compressed unless the last body had it."""
        kept: dict[int, tuple[bytes, DeflateRun]] = {}
        for segment in segments:
            if isinstance(segment, DeflateRun):
                yield segment
                continue
            known = self._runs.get(id(segment))  # an entry holds its piece: no other can have its id
            if known is None:
                known = (segment, deflate_run([segment]))
                self.compressed += 1
            kept[id(segment)] = known
            yield known[1]
        self._runs = kept


def runs_prefix(runs: Iterable[DeflateRun]) -> DeflatedPrefix:
    """Runs of deflate one after another, their CRCs combined: nothing is compressed again."""
    parts: list[bytes] = []
    crc = length = 0
    for run in runs:
        parts.append(run.data)
        crc = isal_zlib.crc32_combine(crc, run.crc, run.length)
        length += run.length
    return DeflatedPrefix(tuple(parts), crc, length)


def gzip_chunks(prefix: DeflatedPrefix, tail: bytes) -> tuple[bytes, ...]:
    """One gzip member in pieces: header, `prefix`'s deflate (shared by every scrape, not copied),
    then `tail` as the final stream, then the trailer."""
    compressor = isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, RAW_DEFLATE)
    final = compressor.compress(tail) + compressor.flush()
    crc = isal_zlib.crc32(tail, prefix.crc)
    trailer = struct.pack("<II", crc, (prefix.length + len(tail)) & 0xFFFFFFFF)
    return HEADER, *prefix.parts, final, trailer


def gzip_body(prefix: DeflatedPrefix, tail: bytes) -> bytes:
    """gzip_chunks() joined."""
    return b"".join(gzip_chunks(prefix, tail))


def gzip_member(chunks: Iterable[bytes]) -> bytes:
    """`chunks` as one whole gzip member, framed by the compressor (a JSON body, not a scrape)."""
    compressor = isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, GZIP_WBITS)
    parts = [compressor.compress(chunk) for chunk in chunks]
    parts.append(compressor.flush())
    return b"".join(parts)
