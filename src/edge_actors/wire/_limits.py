"""Size limits every decoder enforces before it allocates (layer: wire).

One :class:`WireLimits` is shared by both ends of a stream; the sender's codec refuses to
build what the receiver would refuse to read.
"""

from __future__ import annotations

import msgspec

from edge_actors.errors import ConfigError

__all__ = ["DEFAULT_LIMITS", "WireLimits"]

_MiB = 1024 * 1024
_LENGTH_PREFIX_MAX = 2**32 - 1


class WireLimits(msgspec.Struct, frozen=True):
    """Bounds on what a peer may make this side hold in memory.

    Attributes:
        max_frame_bytes: Largest encoded frame accepted (and its length prefix); at most
            ``2**32 - 1`` since the prefix is 4 bytes.
        max_raw_bytes: Largest decompressed chunk payload (``Chunk.raw_len``).
        max_chunk_changes: Most ``Change`` records one chunk may carry; bounds the Python
            objects a small payload of tiny records can turn into.
    """

    max_frame_bytes: int = 16 * _MiB
    max_raw_bytes: int = 64 * _MiB
    max_chunk_changes: int = 1_000_000

    def __post_init__(self) -> None:
        """Refuse limits that cannot work, naming the field and the value."""
        for field, value, top in (
            ("max_frame_bytes", self.max_frame_bytes, _LENGTH_PREFIX_MAX),
            ("max_raw_bytes", self.max_raw_bytes, None),
            ("max_chunk_changes", self.max_chunk_changes, None),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"WireLimits.{field}: must be a positive int, got {value!r}")
            if top is not None and value > top:
                raise ConfigError(f"WireLimits.{field}: {value} is above the maximum {top}")


DEFAULT_LIMITS = WireLimits()
"""16 MiB frames, 64 MiB decompressed chunks, a million changes per chunk."""
