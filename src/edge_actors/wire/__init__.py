"""The peer-stream protocol: frames, framing and the chunk codec (layer: wire; no I/O).

Sits under ``store`` and ``transfer``: it imports only ``edge_actors.errors`` and third-party
codecs (msgspec, zstandard). See ``docs/wire.md`` for the protocol reference.
"""

from __future__ import annotations

from ._change import LSN_MAX as LSN_MAX
from ._change import Change as Change
from ._change import Lsn as Lsn
from ._codec import CHUNK_HEADER_BUDGET as CHUNK_HEADER_BUDGET
from ._codec import ChunkCodec as ChunkCodec
from ._codec import chunk_checksum as chunk_checksum
from ._compression_memory import CompressionMemory as CompressionMemory
from ._compression_memory import CompressionStats as CompressionStats
from ._errors import ChecksumMismatch as ChecksumMismatch
from ._errors import DecompressionBomb as DecompressionBomb
from ._errors import FrameTooLarge as FrameTooLarge
from ._errors import MalformedFrame as MalformedFrame
from ._errors import UnsupportedProtocol as UnsupportedProtocol
from ._errors import WireError as WireError
from ._errors import describe_decode_error as describe_decode_error
from ._frames import PROTOCOL_VERSION as PROTOCOL_VERSION
from ._frames import SUPPORTED_PROTOCOLS as SUPPORTED_PROTOCOLS
from ._frames import Ack as Ack
from ._frames import Chunk as Chunk
from ._frames import ChunkCodecName as ChunkCodecName
from ._frames import Done as Done
from ._frames import ErrorFrame as ErrorFrame
from ._frames import Frame as Frame
from ._frames import Hello as Hello
from ._frames import HelloAck as HelloAck
from ._frames import SnapshotDone as SnapshotDone
from ._frames import SnapshotPart as SnapshotPart
from ._frames import decode_frame as decode_frame
from ._frames import encode_frame as encode_frame
from ._frames import error_frame as error_frame
from ._framing import LENGTH_PREFIX_BYTES as LENGTH_PREFIX_BYTES
from ._framing import FrameReader as FrameReader
from ._framing import frame_bytes as frame_bytes
from ._limits import DEFAULT_LIMITS as DEFAULT_LIMITS
from ._limits import WireLimits as WireLimits

__all__ = [
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
]
