"""The read side of one workload store: pooled read-only SQLite connections.

Store layer. WAL mode lets readers run beside the writer, so gets, delta scans and full
digest scans never wait for a commit and never block one. Each read runs in a worker
thread of the registry's shared limiter (so thousands of stores never mean thousands of
threads) holding one of the store's :data:`READERS_PER_STORE` tokens; the thread takes
an idle connection of the store or opens one within the registry's
:class:`~._budget.FdBudget`, and parks it afterwards, where the budget may close it
(least recently used first) when another connection needs the room.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager, suppress
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import anyio

from edge_actors.wire import Change

from ._errors import StoreClosed, StoreError
from ._models import StoreStats
from ._schema import READER_CACHE_KIB, connect_reader, live_totals, shrink_cache

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from ._budget import Closer, FileFds
    from ._models import Durability
    from ._resources import StoreResources

__all__ = ["READERS_PER_STORE", "ReadPool", "read_full_stats", "read_get", "read_scan"]

T = TypeVar("T")

READERS_PER_STORE = 4
"""Most reads of one store running at once (and most read connections it keeps)."""

_SCAN_STEPS = threading.Lock()
"""Held while a page of changes is read, in every store of the process.

A page is read one row per SQLite step, and Python's ``sqlite3`` releases the GIL
around each step. Two or three copies read at once in worker threads (a wide plan's
source) then hand the GIL back and forth at every row: here that tripled the CPU of a
page (32 against 11 ms per 10 MB store) and made the pages slower in wall time too.
Pages read one at a time cost what one alone costs; a page takes about 1 ms per 1,000
records of 1 KB, which bounds any other read's wait."""


class _Reader:
    """One open read connection and the cache size last set on it."""

    __slots__ = ("cache_kib", "conn", "key")

    def __init__(self, conn: sqlite3.Connection, key: int, cache_kib: int) -> None:
        self.conn = conn
        self.key = key
        self.cache_kib = cache_kib


