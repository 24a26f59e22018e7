"""The write side of one workload store: one SQLite connection, used from worker threads.

Store layer. Every method here blocks and must run in a worker thread, one call at a
time (:class:`~edge_actors.store.WorkloadStore` serialises them with its write lock).
The connection is opened on first use within the registry's
:class:`~._budget.FdBudget` and parked between transactions, so the budget may close
it when the store has been idle longest and another connection needs the room; the
next write opens it again. With a catalog, the connection's opening and closing are
recorded there (see :mod:`._catalog`), so the registry knows every store's totals
without opening it.
Each call is one ``BEGIN IMMEDIATE ... COMMIT`` transaction that updates the records and
the ``meta`` row (LSN, live count, live bytes, digest accumulator) together, so the
digest is always exact for the committed state. The in-memory copy of ``meta`` changes
only after ``COMMIT`` returns; a failed transaction is rolled back and leaves it as it was.

A copy into an empty store runs as a **bulk apply** (rollback journal, pages written once;
see :mod:`._bulk`) until :meth:`WriteSide.end_bulk`, a local write, or the connection closes.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from edge_actors._log import get_logger

from ._bulk import Writeback, begin_bulk, end_bulk
from ._checkpointer import Checkpointer
from ._digest import DIGEST_MODULUS, digest_hex, hash_and_size
from ._errors import StoreError, StoreFull
from ._models import Durability, StoreStats
from ._multirow import insert_rows
from ._schema import WRITER_CACHE_KIB, connect_writer, shrink_cache

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from contextlib import AbstractContextManager
    from pathlib import Path

    from ._budget import Closer, FileFds
    from ._catalog import Catalog
    from ._records import PreparedChange
    from ._resources import StoreResources

__all__ = ["WriteSide"]

_INSERT = "INSERT INTO records (key, value, lsn)"
_ON_CONFLICT_UPDATE = "ON CONFLICT (key) DO UPDATE SET value = excluded.value, lsn = excluded.lsn"
_ON_CONFLICT_SKIP = "ON CONFLICT (key) DO NOTHING"
_UPDATE_META = "UPDATE meta SET lsn = ?, records = ?, bytes = ?, digest = ? WHERE id = 1"
_LOOKUP_CHUNK = 500  # keys per "WHERE key IN (...)" query, well below SQLite's variable limit
_PROBE = "SELECT 1 FROM records WHERE key IN (?, ?, ?) LIMIT 1"
_FAST_MIN = 8  # smaller batches take the general path (the probe would not pay off)
_GIVE_WAY_RECORDS = 256
"""A background copy's apply calls its ``give_way`` after about this many records' work
(hashing; inserting takes statements of :data:`~._multirow.ROWS_PER_STATEMENT`): about a
millisecond of this machine's CPU."""


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

    def replace_all(
        self, removed: list[_Live], added: list[_Live], give_way: Callable[[], None] | None = None
    ) -> None:
        """Account for live records going away (``removed``) and arriving (``added``).

        The same terms as one :func:`record_hash` per record, summed in tight loops.
        A key replaced twice in one batch appears in both lists, which cancels out.
        ``give_way`` is called before each piece of :data:`_GIVE_WAY_RECORDS` records.
        """
        for start in range(0, len(added), _GIVE_WAY_RECORDS):
            if give_way is not None:
                give_way()
            added_hash, added_bytes = hash_and_size(added[start : start + _GIVE_WAY_RECORDS])
            self.bytes += added_bytes
            self.digest += added_hash
        self.records += len(added)
        if removed:
            removed_hash, removed_bytes = hash_and_size(removed)
            self.records -= len(removed)
            self.bytes -= removed_bytes
            self.digest -= removed_hash

    def normalise(self) -> None:
        """Reduce the digest accumulator modulo 2**256 (once per transaction)."""
        self.digest %= DIGEST_MODULUS


