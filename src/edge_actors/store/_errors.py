"""Errors of the store layer (``edge_actors.store``).

Every condition the store refuses on purpose has its own class under :class:`StoreError`,
so callers (the daemon, the transfer receiver) can map each one to an HTTP status or a
peer-stream error code without parsing messages. Messages name the offending value.
"""

from __future__ import annotations

from edge_actors.errors import EdgeActorsError

__all__ = [
    "InvalidRecord",
    "InvalidWorkloadName",
    "SnapshotExists",
    "SnapshotRefused",
    "StoreClosed",
    "StoreError",
    "StoreFull",
    "WorkloadExists",
    "WorkloadNotFound",
]


class StoreError(EdgeActorsError):
    """Base class of the store layer's errors; also raised when SQLite itself fails."""


class InvalidWorkloadName(StoreError, ValueError):
    """A workload name does not match ``^[a-z0-9][a-z0-9._-]{0,62}$`` or contains ``..``."""


class WorkloadNotFound(StoreError, LookupError):
    """No workload of that name exists (no store file, or not in the registry)."""


class WorkloadExists(StoreError):
    """A workload of that name already exists where a new one was to be created."""


class InvalidRecord(StoreError, ValueError):
    """A key, value, change or scan argument is malformed (the message says which)."""


class StoreClosed(StoreError):
    """The store (or registry) was closed; no further reads or writes are possible."""


class StoreFull(StoreError):
    """The disk under the store is full (SQLite's ``SQLITE_FULL``, the OS's ``ENOSPC``).

    Nothing was written (the transaction was rolled back); the same write succeeds once
    space is freed, so callers answer "insufficient storage" rather than a server error.
    """


class SnapshotExists(StoreError, FileExistsError):
    """The file a snapshot was to be exported to (or one of its ``-wal``, ``-shm`` or
    ``-journal`` side files) already exists; it is left untouched."""


class SnapshotRefused(StoreError):
    """A snapshot file was not installed: the target is not empty, or the file failed a
    check (the message names the check and, where they differ, both values).

    Raised before the installed store is touched: the target stays as it was (open and
    usable) and the snapshot file stays where it was (the caller deletes it).
    """
