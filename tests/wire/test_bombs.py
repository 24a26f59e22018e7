"""Decompression bombs: 1 GiB of zeros in ~32 KB is refused without being expanded.

Memory is checked two ways: tracemalloc's peak (Python allocations, which is where the
output ``bytes`` would live) and the process's peak RSS (libzstd's own buffers).
"""

from __future__ import annotations

import resource
import tracemalloc
from typing import TYPE_CHECKING

import pytest
import zstandard

from edge_actors.wire import (
    Chunk,
    ChunkCodec,
    DecompressionBomb,
    WireLimits,
    chunk_checksum,
    decode_frame,
    encode_frame,
)

if TYPE_CHECKING:
    from collections.abc import Callable

_GiB = 1 << 30
_MiB = 1 << 20
_SMALL = 4096


def _zeros_frame(*, content_size: bool) -> bytes:
    """1 GiB of zeros as one zstd frame, compressed 1 MiB at a time (never held whole)."""
    compressor = zstandard.ZstdCompressor(level=3, write_content_size=content_size)
    stream = compressor.compressobj(size=_GiB if content_size else -1)
    zeros = bytes(_MiB)
    parts = [stream.compress(zeros) for _ in range(_GiB // _MiB)]
    parts.append(stream.flush())
    return b"".join(parts)


@pytest.fixture(scope="module")
def honest_bomb() -> bytes:
    """A frame whose header truthfully declares 1 GiB."""
    return _zeros_frame(content_size=True)


@pytest.fixture(scope="module")
def lying_bomb() -> bytes:
    """A frame that expands to 1 GiB but whose header claims only ``_SMALL`` bytes."""
    frame = _zeros_frame(content_size=False)
    assert frame[4] == 0x00  # no content size, not single-segment: window byte follows
    # Set Frame_Content_Size_flag to 1 (a 2-byte field holding size - 256) and insert it.
    lie = (_SMALL - 256).to_bytes(2, "little")
    forged = frame[:4] + b"\x40" + frame[5:6] + lie + frame[6:]
    assert zstandard.frame_content_size(forged) == _SMALL
    return forged


def _chunk(payload: bytes, raw_len: int) -> Chunk:
    return Chunk(
        migration_id="m-1",
        workload="cart",
        seq=1,
        lsn_from=1,
        lsn_to=1,
        codec="zstd",
        raw_len=raw_len,
        checksum=chunk_checksum(b""),
        payload=payload,
    )


def _peak_bytes(action: Callable[[], object]) -> tuple[int, int]:
    """Run ``action``; return (tracemalloc peak, growth of the process's peak RSS)."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    try:
        action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    return peak, rss_growth


def _refuse(chunk: Chunk, match: str) -> None:
    with pytest.raises(DecompressionBomb, match=match):
        ChunkCodec().decode_chunk(chunk)


def test_bombs_are_small_on_the_wire(honest_bomb: bytes, lying_bomb: bytes) -> None:
    assert len(honest_bomb) < 64 * 1024
    assert len(lying_bomb) < 64 * 1024


def test_declared_gibibyte_is_refused_at_the_frame(honest_bomb: bytes) -> None:
    data = encode_frame(_chunk(honest_bomb, _GiB))
    with pytest.raises(DecompressionBomb, match=f"raw_len {_GiB} is above max_raw_bytes"):
        decode_frame(data)


def test_declared_gibibyte_is_refused_by_the_codec_without_expanding(honest_bomb: bytes) -> None:
    peak, rss = _peak_bytes(lambda: _refuse(_chunk(honest_bomb, _GiB), "above max_raw_bytes"))
    assert peak < 4 * _MiB
    assert rss < 128 * _MiB


def test_header_above_small_raw_len_is_refused_without_expanding(honest_bomb: bytes) -> None:
    chunk = _chunk(honest_bomb, _SMALL)
    assert decode_frame(encode_frame(chunk)) == chunk  # the frame itself is well-formed
    match = f"zstd frame declares {_GiB} bytes, raw_len declares {_SMALL}"
    peak, rss = _peak_bytes(lambda: _refuse(chunk, match))
    assert peak < 4 * _MiB
    assert rss < 128 * _MiB


def test_lying_header_is_refused_without_expanding(lying_bomb: bytes) -> None:
    chunk = _chunk(lying_bomb, _SMALL)
    peak, rss = _peak_bytes(lambda: _refuse(chunk, f"expands beyond its declared {_SMALL}"))
    assert peak < 4 * _MiB
    assert rss < 128 * _MiB


def test_bomb_within_a_generous_limit_still_refused_when_header_lies(lying_bomb: bytes) -> None:
    codec = ChunkCodec(limits=WireLimits(max_raw_bytes=2 * _GiB, max_frame_bytes=_GiB))
    with pytest.raises(DecompressionBomb):
        codec.decode_chunk(_chunk(lying_bomb, _SMALL))
