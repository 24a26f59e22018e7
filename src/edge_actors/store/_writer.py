"""The write side of one workload store: one SQLite connection, used from worker threads.

Store layer. Every method here blocks and must run in a worker thread, one call at a
time (:class:`~edge_actors.store.WorkloadStore` serialises them with its write lock).
Each call is one ``BEGIN IMMEDIATE ... COMMIT`` transaction that updates the records and
the ``meta`` row (LSN, live count, live bytes, digest accumulator) together, so the
digest is always exact for the committed state. The in-memory copy of ``meta`` changes
only after ``COMMIT`` returns; a failed transaction is rolled back and leaves it as it was.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from edge_actors.clock import SYSTEM_CLOCK, Clock

from ._checkpointer import Checkpointer
from ._digest import DIGEST_MODULUS, digest_hex, sum_record_hashes
from ._errors import StoreError, StoreFull
from ._models import Durability, StoreStats
from ._schema import connect_writer

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from pathlib import Path

    from ._records import PreparedChange

__all__ = ["WriteSide"]

_UPSERT = (
    "INSERT INTO records (key, value, lsn) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, lsn = excluded.lsn"
)
_UPDATE_META = "UPDATE meta SET lsn = ?, records = ?, bytes = ?, digest = ? WHERE id = 1"
_LOOKUP_CHUNK = 500  # keys per "WHERE key IN (...)" query, well below SQLite's variable limit
_INSERT_NEW = "INSERT INTO records (key, value, lsn) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING"
_PROBE = "SELECT 1 FROM records WHERE key IN (?, ?, ?) LIMIT 1"
_FAST_MIN = 8  # smaller batches take the general path (the probe would not pay off)


_Live = tuple[bytes, bytes]  # (key_utf8, value) of a live record


class _Totals:
    """Mutable running totals of a transaction in progress (copied from ``meta``)."""

    __slots__ = ("bytes", "changed", "digest", "lsn", "records")

    def __init__(self, lsn: int, records: int, nbytes: int, digest: int) -> None:
        self.lsn = lsn
        self.records = records
        self.bytes = nbytes
        self.digest = digest
        self.changed = False  # whether any record row was written in this transaction

    def replace_all(self, removed: list[_Live], added: list[_Live]) -> None:
        """Account for live records going away (``removed``) and arriving (``added``).

        The same terms as one :func:`record_hash` per record, summed in two tight loops.
        A key replaced twice in one batch appears in both lists, which cancels out.
        """
        self.records += len(added) - len(removed)
        self.bytes += sum([len(k) + len(v) for k, v in added]) - sum(
            [len(k) + len(v) for k, v in removed]
        )
        self.digest += sum_record_hashes(added) - sum_record_hashes(removed)

    def normalise(self) -> None:
        """Reduce the digest accumulator modulo 2**256 (once per transaction)."""
        self.digest %= DIGEST_MODULUS


class WriteSide:
    """Owner of a store's write connection and of the committed ``meta`` values."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        durability: Durability,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._path = path
        self._totals = self._read_totals(conn)
        self._tx_lock = threading.Lock()  # held by each write transaction
        self.checkpointer = Checkpointer(path, durability, writer_lock=self._tx_lock, clock=clock)
        """The store's background WAL checkpointer (started by :meth:`open`)."""

    @classmethod
    def open(
        cls,
        path: Path,
        name: str,
        *,
        create: bool,
        durability: Durability,
        clock: Clock = SYSTEM_CLOCK,
    ) -> WriteSide:
        """Open the store file (see :func:`connect_writer`), load ``meta``, start checkpoints."""
        conn = connect_writer(path, name, create=create, durability=durability)
        try:
            side = cls(conn, path, durability, clock=clock)
        except BaseException:
            conn.close()
            raise
        side.checkpointer.start()
        return side

    def stats(self) -> StoreStats:
        """Return the committed totals as a :class:`StoreStats`."""
        t = self._totals
        return StoreStats(records=t.records, bytes=t.bytes, lsn=t.lsn, digest=digest_hex(t.digest))

    def write(self, groups: Sequence[Sequence[tuple[str, bytes | None]]]) -> list[int]:
        """Commit several callers' writes in one transaction (group commit).

        Every op gets the next LSN, in order; ``None`` values are tombstones (also for
        keys that never existed, so deltas carry the delete).

        Returns:
            For each group, the LSN of its last op (the current LSN for an empty group).
        """
        conn = self._live()
        ends: list[int] = []
        rows: dict[str, tuple[bytes | None, int]] = {}
        with self._tx_lock, _transaction(conn, self._path):
            t = self._read_totals(conn)
            current = self._lookup(conn, (key for ops in groups for key, _ in ops))
            removed: list[_Live] = []
            added: list[_Live] = []
            for ops in groups:
                for key, value in ops:
                    t.lsn += 1
                    old = current.get(key)
                    key_utf8 = key.encode("utf-8")
                    if old is not None and old[0] is not None:
                        removed.append((key_utf8, old[0]))
                    if value is not None:
                        added.append((key_utf8, value))
                    current[key] = rows[key] = (value, t.lsn)
                ends.append(t.lsn)
            t.replace_all(removed, added)
            self._store_rows(conn, rows, t)
        self._totals = t
        self.checkpointer.after_commit()
        return ends

    def apply(self, changes: Sequence[PreparedChange]) -> int:
        """Apply changes from another store idempotently; return the new workload LSN.

        ``changes`` come from :func:`~._records.prepare_changes` (validated, keys encoded).
        A change is applied only when its LSN is greater than the key's local LSN; the
        workload LSN becomes ``max(local, max(change LSNs))``. When nothing changes, no
        transaction is written at all.

        Fast path (a fresh target, round 0 of a copy): when none of the batch's keys has
        a row yet, every change applies, so the rows are inserted with ``ON CONFLICT DO
        NOTHING`` and no look-up; the insert's row count proves that no key existed (else
        the attempt is rolled back to a savepoint and the general path runs).
        """
        conn = self._live()
        top = max((c[3] for c in changes), default=0)
        with self._tx_lock, _transaction(conn, self._path):
            t = self._read_totals(conn)
            before = t.lsn
            if not self._apply_new(conn, changes, t):
                self._apply_general(conn, changes, t)
            t.lsn = max(t.lsn, top)
            if t.changed or t.lsn != before:  # else nothing new: a read-only transaction
                t.normalise()
                conn.execute(_UPDATE_META, (t.lsn, t.records, t.bytes, digest_hex(t.digest)))
        self._totals = t
        if t.changed:
            self.checkpointer.after_commit()
        return t.lsn

    def close(self) -> None:
        """Stop the checkpointer, then close the connection.

        SQLite checkpoints the WAL (and removes it) when the last connection closes.
        """
        self.checkpointer.close()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # -- internals -------------------------------------------------------------------

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"store file {str(self._path)!r} is closed")
        return self._conn

    @staticmethod
    def _read_totals(conn: sqlite3.Connection) -> _Totals:
        # Read inside each write transaction rather than trusting a cached copy, so LSNs
        # stay unique and the digest exact even if another connection wrote to the file.
        lsn, records, nbytes, digest = conn.execute(
            "SELECT lsn, records, bytes, digest FROM meta WHERE id = 1"
        ).fetchone()
        return _Totals(lsn, records, nbytes, int(digest, 16))

    @staticmethod
    def _lookup(
        conn: sqlite3.Connection, keys: Iterable[str]
    ) -> dict[str, tuple[bytes | None, int]]:
        """Return ``{key: (value, lsn)}`` for those of ``keys`` that have a row."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, tuple[bytes | None, int]] = {}
        for start in range(0, len(wanted), _LOOKUP_CHUNK):
            chunk = wanted[start : start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT key, value, lsn FROM records WHERE key IN ({marks})"
            for key, value, lsn in conn.execute(sql, chunk):
                found[key] = (value, lsn)
        return found

    @staticmethod
    def _apply_new(conn: sqlite3.Connection, changes: Sequence[PreparedChange], t: _Totals) -> bool:
        """Insert a batch none of whose keys has a row yet; ``False`` (nothing done) if not.

        Keys must be distinct and a probe of three of them must find no row before the
        insert is tried; the insert's row count is the exact check.
        """
        n = len(changes)
        if n < _FAST_MIN:
            return False
        probe = (changes[0][0], changes[n // 2][0], changes[-1][0])
        if conn.execute(_PROBE, probe).fetchone() is not None:
            return False
        if len({c[0] for c in changes}) != n:
            return False
        conn.execute("SAVEPOINT apply_new")
        try:
            inserted = conn.executemany(_INSERT_NEW, [(c[0], c[2], c[3]) for c in changes])
            if inserted.rowcount != n:
                conn.execute("ROLLBACK TO apply_new")
                return False
        finally:
            conn.execute("RELEASE apply_new")
        t.replace_all([], [(k, v) for _, k, v, _ in changes if v is not None])
        t.changed = True
        return True

    def _apply_general(
        self, conn: sqlite3.Connection, changes: Sequence[PreparedChange], t: _Totals
    ) -> None:
        """Look up the batch's keys, then upsert the changes newer than the local rows."""
        rows: dict[str, tuple[bytes | None, int]] = {}
        current = self._lookup(conn, (c[0] for c in changes))
        removed: list[_Live] = []
        added: list[_Live] = []
        for key, key_utf8, value, lsn in changes:
            old = current.get(key)
            if old is not None:
                if lsn <= old[1]:
                    continue
                if old[0] is not None:
                    removed.append((key_utf8, old[0]))
            if value is not None:
                added.append((key_utf8, value))
            current[key] = rows[key] = (value, lsn)
        if rows:
            t.replace_all(removed, added)
            conn.executemany(_UPSERT, [(key, value, lsn) for key, (value, lsn) in rows.items()])
            t.changed = True

    @staticmethod
    def _store_rows(
        conn: sqlite3.Connection, rows: dict[str, tuple[bytes | None, int]], t: _Totals
    ) -> None:
        t.normalise()
        conn.executemany(_UPSERT, [(key, value, lsn) for key, (value, lsn) in rows.items()])
        conn.execute(_UPDATE_META, (t.lsn, t.records, t.bytes, digest_hex(t.digest)))


@contextmanager
def _transaction(conn: sqlite3.Connection, path: Path) -> Iterator[None]:
    """``BEGIN IMMEDIATE``, then ``COMMIT`` on success or ``ROLLBACK`` on any error.

    Raises:
        StoreFull: The disk is full (nothing was written).
        StoreError: SQLite failed otherwise (I/O error, ...); the message names the file.
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise _store_error(f"cannot start a write on {str(path)!r}: {exc}", exc) from exc
    try:
        yield
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        _rollback(conn)
        raise _store_error(f"write to {str(path)!r} failed: {exc}", exc) from exc
    except BaseException:
        _rollback(conn)
        raise


def _store_error(message: str, exc: sqlite3.Error) -> StoreError:
    """:class:`StoreFull` for ``SQLITE_FULL`` (SQLite's VFS reports ``ENOSPC`` so), else
    :class:`StoreError`."""
    if getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_FULL:
        return StoreFull(message)
    return StoreError(message)


def _rollback(conn: sqlite3.Connection) -> None:
    # SQLite may already have rolled back (e.g. after an I/O error): nothing left to undo.
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
