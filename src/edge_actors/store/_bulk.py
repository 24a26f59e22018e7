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

The fill ends (back to WAL mode, the file synced) when the receiver says so (the
transfer's ``Done``, the stream's end), before any local write, and when the store
closes; the descriptor budget does not close a filling connection. After a crash, the
next open sets WAL mode. If another connection has the file open in WAL mode, SQLite refuses the
switch at once and the apply runs in WAL mode as before; if it cannot switch back (a
reader holds the file), the fill goes on, as durable, until the next attempt.
:class:`~._writer.WriteSide` owns the state (whether its connection is filling).
"""

from __future__ import annotations

import os
import sqlite3
from typing import TYPE_CHECKING

from ._schema import synchronous_level

if TYPE_CHECKING:
    from pathlib import Path

    from structlog.typing import FilteringBoundLogger

    from ._models import Durability

__all__ = ["begin_bulk", "end_bulk"]


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
        _fsync(path)  # the fill's unsynced pages, before WAL commits build on them
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


def _fsync(path: Path) -> None:
    """Flush the file at ``path`` to disk (any descriptor of a file syncs all its pages)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
