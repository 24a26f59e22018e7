"""The public surface of ``edge_actors.wire`` is what docs/wire.md promises."""

from __future__ import annotations

import typing

import edge_actors.wire as wire
from edge_actors.errors import EdgeActorsError


def test_public_names() -> None:
    assert set(wire.__all__) == {
        "CHUNK_HEADER_BUDGET",
        "DEFAULT_LIMITS",
        "LENGTH_PREFIX_BYTES",
        "LSN_MAX",
        "PROTOCOL_VERSION",
        "SUPPORTED_PROTOCOLS",
        "Ack",
        "Change",
        "ChecksumMismatch",
        "Chunk",
        "ChunkCodec",
        "ChunkCodecName",
        "CompressionMemory",
        "CompressionStats",
        "DecompressionBomb",
        "Done",
        "ErrorFrame",
        "Frame",
        "FrameReader",
        "FrameTooLarge",
        "Hello",
        "HelloAck",
        "Lsn",
        "MalformedFrame",
        "SnapshotDone",
        "SnapshotPart",
        "UnsupportedProtocol",
        "WireError",
        "WireLimits",
        "chunk_checksum",
        "decode_frame",
        "describe_decode_error",
        "encode_frame",
        "error_frame",
        "frame_bytes",
    }
    assert all(hasattr(wire, name) for name in wire.__all__)


def test_contract_values() -> None:
    assert wire.PROTOCOL_VERSION == 3
    assert wire.DEFAULT_LIMITS.max_frame_bytes == 16 * 1024 * 1024
    assert wire.DEFAULT_LIMITS.max_raw_bytes == 64 * 1024 * 1024
    assert set(typing.get_args(wire.Frame)) == {
        wire.Hello,
        wire.HelloAck,
        wire.Chunk,
        wire.Ack,
        wire.Done,
        wire.SnapshotPart,
        wire.SnapshotDone,
        wire.ErrorFrame,
    }
    assert issubclass(wire.WireError, EdgeActorsError)


def test_change_is_a_compact_array() -> None:
    change = wire.Change(lsn=4, key="k", value=None)
    assert wire.Change.__struct_config__.array_like
    assert wire.Change.__struct_config__.frozen
    assert change == wire.Change(4, "k", None)
