"""Frames of the peer stream and their msgpack encoding (layer: wire; no I/O).

A peer stream carries one frame per message: a tagged union (tag field ``"t"``) of frozen
Structs encoded as msgpack maps. One module-level encoder and one decoder of the union are
reused for every frame. :func:`decode_frame` checks the size before decoding and every
protocol rule after, so a caller only ever sees a valid frame or a :class:`WireError`.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec

from ._change import LSN_MAX, Lsn
from ._errors import (
    DecompressionBomb,
    FrameTooLarge,
    MalformedFrame,
    UnsupportedProtocol,
    describe_decode_error,
)
from ._limits import DEFAULT_LIMITS, WireLimits

__all__ = [
    "PROTOCOL_VERSION",
    "SUPPORTED_PROTOCOLS",
    "Ack",
    "Chunk",
    "ChunkCodecName",
    "Done",
    "ErrorFrame",
    "Frame",
    "Hello",
    "HelloAck",
    "SnapshotDone",
    "SnapshotPart",
    "check_chunk",
    "decode_frame",
    "encode_frame",
    "error_frame",
]

PROTOCOL_VERSION: Final = 3
"""The protocol version this side speaks in ``Hello`` / ``HelloAck``.

2: the frames of 1, but a chunk's ``checksum`` is the low 32 bits of XXH3-64 (was
CRC-32), and the two sides' workload digests, which the supervisor compares after a
copy, are of digest version 2 (XXH3): a peer of version 1 is refused.

3: the frames of 2, and a stream into an empty copy may instead carry the source
store's snapshot file (``SnapshotPart`` frames, then ``SnapshotDone``): a peer of
version 2 could not read it, so it is refused.
"""

SUPPORTED_PROTOCOLS: Final = frozenset({PROTOCOL_VERSION})
"""Every version a peer may announce; anything else is :class:`UnsupportedProtocol`."""

ERROR_MESSAGE_MAX: Final = 4096
"""Longest ``ErrorFrame.message`` accepted; :func:`error_frame` truncates to it."""

_Count = Annotated[int, msgspec.Meta(ge=0, le=LSN_MAX)]
_Protocol = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
_Workload = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
_Checksum32 = Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)]
_Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
_Message = Annotated[str, msgspec.Meta(max_length=ERROR_MESSAGE_MAX)]
_Digest = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
_Bytes = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]

ChunkCodecName = Literal["raw", "zstd"]
"""How a chunk's payload is stored: as is, or as one zstd frame."""


class Hello(msgspec.Struct, frozen=True, tag_field="t", tag="hello"):
    """Sender -> receiver: opens (or resumes) the stream of one workload's transfer."""

    protocol: _Protocol
    migration_id: _Id
    workload: _Workload
    transfer_id: _Id


class HelloAck(msgspec.Struct, frozen=True, tag_field="t", tag="hello_ack"):
    """Receiver -> sender: accepted; ``applied_lsn`` is where a resumed stream restarts."""

    protocol: _Protocol
    applied_lsn: Lsn


class Chunk(msgspec.Struct, frozen=True, tag_field="t", tag="chunk"):
    """Sender -> receiver: changes with LSNs in ``[lsn_from, lsn_to]``, msgpack-encoded.

    ``raw_len`` and ``checksum`` (:func:`~._codec.chunk_checksum`) describe the raw (uncompressed)
    msgpack bytes of ``list[Change]``; ``payload`` holds them as is or as one zstd frame.
    """

    migration_id: _Id
    workload: _Workload
    seq: _Count
    lsn_from: Lsn
    lsn_to: Lsn
    codec: ChunkCodecName
    raw_len: _Count
    checksum: _Checksum32
    payload: bytes


class Ack(msgspec.Struct, frozen=True, tag_field="t", tag="ack"):
    """Receiver -> sender: chunk (or ``Done``) ``seq`` is applied, up to ``applied_lsn``."""

    seq: _Count
    applied_lsn: Lsn


class Done(msgspec.Struct, frozen=True, tag_field="t", tag="done"):
    """Sender -> receiver: nothing follows ``seq``; the stream ends at ``lsn``."""

    seq: _Count
    lsn: Lsn


class SnapshotPart(msgspec.Struct, frozen=True, tag_field="t", tag="snapshot_part"):
    """Sender -> receiver: bytes ``[offset, offset + len(payload))`` of the source store's
    snapshot file (a consistent copy at one LSN, see ``SnapshotDone``), in order.

    ``checksum`` is :func:`~._codec.chunk_checksum` of ``payload``. A stream carries
    either chunks or a snapshot, never both; the first part has ``offset`` 0.
    """

    migration_id: _Id
    workload: _Workload
    seq: _Count
    offset: _Bytes
    checksum: _Checksum32
    payload: bytes


