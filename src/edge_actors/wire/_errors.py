"""Errors of the peer-stream protocol (layer: wire; imports only ``edge_actors.errors``).

Every refusal of the wire layer is a :class:`WireError`. Each subclass carries a stable
``code`` so the side that refuses a frame can tell its peer why in an ``ErrorFrame``.
"""

from __future__ import annotations

from typing import ClassVar

from edge_actors.errors import EdgeActorsError

__all__ = [
    "ChecksumMismatch",
    "DecompressionBomb",
    "FrameTooLarge",
    "MalformedFrame",
    "UnsupportedProtocol",
    "WireError",
]


class WireError(EdgeActorsError):
    """A frame or chunk was refused; the message names the cause and the numbers."""

    code: ClassVar[str] = "wire"


class MalformedFrame(WireError):
    """The bytes are not a valid frame, or a field breaks the protocol's rules."""

    code: ClassVar[str] = "malformed"


class FrameTooLarge(WireError):
    """A frame (or its declared length) is above ``WireLimits.max_frame_bytes``."""

    code: ClassVar[str] = "too_large"


class ChecksumMismatch(WireError):
    """A chunk's raw payload does not match the CRC-32 its sender declared."""

    code: ClassVar[str] = "checksum"


class DecompressionBomb(WireError):
    """A chunk would expand beyond its declared ``raw_len`` or ``WireLimits.max_raw_bytes``."""

    code: ClassVar[str] = "bomb"


class UnsupportedProtocol(WireError):
    """The peer speaks a protocol version this side does not."""

    code: ClassVar[str] = "protocol"
