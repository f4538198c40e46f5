"""A run of agents' lines of one family kept compressed: independent raw deflate ending on a sync flush.

Kept as bytes, the agents' lines were 61 MiB of the server's memory at 10,000 agents (issue 19);
compressed by ISA-L at level 1 in runs of about a thousand agents they are under 2 MiB. A run
starts with an empty window and ends byte-aligned on a non-final block, so it inflates alone and
runs concatenate, in any order, into the deflate stream of one gzip member (gzip_body.py); its
CRC and length are what that member's trailer needs, its ends where each agent's piece stops.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from isal import isal_zlib

LEVEL = 1
RAW_DEFLATE = -15
"""wbits for deflate with no zlib or gzip wrapper (a 32 KiB window)."""


@dataclass(frozen=True, slots=True, eq=False)
class DeflateRun:
    """Pieces of text compressed together: `data` inflates to `length` bytes whose CRC-32 is `crc`;
    piece i is bytes ends[i-1]:ends[i] of it (an array of unsigned ints, not a list of objects)."""

    data: bytes
    crc: int
    length: int
    ends: array[int]

    @property
    def count(self) -> int:
        return len(self.ends)


def deflate_run(pieces: Sequence[bytes]) -> DeflateRun:
    """`pieces` joined and compressed as a run of their own."""
    text = b"".join(pieces)
    compressor = isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, RAW_DEFLATE)
    data = compressor.compress(text) + compressor.flush(isal_zlib.Z_SYNC_FLUSH)
    return DeflateRun(data, isal_zlib.crc32(text), len(text), array("I", accumulate(map(len, pieces))))


def inflated(run: DeflateRun) -> bytes:
    """The run's text (the sync flush makes every byte of it come out)."""
    text = isal_zlib.decompressobj(RAW_DEFLATE).decompress(run.data)
    if len(text) != run.length:
        raise ValueError(f"a deflate run inflated to {len(text)} bytes, not {run.length}")
    return text


def pieces(run: DeflateRun) -> list[bytes]:
    """The run's text split back into the pieces it was made of."""
    text = inflated(run)
    starts = (0, *run.ends)[:-1]
    return [text[start:end] for start, end in zip(starts, run.ends, strict=True)]
