"""Value types returned by the store layer."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["Durability", "StoreStats"]

Durability = Literal["normal", "full"]
"""``"normal"``: SQLite ``synchronous=NORMAL`` in WAL mode; an acknowledged write survives a
crash of the process (SIGKILL), not necessarily a power loss. ``"full"``:
``synchronous=FULL``; every commit is fsynced, so it also survives a power loss."""


class StoreStats(msgspec.Struct, frozen=True):
    """A consistent snapshot of a workload's size, position and content digest.

    Attributes:
        records: Number of live records (tombstones excluded).
        bytes: Sum of ``len(key.encode("utf-8")) + len(value)`` over live records: the
            logical payload size, not the file size on disk.
        lsn: The workload LSN: the highest LSN written or applied (0 when empty).
        digest: The order-independent content digest, 64 hex digits (see
            :func:`~edge_actors.store.WorkloadStore.compute_digest`).
    """

    records: int
    bytes: int
    lsn: int
    digest: str
