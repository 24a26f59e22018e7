"""The ``Change`` record: one key's latest state at an LSN (layer: wire; no project imports).

The store builds and applies these, the codec packs them into chunks. Kept free of any
other edge_actors import so the store (above wire) and the wire layer share one type.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["LSN_MAX", "Change", "Lsn"]

LSN_MAX = 2**62
"""Largest LSN the protocol carries and a store applies.

Far below SQLite's signed 64-bit INTEGER limit (2**63-1), so a workload at ``LSN_MAX``
can still take every later local write (the next LSN is never unstorable); far beyond any
real history (a million writes a second for 146,000 years).
"""

Lsn = Annotated[int, msgspec.Meta(ge=0, le=LSN_MAX)]
"""An LSN at a boundary (frames, admin bodies, transfer specs): ``0..LSN_MAX``."""


class Change(msgspec.Struct, frozen=True, array_like=True):
    """A key's state at ``lsn``: ``value`` is the new bytes, or ``None`` for a tombstone.

    Encoded as a 3-element msgpack array ``[lsn, key, value]`` to keep chunks small.
    """

    lsn: Lsn
    key: str
    value: bytes | None
