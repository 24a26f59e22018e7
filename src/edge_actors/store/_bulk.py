"""Bulk apply: a copy into an empty store fills it with a rollback journal (store layer).

A copy's first chunk lands in an empty store (round 0 of a migration). In WAL mode every
page of such a fill is written twice (into the WAL, then the checkpoint copies it into
the database file): about a third of a target's SQLite CPU per record. So the first
apply into an empty store, when its caller says the store is an ``incoming`` copy (the
daemon's peer stream does; ``apply_changes(..., bulk=True)``), switches the write
connection to a rollback journal
(``journal_mode = TRUNCATE``) while only applies come: pages appended to the file need
no journal, so each page is written once.

Durability. Commits stay atomic and survive a process crash: one that a crash
interrupts is rolled back from the hot journal when the file is next opened, so an ack
sent after an apply still means what it meant. A ``normal`` store also stops syncing
during the fill (``synchronous = OFF``: a rollback journal would otherwise fsync twice
per commit, where a WAL commit does not) and syncs the file once when the fill ends, so
from then on it is as durable as before; until then an operating-system crash or power
loss may leave the incoming copy unusable (it is not active yet, and the migration's
digest check refuses a copy that differs). A ``full`` store keeps ``synchronous =
FULL`` throughout.

Writeback while filling. Left to the kernel, the fill's dirty pages are written back
only when that sync comes (about 0.07 s per 100 MB here, waited for before the ack of
the transfer's ``Done`` and so before the next round can start). So every
:data:`WRITEBACK_BYTES` the file grows, a ``normal`` fill asks the kernel to start
writing the dirty pages back (Linux ``sync_file_range(SYNC_FILE_RANGE_WRITE)``: it
starts the I/O and does not wait for it) and the fill goes on while the disk works; the
sync at the end then waits only for the tail. It changes when pages reach the disk,
never what is durable when: the end's sync is the same. Where the call is missing (not
Linux), nothing is started and the end's sync does it all.

Page cache after the fill. Once synced, the fill's pages are dropped from the kernel's
page cache (``POSIX_FADV_DONTNEED``): a copy's bulk pages are not read again soon (the
store's own SQLite cache keeps what its next writes touch), and the memory freed goes to
the next fill at once. On this project's test machines (Firecracker VMs with free page
reporting, ``page_reporting_order=11``) memory freed and left alone is handed back to the
host within seconds, and the next write into it costs a host fault for every page: in a
100 x 10 MB wide plan that made the kernel's ``pwrite`` copy 15-20 % of the target's CPU,
against 1-2 % when freed page cache was being reused (``docs/benchmarks.md``, session 9).

The fill ends (back to WAL mode, the file synced) when the receiver says so (the
transfer's ``Done``, the stream's end), before any local write, and when the store
closes; the descriptor budget does not close a filling connection. After a crash, the
next open sets WAL mode. If another connection has the file open in WAL mode, SQLite refuses the
switch at once and the apply runs in WAL mode as before; if it cannot switch back (a
reader holds the file), the fill goes on, as durable, until the next attempt.
:class:`~._writer.WriteSide` owns the state (whether its connection is filling).
"""

from __future__ import annotations

import ctypes
import os
import sqlite3
import sys
from typing import TYPE_CHECKING

from ._schema import synchronous_level

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from structlog.typing import FilteringBoundLogger

    from ._models import Durability

__all__ = [
    "WRITEBACK_BYTES",
    "Writeback",
    "begin_bulk",
    "end_bulk",
    "start_writeback",
    "sync_and_drop",
]

WRITEBACK_BYTES = 8 * 1024 * 1024
"""How much a filling file grows between two writeback starts (see the module docstring)."""

_SYNC_FILE_RANGE_WRITE = 2  # <fcntl.h>: start writeback of dirty pages, do not wait


def _load_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Linux ``sync_file_range`` from the C library, or ``None`` where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        func = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    func.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    func.restype = ctypes.c_int
    sync_file_range: Callable[[int, int, int, int], int] = func
    return sync_file_range


_sync_file_range = _load_sync_file_range()


def start_writeback(fd: int, offset: int, nbytes: int) -> bool:
    """Ask the kernel to start writing back the dirty pages of ``nbytes`` from ``offset``
    of the open file ``fd`` (``0`` bytes: to its end), without waiting for the I/O;
    whether it did. Best effort: where the call is missing or fails, the file's later
    sync does it all."""
    if _sync_file_range is None:
        return False
    return _sync_file_range(fd, offset, nbytes, _SYNC_FILE_RANGE_WRITE) == 0


class Writeback:
    """Starts the kernel's writeback of a filling file every :data:`WRITEBACK_BYTES`.

    Owned by the write side, called with its transaction lock held (one thread at a time).

    Args:
        path: the store's database file.
    """

    __slots__ = ("_done_to", "_path", "started")

    def __init__(self, path: Path) -> None:
        self._path = path
        self._done_to = 0
        self.started = 0
        """Writebacks started so far (for tests and diagnostics)."""

    @staticmethod
    def available() -> bool:
        """Whether this platform can start a writeback without waiting for it."""
        return _sync_file_range is not None

    def after_commit(self) -> None:
        """Start writing the dirty pages back once the file grew enough since the last start.

        Best effort: a failure is not an error (the end of the fill syncs everything).
        """
        if _sync_file_range is None:
            return
        try:
            size = os.stat(self._path).st_size
            if size - self._done_to < WRITEBACK_BYTES:
                return
            fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                # the whole file: a fill also rewrites B-tree pages far from its end
                failed = not start_writeback(fd, 0, 0)
            finally:
                os.close(fd)
        except OSError:
            return
        if not failed:
            self._done_to = size
            self.started += 1


def begin_bulk(conn: sqlite3.Connection, durability: Durability, log: FilteringBoundLogger) -> bool:
    """Switch an idle write connection to a rollback journal; whether it did. Blocking."""
    try:
        mode = conn.execute("PRAGMA journal_mode = TRUNCATE").fetchone()[0]
        if mode != "truncate":
            return False
        if durability == "normal":
            conn.execute("PRAGMA synchronous = OFF")
    except sqlite3.Error as exc:  # e.g. another connection has the WAL open: stay in WAL
        log.debug("bulk_apply_refused", error=str(exc))
        return False
    log.debug("bulk_apply_begun")
    return True


def end_bulk(
    conn: sqlite3.Connection, path: Path, durability: Durability, log: FilteringBoundLogger
) -> bool:
    """Sync the file, then switch the idle connection back to WAL mode; whether it did."""
    try:
        sync_and_drop(path)  # the fill's pages, before WAL commits build on them
        conn.execute(f"PRAGMA synchronous = {synchronous_level(durability)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    except (sqlite3.Error, OSError) as exc:  # e.g. a reader holds the file: try again later
        log.warning("bulk_apply_end_deferred", error=str(exc))
        return False
    if mode != "wal":
        log.warning("bulk_apply_end_deferred", journal_mode=mode)
        return False
    log.debug("bulk_apply_ended")
    return True


def sync_and_drop(path: Path) -> None:
    """Flush the file at ``path`` to disk (any descriptor of a file syncs all its pages),
    then drop its pages, clean now, from the page cache (module doc; where
    ``posix_fadvise`` is missing nothing is dropped). Also used for a received snapshot
    file once it is verified (:func:`._snapshot.verify_snapshot`), for the same reason."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
