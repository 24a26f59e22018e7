"""Frames: msgpack round-trips and the defensive checks of ``decode_frame``."""

from __future__ import annotations

import contextlib

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_actors.wire import (
    PROTOCOL_VERSION,
    Ack,
    ChecksumMismatch,
    Chunk,
    DecompressionBomb,
    Done,
    ErrorFrame,
    Frame,
    FrameTooLarge,
    Hello,
    HelloAck,
    MalformedFrame,
    UnsupportedProtocol,
    WireError,
    WireLimits,
    decode_frame,
    encode_frame,
    error_frame,
)

from .strategies import frames

_HELLO = Hello(protocol=PROTOCOL_VERSION, migration_id="m-1", workload="cart", transfer_id="t-1")


def _chunk(**overrides: object) -> Chunk:
    fields: dict[str, object] = {
        "migration_id": "m-1",
        "workload": "cart",
        "seq": 0,
        "lsn_from": 1,
        "lsn_to": 2,
        "codec": "raw",
        "raw_len": 3,
        "checksum": 0,
        "payload": b"abc",
    }
    fields.update(overrides)
    return Chunk(**fields)  # type: ignore[arg-type]


@given(frames)
@settings(max_examples=300)
def test_every_frame_round_trips(frame: Frame) -> None:
    assert decode_frame(encode_frame(frame)) == frame


def test_frames_are_tagged_maps() -> None:
    decoded = msgspec.msgpack.decode(encode_frame(Ack(seq=3, applied_lsn=9)))
    assert decoded == {"t": "ack", "seq": 3, "applied_lsn": 9}


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    data = msgspec.msgpack.encode({"t": "done", "seq": 1, "lsn": 5, "future": [1, 2]})
    assert decode_frame(data) == Done(seq=1, lsn=5)


@given(st.binary(max_size=200))
@settings(max_examples=500)
def test_arbitrary_bytes_raise_only_wire_errors(data: bytes) -> None:
    with contextlib.suppress(WireError):
        decode_frame(data)


@given(frames, st.data())
@settings(max_examples=200)
def test_truncated_frames_are_malformed(frame: Frame, data: st.DataObject) -> None:
    encoded = encode_frame(frame)
    cut = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    with pytest.raises(MalformedFrame):
        decode_frame(encoded[:cut])


@pytest.mark.parametrize(
    ("raw", "cause"),
    [
        ({"t": "nope", "seq": 1}, "Invalid value 'nope'"),
        ({"t": "ack", "seq": -1, "applied_lsn": 0}, "seq"),
        ({"t": "ack", "seq": 1}, "applied_lsn"),
        ({"t": "done", "seq": 1, "lsn": "x"}, "lsn"),
        ({"t": "ack", "seq": 2**63, "applied_lsn": 0}, "seq"),
        ({"t": "error", "code": "", "message": "m"}, "code"),
        (
            {
                "t": "snapshot_done",
                "seq": 1,
                "lsn": 1,
                "records": 1,
                "bytes": 1,
                "digest": "XYZ",
                "size": 1,
            },
            "digest",
        ),
        (
            {
                "t": "snapshot_part",
                "migration_id": "m",
                "workload": "w",
                "seq": 1,
                "offset": -1,
                "checksum": 0,
                "payload": b"",
            },
            "offset",
        ),
        ({"seq": 1, "lsn": 1}, "wrong shape"),
        ([1, 2, 3], "wrong shape"),
    ],
)
def test_invalid_fields_are_malformed_and_named(raw: object, cause: str) -> None:
    with pytest.raises(MalformedFrame, match="malformed frame") as info:
        decode_frame(msgspec.msgpack.encode(raw))
    assert cause in str(info.value)


def test_invalid_utf8_is_malformed() -> None:
    data = encode_frame(ErrorFrame(code="c", message="\u00e9")).replace(b"\xc3\xa9", b"\xe3\xa9")
    with pytest.raises(MalformedFrame, match="invalid UTF-8 in a string") as info:
        decode_frame(data)
    assert info.value.code == "malformed"


