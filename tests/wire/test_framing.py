"""Length-prefixed framing: FrameReader against arbitrary split points and bad prefixes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_actors.wire import (
    LENGTH_PREFIX_BYTES,
    Ack,
    Done,
    Frame,
    FrameReader,
    FrameTooLarge,
    MalformedFrame,
    WireLimits,
    encode_frame,
    frame_bytes,
)

from .strategies import frames


def test_frame_bytes_is_a_big_endian_length_and_the_body() -> None:
    frame = Ack(seq=1, applied_lsn=2)
    body = encode_frame(frame)
    assert frame_bytes(frame) == len(body).to_bytes(4, "big") + body
    assert LENGTH_PREFIX_BYTES == 4


@given(st.lists(frames, max_size=8), st.data())
@settings(max_examples=200)
def test_reader_reassembles_frames_from_any_split(sent: list[Frame], data: st.DataObject) -> None:
    stream = b"".join(frame_bytes(frame) for frame in sent)
    cuts = sorted(data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)))))
    reader = FrameReader()
    received: list[Frame] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        received += reader.feed(stream[start:end])
    assert received == sent
    assert reader.buffered_bytes == 0


def test_partial_frame_stays_buffered() -> None:
    wire = frame_bytes(Done(seq=3, lsn=40))
    reader = FrameReader()
    assert reader.feed(wire[:2]) == []
    assert reader.feed(wire[2:-1]) == []
    assert reader.buffered_bytes == len(wire) - 1
    assert reader.feed(wire[-1:]) == [Done(seq=3, lsn=40)]


def test_oversize_prefix_is_refused_before_the_body_arrives() -> None:
    reader = FrameReader(limits=WireLimits(max_frame_bytes=1024))
    ok = frame_bytes(Ack(seq=1, applied_lsn=1))
    assert reader.feed(ok) == [Ack(seq=1, applied_lsn=1)]
    with pytest.raises(FrameTooLarge, match="declares a 1025-byte frame, above max_frame_bytes"):
        reader.feed((1025).to_bytes(4, "big"))
    # The stream cannot be resynchronised: the reader stays stopped.
    with pytest.raises(FrameTooLarge, match="stopped by an earlier error"):
        reader.feed(ok)


def test_a_huge_declared_length_is_never_buffered() -> None:
    reader = FrameReader()
    with pytest.raises(FrameTooLarge):
        reader.feed(b"\xff\xff\xff\xff" + b"\x00" * 100)
    assert reader.buffered_bytes == 0


def test_malformed_body_is_dropped_and_the_reader_goes_on() -> None:
    first, last = Ack(seq=1, applied_lsn=5), Done(seq=2, lsn=5)
    garbage = b"\xc1\xc1\xc1"
    stream = frame_bytes(first) + len(garbage).to_bytes(4, "big") + garbage + frame_bytes(last)
    reader = FrameReader()
    with pytest.raises(MalformedFrame):
        reader.feed(stream)
    # The frame decoded before the bad one is not lost; the one after still comes.
    assert reader.feed(b"") == [first, last]
    assert reader.buffered_bytes == 0