class WriteSide:
    """Owner of a store's write connection and of the committed ``meta`` values."""

    def __init__(
        self,
        path: Path,
        name: str,
        durability: Durability,
        resources: StoreResources,
        *,
        lease: Callable[[], AbstractContextManager[sqlite3.Connection | None]],
        stats: StoreStats | None = None,
        file: FileFds,
        catalog: Catalog | None = None,
        create: bool = False,
    ) -> None:
        """Prepare (not open) the write side of the store file at ``path``.

        Args:
            path: The store file.
            name: The workload's name.
            durability: ``synchronous`` level of the connection.
            resources: The descriptor budget and checkpoint service to use.
            lease: Lends a read connection to the checkpointer (see :class:`Checkpointer`).
            stats: The store's totals if known (from the catalog), else read on first open.
            catalog: Where the connection's opening and closing are recorded, if anywhere.
            file: The descriptor count of the store file (shared with its readers).
            create: Create the file on first open if it does not exist.
        """
        self._path = path
        self._name = name
        self._durability: Durability = durability
        self._budget = resources.budget
        self._file = file
        self._catalog = catalog
        self._create = create
        self._conn: sqlite3.Connection | None = None
        self._key = 0  # the budget's key of the open connection
        self._cache_kib = 0
        if stats is None:
            self._totals = _Totals(0, 0, 0, 0)
        else:
            self._totals = _Totals(stats.lsn, stats.records, stats.bytes, int(stats.digest, 16))
        self._bulk = False  # the open connection runs a bulk apply (rollback journal)
        self.bulk_fills = 0
        """Bulk applies begun so far (for tests and diagnostics)."""
        self.writeback = Writeback(path)
        """Starts the kernel's writeback while a ``normal`` store fills (see :mod:`._bulk`)."""
        self.warm = False
        """Whether the budget closes this connection last (read each time it is parked)."""
        self._tx_lock = threading.Lock()  # held by each write transaction and open/close
        self.checkpointer = Checkpointer(
            path, service=resources.checkpoints, lease=lease, writer_lock=self._tx_lock
        )
        """The store's background WAL checkpoint state (run by the shared service)."""
        self._log = get_logger("store.writer", workload=name)

    @property
    def is_open(self) -> bool:
        """Whether the write connection is open now."""
        return self._conn is not None

    @property
    def in_bulk(self) -> bool:
        """Whether the connection runs a bulk apply now (see the module docstring)."""
        return self._bulk

    @property
    def at_rest(self) -> bool:
        """Whether no connection is open and no checkpoint runs or waits (closing is free)."""
        return self._conn is None and self.checkpointer.waiting_for_commit

    def open_now(self) -> StoreStats:
        """Open the connection now (creating the file if so configured) and park it.

        Returns the totals read from the file. Blocking.

        Raises:
            WorkloadNotFound: The file does not exist and the store may not create it.
            StoreError: The file is not a store of this version, or SQLite failed.
        """
        with self._tx_lock:
            self._checkout()
            self._park()
        return self.stats()

    def stats(self) -> StoreStats:
        """Return the committed totals as a :class:`StoreStats`."""
        return _stats_of(self._totals)

    def write(self, groups: Sequence[Sequence[tuple[str, bytes | None]]]) -> list[int]:
        """Commit several callers' writes in one transaction (group commit).

        Every op gets the next LSN, in order; ``None`` values are tombstones (also for
        keys that never existed, so deltas carry the delete).

        Returns:
            For each group, the LSN of its last op (the current LSN for an empty group).
        """
        ends: list[int] = []
        rows: dict[str, tuple[bytes | None, int]] = {}
        with self._tx_lock, self._using() as conn:
            if self._bulk:
                self._end_bulk(conn)
            with _transaction(conn, self._path):
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

    def apply(
        self,
        changes: Sequence[PreparedChange],
        *,
        bulk: bool = False,
        give_way: Callable[[], None] | None = None,
    ) -> int:
        """Apply changes from another store idempotently; return the new workload LSN.

        ``changes`` come from :func:`~._records.prepare_changes` (validated, keys encoded).
        A change is applied only when its LSN is greater than the key's local LSN; the
        workload LSN becomes ``max(local, max(change LSNs))``. When nothing changes, no
        transaction is written at all.

        Fast path (a fresh target, round 0 of a copy): when none of the batch's keys has
        a row yet, every change applies, so the rows are inserted with ``ON CONFLICT DO
        NOTHING`` and no look-up; the insert's row count proves that no key existed (else
        the attempt is rolled back to a savepoint and the general path runs).

        With ``bulk``, an apply into an empty store begins a bulk fill (:mod:`._bulk`).

        ``give_way``: called, in this thread, between pieces of the work (a background
        copy's apply: it blocks while urgent work runs on the edge, so that a chunk
        already being applied does not compete with a hold or an activation for the GIL
        and the CPU). The transaction stays open meanwhile; only this copy writes to this
        store.
        """
        top = max((c[3] for c in changes), default=0)
        with self._tx_lock, self._using() as conn:
            if bulk and not self._bulk and self._totals.lsn == 0 and self._totals.records == 0:
                self._begin_bulk(conn)
            with _transaction(conn, self._path):
                t = self._read_totals(conn)
                before = t.lsn
                if not self._apply_new(conn, changes, t, give_way):
                    self._apply_general(conn, changes, t)
                t.lsn = max(t.lsn, top)
                if t.changed or t.lsn != before:  # else nothing new: a read-only transaction
                    t.normalise()
                    conn.execute(_UPDATE_META, (t.lsn, t.records, t.bytes, digest_hex(t.digest)))
        self._totals = t
        if not t.changed:
            return t.lsn
        if not self._bulk:  # a rollback journal has no WAL to checkpoint
            self.checkpointer.after_commit()
        elif self._durability == "normal":  # a full store synced each commit already
            self.writeback.after_commit()
        return t.lsn

    def end_bulk(self) -> None:
        """End a bulk apply, if one runs: back to WAL mode. Blocking.

        If SQLite cannot switch now (a reader holds the file), the connection stays in
        rollback-journal mode, which is just as durable; the next local write, this call
        again, or the connection's next opening switches it.
        """
        with self._tx_lock:
            self._end_bulk_now()

    def close(self, *, discard: bool = False) -> None:
        """Stop checkpointing, then close the connection (if open). Blocking.

        SQLite checkpoints the WAL (and removes it) when the last connection closes. A
        bulk apply still running is ended first (its file synced). ``discard``: the file
        is deleted next, so that last checkpoint skips its fsyncs.
        """
        self.checkpointer.close()
        with self._tx_lock:
            self._end_bulk_now()
            conn = self._hand_over()
            if conn is not None and self._budget.unpark(self._key):
                if discard:
                    conn.execute("PRAGMA synchronous=OFF")
                conn.close()
                self._budget.release(self._file)
            # else: the budget detached it meanwhile and closes it itself

    # -- internals -------------------------------------------------------------------

    @contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        """Take the connection into use (opening it if needed); park it afterwards."""
        conn = self._checkout()
        try:
            yield conn
        finally:
            self._park()

    def _checkout(self) -> sqlite3.Connection:
        """Return the open connection, out of the idle set. Call with ``_tx_lock`` held."""
        conn = self._conn
        share = self._budget.cache_share_kib(WRITER_CACHE_KIB)
        if conn is not None:
            self._budget.unpark(self._key)
            if share != self._cache_kib:
                conn.execute(f"PRAGMA cache_size = -{share}")
                self._cache_kib = share
            return conn
        self._budget.reserve(self._file)
        try:
            conn = connect_writer(
                self._path,
                self._name,
                create=self._create,
                durability=self._durability,
                cache_kib=share,
            )
            try:
                totals = self._read_totals(conn)
                if self._catalog is not None:
                    self._catalog.mark_open(self._name, _stats_of(totals))
            except BaseException:
                conn.close()
                raise
        except BaseException:
            self._budget.release(self._file)
            raise
        self._create = False  # the file exists now: reopen with the readers' flags
        self._conn, self._key, self._cache_kib = conn, self._budget.new_key(), share
        self._totals = totals
        return conn

    def _park(self) -> None:
        """Make the open connection idle (closable by the budget). ``_tx_lock`` held."""
        if self._conn is not None:
            self._budget.park(
                self._key,
                self._detach,
                self._file,
                writer=True,
                shrink=self._shrink,
                cache_kib=self._cache_kib,
                cap_kib=WRITER_CACHE_KIB,
                warm=self.warm,
            )

    def _detach(self) -> Closer | None:
        """Hand the idle connection to the budget for closing (never blocks)."""
        if not self._tx_lock.acquire(blocking=False):
            return None  # a transaction or a checkpoint's locked pass is running
        try:
            if self._bulk:
                return None  # a copy is filling it: ending that needs a sync (blocks)
            conn = self._hand_over()
        finally:
            self._tx_lock.release()
        return None if conn is None else conn.close

    def _shrink(self, kib: int) -> bool:
        """Lower the idle connection's cache to ``kib`` KiB (budget housekeeping)."""
        if not self._tx_lock.acquire(blocking=False):
            return False
        try:
            conn = self._conn
            if conn is None:
                return False
            if not shrink_cache(conn, kib):
                return False
            self._cache_kib = kib
            return True
        finally:
            self._tx_lock.release()

    def _end_bulk_now(self) -> None:
        """End the bulk apply if one runs (see :meth:`end_bulk`). ``_tx_lock`` held."""
        if self._bulk and self._conn is not None:
            with self._using() as conn:
                self._end_bulk(conn)

    def _begin_bulk(self, conn: sqlite3.Connection) -> None:
        """Begin a bulk apply if SQLite can switch now. ``_tx_lock`` held."""
        if begin_bulk(conn, self._durability, self._log):
            self._bulk = True
            self.bulk_fills += 1

    def _end_bulk(self, conn: sqlite3.Connection) -> None:
        """End the bulk apply (it goes on if SQLite cannot switch now). ``_tx_lock`` held."""
        if end_bulk(conn, self._path, self._durability, self._log):
            self._bulk = False

    def _hand_over(self) -> sqlite3.Connection | None:
        """Take the connection from this side, recording its final totals. Lock held."""
        conn, self._conn = self._conn, None
        self._bulk = False  # the file's next connection opens in WAL mode
        if conn is not None and self._catalog is not None:
            try:
                self._catalog.mark_closed(self._name, self.stats())
            except StoreError as exc:  # the row stays "not clean": re-read at next start
                self._log.warning("catalog_update_failed", error=str(exc))
        return conn

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
    def _apply_new(
        conn: sqlite3.Connection,
        changes: Sequence[PreparedChange],
        t: _Totals,
        give_way: Callable[[], None] | None = None,
    ) -> bool:
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
            rows = [(key, value, lsn) for key, _, value, lsn in changes]
            if insert_rows(conn, _INSERT, _ON_CONFLICT_SKIP, rows, give_way) != n:
                conn.execute("ROLLBACK TO apply_new")
                return False
        finally:
            conn.execute("RELEASE apply_new")
        t.replace_all([], [(k, v) for _, k, v, _ in changes if v is not None], give_way)
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
            _upsert(conn, rows)
            t.changed = True

    @staticmethod
    def _store_rows(
        conn: sqlite3.Connection, rows: dict[str, tuple[bytes | None, int]], t: _Totals
    ) -> None:
        t.normalise()
        _upsert(conn, rows)
        conn.execute(_UPDATE_META, (t.lsn, t.records, t.bytes, digest_hex(t.digest)))


def _upsert(conn: sqlite3.Connection, rows: dict[str, tuple[bytes | None, int]]) -> None:
    """Write ``rows`` (key to value and LSN), replacing any row of the same key."""
    flat = [(key, value, lsn) for key, (value, lsn) in rows.items()]
    insert_rows(conn, _INSERT, _ON_CONFLICT_UPDATE, flat)


def _stats_of(t: _Totals) -> StoreStats:
    return StoreStats(records=t.records, bytes=t.bytes, lsn=t.lsn, digest=digest_hex(t.digest))


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
