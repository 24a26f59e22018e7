"""Fuzzing: whatever a peer sends, the wire layer answers with a frame or a WireError."""

from __future__ import annotations

import contextlib

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_actors.wire import (
    Change,
    Chunk,
    ChunkCodec,
    Frame,
    FrameReader,
    WireError,
    WireLimits,
    decode_frame,
    encode_frame,
    frame_bytes,
)

from .strategies import changes, frames

_LIMITS = WireLimits(max_frame_bytes=4096, max_raw_bytes=4096, max_chunk_changes=64)
_CODEC = ChunkCodec(limits=_LIMITS)


@given(frames, st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)), max_size=4))
@settings(max_examples=300)
def test_mutated_frames_decode_or_raise_wire_errors(
    frame: Frame, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(encode_frame(frame))
    for position, mask in flips:
        data[position % len(data)] ^= mask
    with contextlib.suppress(WireError):
        decode_frame(bytes(data), limits=_LIMITS)


@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300)))
@settings(max_examples=200)
def test_reader_on_arbitrary_bytes_raises_only_wire_errors(data: bytes, cuts: list[int]) -> None:
    reader = FrameReader(limits=_LIMITS)
    bounds = sorted(min(cut, len(data)) for cut in cuts)
    for start, end in zip([0, *bounds], [*bounds, len(data)], strict=True):
        try:
            reader.feed(data[start:end])
        except WireError:
            return


@given(
    st.sampled_from(["raw", "zstd"]),
    st.binary(max_size=300),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=2**32 - 1),
)
@settings(max_examples=300)
def test_arbitrary_chunk_payloads_raise_only_wire_errors(
    codec: str, payload: bytes, raw_len: int, checksum: int
) -> None:
    chunk = msgspec.convert(
        {
            "migration_id": "m",
            "workload": "w",
            "seq": 0,
            "lsn_from": 0,
            "lsn_to": 100,
            "codec": codec,
            "raw_len": raw_len,
            "checksum": checksum,
            "payload": payload,
        },
        Chunk,
    )
    with contextlib.suppress(WireError):
        _CODEC.decode_chunk(chunk)


@given(changes(max_size=20), st.integers(min_value=0), st.integers(1, 255))
@settings(max_examples=200)
def test_corrupted_chunk_frames_never_yield_wrong_changes(
    items: list[Change], position: int, mask: int
) -> None:
    codec = ChunkCodec()
    wire = bytearray(
        frame_bytes(codec.encode_chunk(migration_id="m", workload="w", seq=1, changes=items))
    )
    wire[position % len(wire)] ^= mask
    try:
        (frame,) = FrameReader().feed(bytes(wire)) or (None,)
        if isinstance(frame, Chunk):
            decoded = codec.decode_chunk(frame)
        else:
            return
    except WireError:
        return
    # A flip the checks cannot see can only be in a field that does not carry data.
    assert decoded == items