class ReadPool:
    """The read connections of one store file, each used by one thread at a time."""

    def __init__(
        self,
        path: Path,
        name: str,
        durability: Durability,
        resources: StoreResources,
        file: FileFds,
    ) -> None:
        self._path = path
        self._name = name
        self._durability: Durability = durability
        self._resources = resources
        self._budget = resources.budget
        self._file = file
        self._limiter = anyio.CapacityLimiter(READERS_PER_STORE)
        self._lock = threading.Lock()  # guards _free and _closed; never held while waiting
        self._free: list[_Reader] = []
        self._closed = False

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in a worker thread with a pooled read connection.

        Cancellation: the caller stops waiting; the thread finishes its (read-only) query
        and parks the connection.

        Raises:
            StoreClosed: The pool was closed.
            StoreError: SQLite failed.
        """
        async with self._limiter:
            return await anyio.to_thread.run_sync(
                partial(self._run, fn), limiter=self._resources.limiter
            )

    @contextmanager
    def lease_nowait(self) -> Iterator[sqlite3.Connection | None]:
        """Lend a connection for a background job, ``None`` if none can be had right now.

        Never waits for the descriptor budget (a checkpoint is tried again later); lends
        nothing once the pool is closed. Blocking; for worker threads.
        """
        reader = self._take(wait=False)
        try:
            yield None if reader is None else reader.conn
        finally:
            if reader is not None:
                self._give_back(reader)

    async def aclose(self) -> None:
        """Wait for running reads to finish, then close every connection.

        Cancellation: shielded; the pool is always fully closed when this returns.
        """
        if self._limiter.borrowed_tokens == 0 and self._close_if_empty():
            return  # nothing open: no thread hop (a registry closes thousands of stores)
        with anyio.CancelScope(shield=True):
            borrowers = [object() for _ in range(READERS_PER_STORE)]
            for borrower in borrowers:
                await self._limiter.acquire_on_behalf_of(borrower)
            try:
                await anyio.to_thread.run_sync(self._close_all)
            finally:
                for borrower in borrowers:
                    self._limiter.release_on_behalf_of(borrower)

    def _close_if_empty(self) -> bool:
        """Close the pool if it holds no idle connection (a lent one is closed on return)."""
        with self._lock:
            if self._free:
                return False
            self._closed = True
            return True

    def _close_all(self) -> None:
        with self._lock:
            self._closed = True
            readers, self._free = self._free, []
            taken = [r for r in readers if self._budget.unpark(r.key)]
        for reader in taken:  # every idle one is parked (detaching removes it from _free)
            self._close(reader)

    def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        reader = self._take(wait=True)
        assert reader is not None
        try:
            return fn(reader.conn)
        except sqlite3.Error as exc:
            raise StoreError(f"read from {str(self._path)!r} failed: {exc}") from exc
        finally:
            if reader.conn.in_transaction:
                with suppress(sqlite3.Error):  # nothing to undo in a read
                    reader.conn.execute("ROLLBACK")
            self._give_back(reader)

    def _take(self, *, wait: bool) -> _Reader | None:
        """Take an idle connection of this store, or open one within the budget."""
        with self._lock:
            if self._closed:
                if not wait:
                    return None
                raise StoreClosed(f"workload store {self._name!r} is closed")
            while self._free:
                reader = self._free.pop()
                if self._budget.unpark(reader.key):
                    break
            else:
                reader = None
        if reader is None:
            if wait:
                self._budget.reserve(self._file)
            elif not self._budget.try_reserve(self._file):
                return None
            try:
                share = self._budget.cache_share_kib(READER_CACHE_KIB)
                conn = connect_reader(self._path, self._durability, cache_kib=share)
            except BaseException:
                self._budget.release(self._file)
                raise
            return _Reader(conn, self._budget.new_key(), share)
        share = self._budget.cache_share_kib(READER_CACHE_KIB)
        if share != reader.cache_kib:
            reader.conn.execute(f"PRAGMA cache_size = -{share}")
            reader.cache_kib = share
        return reader

    def _give_back(self, reader: _Reader) -> None:
        with self._lock:
            if not self._closed:
                self._free.append(reader)
                self._budget.park(
                    reader.key,
                    partial(self._detach, reader),
                    self._file,
                    shrink=partial(self._shrink, reader),
                    cache_kib=reader.cache_kib,
                    cap_kib=READER_CACHE_KIB,
                )
                return
        self._close(reader)

    def _detach(self, reader: _Reader) -> Closer | None:
        """Hand ``reader`` to the budget for closing (budget lock held; never blocks)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if reader not in self._free:
                return None
            self._free.remove(reader)
        finally:
            self._lock.release()
        return reader.conn.close

    def _shrink(self, reader: _Reader, kib: int) -> bool:
        """Lower an idle connection's cache to ``kib`` KiB (budget housekeeping)."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if reader not in self._free:
                return False  # taken into use (or closed) meanwhile
            if not shrink_cache(reader.conn, kib):
                return False
            reader.cache_kib = kib
            return True
        finally:
            self._lock.release()

    def _close(self, reader: _Reader) -> None:
        try:
            reader.conn.close()
        finally:
            self._budget.release(self._file)


def read_get(conn: sqlite3.Connection, key: str) -> tuple[bytes, int] | None:
    """Return ``(value, lsn)`` of a live record, or ``None`` if absent or a tombstone."""
    row = conn.execute("SELECT value, lsn FROM records WHERE key = ?", (key,)).fetchone()
    if row is None or row[0] is None:
        return None
    return row[0], row[1]


def read_scan(
    conn: sqlite3.Connection,
    after_lsn: int,
    upto_lsn: int | None,
    limit: int,
    max_bytes: int,
    *,
    alone: bool = True,
) -> list[Change]:
    """Return up to ``limit`` changes with LSN in ``(after_lsn, upto_lsn]``, by LSN.

    Stops early once the keys and values read reach ``max_bytes`` (at least one change
    is always returned when there is one), so a page of huge values stays bounded.
    With ``alone``, no other page of the process is read meanwhile (:data:`_SCAN_STEPS`).
    """
    if not alone:
        return _read_page(conn, after_lsn, upto_lsn, limit, max_bytes)
    with _SCAN_STEPS:
        return _read_page(conn, after_lsn, upto_lsn, limit, max_bytes)


def _read_page(
    conn: sqlite3.Connection, after_lsn: int, upto_lsn: int | None, limit: int, max_bytes: int
) -> list[Change]:
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
        records, nbytes, digest = live_totals(conn)
    finally:
        conn.execute("COMMIT")
    return StoreStats(records=records, bytes=nbytes, lsn=lsn, digest=digest)
