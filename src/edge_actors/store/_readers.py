"""The read side of one workload store: a small pool of read-only SQLite connections.

Store layer. WAL mode lets readers run beside the writer, so gets, delta scans and full
digest scans never wait for a commit and never block one. Each read runs in a worker
thread holding one token of the pool's :class:`anyio.CapacityLimiter`; a thread borrows
a connection (opened lazily, at most ``size`` of them) and gives it back afterwards.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import suppress
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import anyio

from edge_actors.wire import Change

from ._digest import DIGEST_MODULUS, digest_hex, record_hash
from ._errors import StoreClosed, StoreError
from ._models import StoreStats
from ._schema import connect_reader

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["ReadPool", "read_full_stats", "read_get", "read_scan"]

T = TypeVar("T")


class ReadPool:
    """Up to ``size`` read connections to one store file, each used by one thread at a time."""

    def __init__(self, path: Path, name: str, size: int = 4) -> None:
        self._path = path
        self._name = name
        self._size = size
        self._limiter = anyio.CapacityLimiter(size)
        self._lock = threading.Lock()
        self._free: list[sqlite3.Connection] = []
        self._closed = False

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in a worker thread with a pooled read connection.

        Cancellation: the caller stops waiting; the thread finishes its (read-only) query
        and returns the connection to the pool.

        Raises:
            StoreClosed: The pool was closed.
            StoreError: SQLite failed.
        """
        return await anyio.to_thread.run_sync(partial(self._run, fn), limiter=self._limiter)

    async def aclose(self) -> None:
        """Wait for running reads to finish, then close every connection.

        Cancellation: shielded; the pool is always fully closed when this returns.
        """
        with anyio.CancelScope(shield=True):
            borrowers = [object() for _ in range(self._size)]
            for borrower in borrowers:
                await self._limiter.acquire_on_behalf_of(borrower)
            try:
                with self._lock:
                    self._closed = True
                    conns, self._free = self._free, []
                for conn in conns:
                    conn.close()
            finally:
                for borrower in borrowers:
                    self._limiter.release_on_behalf_of(borrower)

    def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            if self._closed:
                raise StoreClosed(f"workload store {self._name!r} is closed")
            conn = self._free.pop() if self._free else None
        try:
            if conn is None:
                conn = connect_reader(self._path)
            return fn(conn)
        except sqlite3.Error as exc:
            raise StoreError(f"read from {str(self._path)!r} failed: {exc}") from exc
        finally:
            if conn is not None:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):  # nothing to undo in a read
                        conn.execute("ROLLBACK")
                with self._lock:
                    self._free.append(conn)


def read_get(conn: sqlite3.Connection, key: str) -> tuple[bytes, int] | None:
    """Return ``(value, lsn)`` of a live record, or ``None`` if absent or a tombstone."""
    row = conn.execute("SELECT value, lsn FROM records WHERE key = ?", (key,)).fetchone()
    if row is None or row[0] is None:
        return None
    return row[0], row[1]


def read_scan(
    conn: sqlite3.Connection, after_lsn: int, upto_lsn: int | None, limit: int, max_bytes: int
) -> list[Change]:
    """Return up to ``limit`` changes with LSN in ``(after_lsn, upto_lsn]``, by LSN.

    Stops early once the keys and values read reach ``max_bytes`` (at least one change
    is always returned when there is one), so a page of huge values stays bounded.
    """
    if upto_lsn is None:
        cursor = conn.execute(
            "SELECT lsn, key, value FROM records WHERE lsn > ? ORDER BY lsn LIMIT ?",
            (after_lsn, limit),
        )
    else:
        cursor = conn.execute(
            "SELECT lsn, key, value FROM records WHERE lsn > ? AND lsn <= ? ORDER BY lsn LIMIT ?",
            (after_lsn, upto_lsn, limit),
        )
    changes: list[Change] = []
    size = 0
    try:
        for lsn, key, value in cursor:
            changes.append(Change(lsn=lsn, key=key, value=value))
            size += len(key.encode("utf-8")) + (0 if value is None else len(value))
            if size >= max_bytes:
                break
    finally:
        cursor.close()
    return changes


def read_full_stats(conn: sqlite3.Connection) -> StoreStats:
    """Recompute records, bytes and digest by scanning every live record.

    The scan and the LSN come from one read transaction, so they describe the same
    committed state.
    """
    conn.execute("BEGIN")
    try:
        lsn = conn.execute("SELECT lsn FROM meta WHERE id = 1").fetchone()[0]
        records = nbytes = digest = 0
        cursor = conn.execute("SELECT key, value FROM records WHERE value IS NOT NULL")
        for key, value in cursor:
            key_utf8 = key.encode("utf-8")
            records += 1
            nbytes += len(key_utf8) + len(value)
            digest += record_hash(key_utf8, value)
    finally:
        conn.execute("COMMIT")
    return StoreStats(
        records=records, bytes=nbytes, lsn=lsn, digest=digest_hex(digest % DIGEST_MODULUS)
    )
