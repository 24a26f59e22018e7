"""The registry's catalog: each workload's last known totals, so start-up opens no store.

Store layer. One small SQLite file, ``<data_dir>/store-catalog.sqlite``, with one row per
workload: its :class:`StoreStats` as of the moment its writer connection last closed,
and a ``clean`` flag. A store's own ``meta`` row stays the truth; the catalog is a copy
that is trusted only when it is known to be current:

- before a store's writer connection opens (and so before any write), its row is marked
  not clean; when the writer closes, the final totals are written and the row is marked
  clean again (both before the connection is handed on, under the writer's lock);
- at start-up, a store whose row is missing or not clean (a crash while it was open, or
  a data directory from before the catalog) is opened once to read its ``meta``;
- the catalog's ``PRAGMA user_version`` is the digest version of its rows
  (:data:`~._digest.DIGEST_VERSION`): rows of another version are dropped when the file
  opens, so each store is opened once and its own file upgraded before its totals count.

Blocking and thread-safe (one connection, one lock); called from worker threads.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import TYPE_CHECKING

from edge_actors._private_files import create_private

from ._digest import DIGEST_VERSION
from ._errors import StoreError
from ._models import StoreStats

if TYPE_CHECKING:
    from pathlib import Path

    from ._models import Durability

__all__ = ["CATALOG_FILE", "Catalog"]

CATALOG_FILE = "store-catalog.sqlite"
"""The catalog's file name in the data directory (outside ``workloads/``)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS workloads (
    name    TEXT PRIMARY KEY NOT NULL,
    records INTEGER NOT NULL,
    bytes   INTEGER NOT NULL,
    lsn     INTEGER NOT NULL,
    digest  TEXT NOT NULL,
    clean   INTEGER NOT NULL
)
"""


class Catalog:
    """The catalog file of one registry (see the module docstring)."""

    def __init__(self, path: Path, durability: Durability) -> None:
        """Open (or create) the catalog at ``path``. Blocking.

        Raises:
            StoreError: SQLite could not open or create it.
        """
        self._path = path
        self._lock = threading.Lock()
        try:
            create_private(path)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open store catalog {str(path)!r}: {exc}") from exc
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {'FULL' if durability == 'full' else 'NORMAL'}")
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute(_SCHEMA)
            _drop_rows_of_another_digest(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"cannot use store catalog {str(path)!r}: {exc}") from exc
        self._conn: sqlite3.Connection | None = conn

    def load(self) -> dict[str, StoreStats]:
        """Return the totals of every workload whose row is clean."""
        with self._lock:
            rows = self._live().execute(
                "SELECT name, records, bytes, lsn, digest FROM workloads WHERE clean = 1"
            )
            return {
                name: StoreStats(records=records, bytes=nbytes, lsn=lsn, digest=digest)
                for name, records, nbytes, lsn, digest in rows
            }

    def mark_open(self, name: str, stats: StoreStats) -> None:
        """Record that ``name``'s writer is about to open: its row is no longer trusted."""
        self._put(name, stats, clean=False)

    def mark_closed(self, name: str, stats: StoreStats) -> None:
        """Record ``name``'s final totals after its writer connection's last commit."""
        self._put(name, stats, clean=True)

    def forget(self, name: str) -> None:
        """Delete ``name``'s row (the workload was dropped)."""
        with self._lock:
            self._execute("DELETE FROM workloads WHERE name = ?", (name,))

    def close(self) -> None:
        """Close the catalog's connection. Idempotent."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _put(self, name: str, stats: StoreStats, *, clean: bool) -> None:
        with self._lock:
            self._execute(
                "INSERT OR REPLACE INTO workloads (name, records, bytes, lsn, digest, clean) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (name, stats.records, stats.bytes, stats.lsn, stats.digest, int(clean)),
            )

    def _execute(self, sql: str, args: tuple[object, ...]) -> None:
        try:
            self._live().execute(sql, args)
        except sqlite3.Error as exc:
            raise StoreError(f"store catalog {str(self._path)!r} failed: {exc}") from exc

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"store catalog {str(self._path)!r} is closed")
        return self._conn


def _drop_rows_of_another_digest(conn: sqlite3.Connection) -> None:
    """Forget every row if the catalog's digests are not of :data:`DIGEST_VERSION`."""
    if conn.execute("PRAGMA user_version").fetchone()[0] == DIGEST_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM workloads")
        conn.execute(f"PRAGMA user_version = {DIGEST_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
