"""Length-prefixed framing of frames over a byte stream (layer: wire; no I/O).

Each frame travels as a 4-byte big-endian length followed by its msgpack body.
:class:`FrameReader` turns arbitrary slices of such a stream back into frames, and refuses
a declared length above the limit as soon as it reads the prefix, before buffering the body.
"""

from __future__ import annotations

from typing import Final

from ._errors import FrameTooLarge, WireError
from ._frames import Frame, decode_frame, encode_frame
from ._limits import DEFAULT_LIMITS, WireLimits

__all__ = ["LENGTH_PREFIX_BYTES", "FrameReader", "frame_bytes"]

LENGTH_PREFIX_BYTES: Final = 4
"""Size of the big-endian length prefix before each frame body."""


def frame_bytes(frame: Frame) -> bytes:
    """Return ``frame`` encoded and prefixed with its 4-byte big-endian length."""
    body = encode_frame(frame)
    return len(body).to_bytes(LENGTH_PREFIX_BYTES, "big") + body


class FrameReader:
    """Reassembles frames from a length-prefixed byte stream fed in arbitrary pieces.

    Partial prefixes and bodies are kept until the rest arrives. A declared length above
    ``limits.max_frame_bytes`` is refused at once (:class:`FrameTooLarge`) and stops the
    reader for good: the stream cannot be resynchronised, so every later :meth:`feed`
    raises too. A body that fails to decode (:class:`MalformedFrame` and friends) is
    dropped whole and the reader stays usable; frames decoded before it in the same
    :meth:`feed` are returned by the next call.

    One reader serves one stream, from one task.
    """

    def __init__(self, *, limits: WireLimits = DEFAULT_LIMITS) -> None:
        """Create an empty reader that enforces ``limits``."""
        self._limits = limits
        self._buffer = bytearray()
        self._ready: list[Frame] = []
        self._broken: FrameTooLarge | None = None

    @property
    def buffered_bytes(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add ``data`` and return every frame it completes, in stream order.

        Raises:
            FrameTooLarge: a prefix declares more than ``max_frame_bytes`` (now or before).
            WireError: a complete body does not decode; see :func:`decode_frame`.
        """
        if self._broken is not None:
            raise FrameTooLarge(f"frame reader stopped by an earlier error: {self._broken}")
        self._buffer += data
        frames, self._ready = self._ready, []
        pos = 0
        try:
            with memoryview(self._buffer) as view:
                while len(view) - pos >= LENGTH_PREFIX_BYTES:
                    length = int.from_bytes(view[pos : pos + LENGTH_PREFIX_BYTES], "big")
                    if length > self._limits.max_frame_bytes:
                        self._broken = FrameTooLarge(
                            f"length prefix declares a {length}-byte frame, above "
                            f"max_frame_bytes {self._limits.max_frame_bytes}"
                        )
                        raise self._broken
                    end = pos + LENGTH_PREFIX_BYTES + length
                    if end > len(view):
                        break
                    start, pos = pos + LENGTH_PREFIX_BYTES, end  # a bad body is consumed too
                    with view[start:end] as body:
                        frames.append(decode_frame(body, limits=self._limits))
        except WireError:
            self._ready = frames
            raise
        finally:
            del self._buffer[:pos]
            if self._broken is not None:
                self._buffer.clear()  # nothing after a refused prefix can be read
        return frames