def test_bad_workload_name_is_malformed() -> None:
    raw = msgspec.structs.asdict(_HELLO) | {"t": "hello", "workload": "../etc"}
    with pytest.raises(MalformedFrame, match="workload"):
        decode_frame(msgspec.msgpack.encode(raw))


def test_lsn_from_above_lsn_to_is_malformed() -> None:
    with pytest.raises(MalformedFrame, match="lsn_from 5 is above lsn_to 4"):
        decode_frame(encode_frame(_chunk(lsn_from=5, lsn_to=4)))


def test_raw_payload_of_wrong_length_is_malformed() -> None:
    with pytest.raises(MalformedFrame, match="raw payload is 3 bytes, raw_len declares 4"):
        decode_frame(encode_frame(_chunk(raw_len=4)))


def test_raw_len_above_limit_is_refused_as_a_bomb() -> None:
    limits = WireLimits(max_raw_bytes=1000)
    frame = _chunk(codec="zstd", raw_len=1001)
    with pytest.raises(DecompressionBomb, match="raw_len 1001 is above max_raw_bytes 1000"):
        decode_frame(encode_frame(frame), limits=limits)


def test_oversize_frame_is_refused_before_decoding() -> None:
    limits = WireLimits(max_frame_bytes=64)
    # Not even msgpack: only the size check can have refused it.
    with pytest.raises(FrameTooLarge, match="frame of 65 bytes is above max_frame_bytes 64"):
        decode_frame(b"\xc1" * 65, limits=limits)
    assert decode_frame(encode_frame(Ack(seq=1, applied_lsn=1)), limits=limits)


@pytest.mark.parametrize("frame_type", [Hello, HelloAck])
@pytest.mark.parametrize("protocol", [1, 2, 4])
def test_unknown_protocol_is_refused(frame_type: type[Hello | HelloAck], protocol: int) -> None:
    """1 is a peer whose digests are BLAKE2b sums (digest version 1); 2 cannot read a
    snapshot stream; 4 is from the future."""
    if frame_type is Hello:
        frame: Frame = msgspec.structs.replace(_HELLO, protocol=protocol)
    else:
        frame = HelloAck(protocol=protocol, applied_lsn=0)
    with pytest.raises(
        UnsupportedProtocol, match=rf"protocol {protocol}; this side supports \[3\]"
    ):
        decode_frame(encode_frame(frame))


def test_deeply_nested_garbage_is_malformed() -> None:
    data = b"\x82\xa1t\xa3ack\xa1x" + b"\x91" * 100_000 + b"\x00"
    with pytest.raises(MalformedFrame):
        decode_frame(data)


def test_error_frame_carries_the_error_code() -> None:
    frame = error_frame(ChecksumMismatch("crc differs"))
    assert frame == ErrorFrame(code="checksum", message="crc differs")
    assert decode_frame(encode_frame(frame)) == frame


def test_error_frame_of_foreign_error_is_internal_and_truncated() -> None:
    frame = error_frame(RuntimeError("x" * 10_000))
    assert frame.code == "internal"
    assert len(frame.message) == 4096
    assert error_frame(KeyError(), code="unknown_workload") == ErrorFrame(
        code="unknown_workload", message="KeyError"
    )


def test_error_codes_are_stable() -> None:
    codes = {
        cls.__name__: cls.code
        for cls in (
            MalformedFrame,
            FrameTooLarge,
            ChecksumMismatch,
            DecompressionBomb,
            UnsupportedProtocol,
        )
    }
    assert codes == {
        "MalformedFrame": "malformed",
        "FrameTooLarge": "too_large",
        "ChecksumMismatch": "checksum",
        "DecompressionBomb": "bomb",
        "UnsupportedProtocol": "protocol",
    }
