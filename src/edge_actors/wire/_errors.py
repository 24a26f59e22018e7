"""Errors of the peer-stream protocol (layer: wire; imports ``edge_actors.errors`` and msgspec).

Every refusal of the wire layer is a :class:`WireError`. Each subclass carries a stable
``code`` so the side that refuses a frame can tell its peer why in an ``ErrorFrame``.
"""

from __future__ import annotations

import re
from typing import ClassVar

import msgspec

from edge_actors.errors import EdgeActorsError

__all__ = [
    "ChecksumMismatch",
    "DecompressionBomb",
    "FrameTooLarge",
    "MalformedFrame",
    "UnsupportedProtocol",
    "WireError",
    "describe_decode_error",
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
    """A chunk's raw payload does not match the checksum its sender declared."""

    code: ClassVar[str] = "checksum"


class DecompressionBomb(WireError):
    """A chunk would expand beyond its declared ``raw_len`` or ``WireLimits.max_raw_bytes``."""

    code: ClassVar[str] = "bomb"


class UnsupportedProtocol(WireError):
    """The peer speaks a protocol version this side does not."""

    code: ClassVar[str] = "protocol"


_FIELD_PATH = re.compile(r"at `\$\.?(?P<path>[^`]*)`")


def describe_decode_error(exc: Exception) -> str:
    """Say in the project's words why msgpack bytes did not decode.

    msgspec's wording changes between releases (0.23 turned a ``UnicodeDecodeError`` into
    its own ``DecodeError("Invalid UTF-8 encoded string")``), so every wire refusal names
    the cause in one of a few stable phrases and keeps the dependency's text after a colon
    only as detail: ``invalid UTF-8 in a string``, ``invalid field `PATH` ``, ``wrong
    shape``, ``not msgpack``.
    """
    detail = str(exc)
    if isinstance(exc, UnicodeDecodeError) or "utf-8" in detail.lower():
        return "invalid UTF-8 in a string"
    if isinstance(exc, msgspec.ValidationError):
        match = _FIELD_PATH.search(detail)
        if match is not None and match["path"]:
            return f"invalid field `{match['path']}`: {detail}"
        return f"wrong shape: {detail}"
    return f"not msgpack: {detail}"