class SnapshotDone(msgspec.Struct, frozen=True, tag_field="t", tag="snapshot_done"):
    """Sender -> receiver: the snapshot file is complete, ``size`` bytes; it holds the
    source store at ``lsn``, with ``records`` live records of ``bytes`` bytes and the
    workload ``digest`` (the receiver installs it only if it verifies all of them)."""

    seq: _Count
    lsn: Lsn
    records: _Count
    bytes: _Bytes
    digest: _Digest
    size: _Bytes


class ErrorFrame(msgspec.Struct, frozen=True, tag_field="t", tag="error"):
    """Either side: the stream failed; ``code`` is machine-readable (e.g. ``"checksum"``)."""

    code: _Code
    message: _Message


Frame = Hello | HelloAck | Chunk | Ack | Done | SnapshotPart | SnapshotDone | ErrorFrame
"""Every frame of the peer stream."""

_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final[msgspec.msgpack.Decoder[Frame]] = msgspec.msgpack.Decoder(Frame)


def encode_frame(frame: Frame) -> bytes:
    """Return the msgpack encoding of ``frame`` (a map that includes ``"t"``)."""
    return _ENCODER.encode(frame)


def decode_frame(
    data: bytes | bytearray | memoryview, *, limits: WireLimits = DEFAULT_LIMITS
) -> Frame:
    """Decode one frame, refusing it before decoding when it is too large.

    Args:
        data: One encoded frame (a WebSocket message, or a body from :class:`FrameReader`).
        limits: Size limits; the sender must use limits no larger than these.

    Returns:
        The frame, with every field within its bounds.

    Raises:
        FrameTooLarge: ``data`` is longer than ``limits.max_frame_bytes``.
        MalformedFrame: not msgpack, unknown tag, missing or ill-typed field, negative
            seq/LSN, ``lsn_from > lsn_to``, a raw payload whose length is not ``raw_len``.
        DecompressionBomb: a chunk declares ``raw_len`` above ``limits.max_raw_bytes``.
        UnsupportedProtocol: a ``Hello``/``HelloAck`` announces an unknown version.
    """
    size = len(data)
    if size > limits.max_frame_bytes:
        raise FrameTooLarge(
            f"frame of {size} bytes is above max_frame_bytes {limits.max_frame_bytes}"
        )
    try:
        frame = _DECODER.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # bad UTF-8 in a str field
        raise MalformedFrame(
            f"malformed frame ({size} bytes): {describe_decode_error(exc)}"
        ) from exc
    except RecursionError as exc:  # absurdly nested unknown fields
        raise MalformedFrame(f"malformed frame ({size} bytes): nested too deeply") from exc
    if isinstance(frame, Chunk):
        check_chunk(frame, limits)
    elif isinstance(frame, Hello | HelloAck):
        _check_protocol(frame)
    return frame


def check_chunk(chunk: Chunk, limits: WireLimits = DEFAULT_LIMITS) -> None:
    """Check the rules of a chunk's header that need no decompression.

    Raises:
        MalformedFrame: ``lsn_from > lsn_to``, or a raw payload of the wrong length.
        DecompressionBomb: ``raw_len`` is above ``limits.max_raw_bytes``.
    """
    if chunk.lsn_from > chunk.lsn_to:
        raise MalformedFrame(
            f"chunk seq {chunk.seq}: lsn_from {chunk.lsn_from} is above lsn_to {chunk.lsn_to}"
        )
    if chunk.raw_len > limits.max_raw_bytes:
        raise DecompressionBomb(
            f"chunk seq {chunk.seq}: declared raw_len {chunk.raw_len} is above "
            f"max_raw_bytes {limits.max_raw_bytes}"
        )
    if chunk.codec == "raw" and len(chunk.payload) != chunk.raw_len:
        raise MalformedFrame(
            f"chunk seq {chunk.seq}: raw payload is {len(chunk.payload)} bytes, "
            f"raw_len declares {chunk.raw_len}"
        )


def _check_protocol(frame: Hello | HelloAck) -> None:
    if frame.protocol not in SUPPORTED_PROTOCOLS:
        raise UnsupportedProtocol(
            f"{type(frame).__name__} announces protocol {frame.protocol}; "
            f"this side supports {sorted(SUPPORTED_PROTOCOLS)}"
        )


def error_frame(exc: BaseException, *, code: str | None = None) -> ErrorFrame:
    """Build the ``ErrorFrame`` that tells a peer why ``exc`` ended the stream.

    Args:
        exc: The error; its ``code`` attribute (every :class:`WireError` has one) is used
            unless ``code`` is given, else ``"internal"``.
        code: Overrides the code.

    Returns:
        A frame whose message is ``str(exc)`` cut to :data:`ERROR_MESSAGE_MAX` characters.
    """
    chosen = code if code is not None else getattr(exc, "code", None)
    if not isinstance(chosen, str) or not 1 <= len(chosen) <= 64:
        chosen = "internal"
    message = str(exc) or type(exc).__name__
    return ErrorFrame(code=chosen, message=message[:ERROR_MESSAGE_MAX])
