"""A gzip body in two parts: the big one compressed once per Snapshot, the small tail per scrape.

The agents' lines (53 MiB at 10,000 agents) are compressed once into raw deflate ending on a sync
flush (byte-aligned, not final); each scrape appends the registry's few KiB as a fresh final
deflate stream. One gzip member results (curl and browsers read only the first), framed per
RFC 1952 here because the compressor (ISA-L, about 5x zlib's speed at level 1 for the same size,
BENCHMARKS.md) cannot copy its state as zlib's can.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from isal import isal_zlib

LEVEL = 1
GZIP_WBITS = 31
"""zlib's wbits for a gzip member (16 + a 32 KiB window), with mtime 0: the same bytes every time."""
RAW_DEFLATE = -15
"""wbits for deflate without a zlib or gzip wrapper: we write the gzip frame ourselves."""
HEADER = bytes((0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 255))
"""RFC 1952: magic, method deflate, no flags, no mtime, no extra flags, OS unknown."""


@dataclass(frozen=True, slots=True)
class DeflatedPrefix:
    """Compressed chunks that a tail can follow, with the CRC and length the trailer needs."""

    data: bytes
    crc: int
    length: int


def deflate_prefix(chunks: Iterable[bytes]) -> DeflatedPrefix:
    """Compress `chunks` into raw deflate that stops on a byte boundary, with no final block."""
    compressor = isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, RAW_DEFLATE)
    parts: list[bytes] = []
    crc = length = 0
    for chunk in chunks:
        parts.append(compressor.compress(chunk))
        crc = isal_zlib.crc32(chunk, crc)
        length += len(chunk)
    parts.append(compressor.flush(isal_zlib.Z_SYNC_FLUSH))
    return DeflatedPrefix(b"".join(parts), crc, length)


def gzip_chunks(prefix: DeflatedPrefix, tail: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """One gzip member in pieces: header, `prefix`'s deflate (shared by every scrape, not copied),
    then `tail` as the final stream, then the trailer."""
    compressor = isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, RAW_DEFLATE)
    final = compressor.compress(tail) + compressor.flush()
    crc = isal_zlib.crc32(tail, prefix.crc)
    trailer = struct.pack("<II", crc, (prefix.length + len(tail)) & 0xFFFFFFFF)
    return HEADER, prefix.data, final, trailer


def gzip_body(prefix: DeflatedPrefix, tail: bytes) -> bytes:
    """gzip_chunks() joined."""
    return b"".join(gzip_chunks(prefix, tail))


def gzip_member(chunks: Iterable[bytes]) -> bytes:
    """`chunks` as one whole gzip member, framed by the compressor (a JSON body, not a scrape)."""
    compressor = isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, GZIP_WBITS)
    parts = [compressor.compress(chunk) for chunk in chunks]
    parts.append(compressor.flush())
    return b"".join(parts)
