"""The ``Change`` record: one key's latest state at an LSN (layer: wire; no project imports).

The store builds and applies these, the codec packs them into chunks. Kept free of any
other edge_actors import so the store (above wire) and the wire layer share one type.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["LSN_MAX", "Change"]

LSN_MAX = 2**63 - 1
"""Largest LSN the protocol carries (SQLite's signed 64-bit INTEGER)."""


class Change(msgspec.Struct, frozen=True, array_like=True):
    """A key's state at ``lsn``: ``value`` is the new bytes, or ``None`` for a tombstone.

    Encoded as a 3-element msgpack array ``[lsn, key, value]`` to keep chunks small.
    """

    lsn: Annotated[int, msgspec.Meta(ge=0, le=LSN_MAX)]
    key: str
    value: bytes | None
