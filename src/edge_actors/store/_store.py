"""WorkloadStore: the async record store of one workload (store layer).

One SQLite file in WAL mode per workload. All SQLite work runs in worker threads, never
on the event loop. Writes are serialised per store and **group-committed**: put/delete/
write_batch calls that arrive while a transaction is in flight are coalesced into the
next single transaction (one thread hop and one commit for all of them), and each
caller gets its own LSN once that transaction has committed. Reads go through a separate
pool of read connections, so a long delta scan never blocks writers.

Connections are opened on first use and may be closed by the shared descriptor budget
while the store is idle (see :mod:`._budget`); a store handle itself stays valid until
:meth:`WorkloadStore.close`, and its :meth:`~WorkloadStore.stats` are kept in memory.

A store is owned by one :class:`WorkloadStore` (one process) at a time and used from the
event loop that opened it.

The group commit (the queue of pending writes, the write lock, the progress that
:meth:`WorkloadStore.writes_settled` waits on) is :class:`~._group_commit.GroupCommit`.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, TypeVar

import anyio

from edge_actors._log import get_logger
from edge_actors.clock import SYSTEM_CLOCK, Clock

from ._budget import FileFds
from ._closing import AsyncCloseable
from ._errors import InvalidRecord, StoreClosed, StoreError
from ._group_commit import GroupCommit, Ops
from ._names import validate_workload_name
from ._readers import ReadPool, read_full_stats, read_get, read_scan
from ._records import prepare_changes, validate_key, validate_ops, validate_value
from ._resources import StoreResources
from ._snapshot import export_snapshot
from ._writer import WriteSide

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from edge_actors.wire import Change

    from ._catalog import Catalog
    from ._models import Durability, StoreStats
    from ._snapshot import SnapshotInfo

__all__ = ["WorkloadStore"]

T = TypeVar("T")
_PRIVATE_FD_BUDGET = 48  # a store opened on its own: writer, readers, checkpoint lease
_PRIVATE_IO_THREADS = 8

_INLINE_VALIDATION = 64  # larger apply batches are validated in a worker thread


class WorkloadStore(AsyncCloseable):
    """The record store of one workload: keys to bytes, versioned by a monotonic LSN.

    Open one with :meth:`open` (or through a :class:`~edge_actors.store.StoreRegistry`)
    and close it with :meth:`close` or ``async with``.
    """

    def __init__(
        self,
        *,
        name: str,
        path: Path,
        durability: Durability,
        resources: StoreResources,
        stats: StoreStats | None = None,
        catalog: Catalog | None = None,
        create: bool = False,
        owns_resources: bool = False,
        on_stats: Callable[[StoreStats, StoreStats], None] | None = None,
    ) -> None:
        """Make a store handle without any I/O; use :meth:`open` (or a registry) instead.

        ``stats`` are the store's totals if known (a registry's catalog); ``on_stats``
        is told ``(old, new)`` after each commit that changed them (a registry's totals).
        """
        self._name = name
        self._path = path
        self._durability: Durability = durability
        self._resources = resources
        self._owns_resources = owns_resources
        file = self._file = FileFds()
        self._readers = ReadPool(path, name, durability, resources, file)
        self._writer = WriteSide(
            path,
            name,
            durability,
            resources,
            file=file,
            lease=self._readers.lease_nowait,
            stats=stats,
            catalog=catalog,
            create=create,
        )
        self._stats = self._writer.stats()
        self._on_stats = on_stats
        self._closed = False
        self._log = get_logger("store", workload=name)
        self._group = GroupCommit(name, self._write_ops, self._reread_stats, self._log)
        self._write_lock = self._group.lock

    @classmethod
    async def open(
        cls,
        path: Path,
        name: str,
        *,
        create: bool = False,
        durability: Durability = "normal",
        clock: Clock = SYSTEM_CLOCK,
        resources: StoreResources | None = None,
    ) -> WorkloadStore:
        """Open the store file at ``path`` for workload ``name``.

        Args:
            path: The SQLite file (``<data_dir>/workloads/<name>.sqlite`` by convention).
            name: The workload's name; validated.
            create: Create the file (and its parent directory) if it does not exist.
            durability: ``"normal"`` survives a process crash, ``"full"`` also a power
                loss (see :data:`~edge_actors.store.Durability`).
            clock: decides when the background WAL checkpoint is due (the system clock
                unless a test injects one); ignored when ``resources`` are given.
            resources: Descriptor budget, page cache and threads shared with other
                stores; by default the store makes a small private set (one checkpoint
                thread) and closes it with the store.

        Returns:
            The open store.

        Raises:
            InvalidWorkloadName: ``name`` is not a legal workload name.
            WorkloadNotFound: The file does not exist and ``create`` is false.
            StoreError: The file is not a workload store of this version, or SQLite failed.

        Cancellation: the open completes in its thread and is closed again, so nothing
        leaks; then the cancellation propagates.
        """
        validate_workload_name(name)
        if durability not in ("normal", "full"):
            raise StoreError(f"durability must be 'normal' or 'full', got {durability!r}")
        owned = resources is None
        if resources is None:
            resources = StoreResources(
                fd_budget=_PRIVATE_FD_BUDGET,
                checkpoint_threads=1,
                io_threads=_PRIVATE_IO_THREADS,
                clock=clock,
                name=f"store:{path.name}",
            )
        store = cls(
            name=name,
            path=path,
            durability=durability,
            resources=resources,
            create=create,
            owns_resources=owned,
        )
        try:
            with anyio.CancelScope(shield=True):
                await store.load()
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await store.close()
            raise
        store._log.debug("store_opened", path=str(path), lsn=store._stats.lsn, create=create)
        return store

    async def load(self) -> StoreStats:
        """Open the store's write connection now and read its totals from the file.

        A registry calls this for a store whose totals it does not know, and an edge for
        an ``incoming`` copy about to be activated (a snapshot install leaves the new
        file unopened, and reopening it inside a cutover's hold cost up to 22 ms).
        Afterwards the connection is idle and the budget may close it again; with it
        open already, this only reads the totals again.

        Raises:
            WorkloadNotFound: The file does not exist and the store may not create it.
            StoreError: The file is not a workload store of this version, or SQLite failed.
        """
        self._check_open()
        async with self._write_lock:
            stats = await self._in_thread(self._writer.open_now)
            self._set_stats(stats)
        return stats

    @property
    def writer_open(self) -> bool:
        """Whether the write connection is open now (the budget may close an idle one)."""
        return self._writer.is_open

    # -- properties ------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The workload's name."""
        return self._name

    @property
    def path(self) -> Path:
        """The SQLite file of this store."""
        return self._path

    @property
    def durability(self) -> Durability:
        """The durability level the store was opened with."""
        return self._durability

    @property
    def lsn(self) -> int:
        """The workload LSN as of the last completed commit (cached; no I/O)."""
        return self._stats.lsn

    @property
    def last_stats(self) -> StoreStats:
        """The totals as of the last completed commit (also after :meth:`close`). O(1)."""
        return self._stats

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    # -- writes ----------------------------------------------------------------------

    async def put(self, key: str, value: bytes) -> int:
        """Store ``value`` under ``key``; return the write's LSN once it is committed.

        Raises:
            InvalidRecord: The key or value is illegal.
            StoreClosed: The store is closed.
            StoreError: SQLite failed; the write did not happen.

        Cancellation: if cancelled before its group commit has started, the write is
        withdrawn; once started, the commit completes (shielded) and the write is
        durable even though the caller sees the cancellation instead of the LSN.
        """
        validate_key(key)
        return await self._submit([(key, validate_value(key, value))])

    async def delete(self, key: str) -> int:
        """Delete ``key`` by writing a tombstone; return the tombstone's LSN.

        Deleting an absent key still records a tombstone, so deltas carry the delete.
        Errors and cancellation are as for :meth:`put`.
        """
        return await self._submit([(validate_key(key), None)])

    async def write_batch(self, ops: Sequence[tuple[str, bytes | None]]) -> int:
        """Write several records atomically (``None`` deletes); return the last LSN.

        The ops get consecutive LSNs in order; either all of them commit or none. An
        empty batch writes nothing and returns the current LSN. Errors and cancellation
        are as for :meth:`put`; a bad element rejects the whole batch (its index is named).
        A large batch is validated in a worker thread, so the event loop stays free.
        """
        if len(ops) > _INLINE_VALIDATION:
            checked = await anyio.to_thread.run_sync(validate_ops, ops)  # loop free
        else:
            checked = validate_ops(ops)
        if not checked:
            self._check_open()
            return self._stats.lsn
        return await self._submit(checked)

    async def apply_changes(
        self,
        changes: Sequence[Change],
        *,
        bulk: bool = False,
        give_way: Callable[[], None] | None = None,
    ) -> int:
        """Apply changes shipped from another store, idempotently, in one transaction.

        A change applies only when its LSN is greater than the key's local LSN (so
        re-applying a batch, or an older version of a key, changes nothing). Tombstones
        are kept as tombstones. The workload LSN becomes ``max(local, max change LSN)``.

        With ``bulk`` (an ``incoming`` copy: not active, discardable until activated), an
        apply into an empty store begins a bulk fill (see :mod:`._bulk`) that lasts until
        :meth:`end_bulk_apply`.

        ``give_way``: a background copy's pause point, called in the worker thread
        between pieces of the work (about every 256 records; it may block, for instance
        while urgent work runs on the edge). Only batches validated in the worker thread
        (more than 64 changes) call it; the transaction stays open while it blocks.

        Returns:
            The workload LSN after the apply.

        Raises:
            InvalidRecord: A change has an LSN outside ``[1, LSN_MAX]`` or an illegal key
                or value; nothing is applied.
            StoreClosed: The store is closed.
            StoreError: SQLite failed; nothing is applied.

        Cancellation: once the write lock is taken, the validation (in the same worker
        thread for a large batch) and the transaction complete (shielded) and the
        cancellation is delivered afterwards; before that, nothing is applied.
        """
        if len(changes) > _INLINE_VALIDATION:
            # validated in the apply's own worker thread (one thread hop per chunk; a
            # bad change is refused there before the transaction starts)
            apply = partial(_prepare_and_apply, self._writer, changes, bulk, give_way)
        else:
            apply = partial(self._writer.apply, prepare_changes(changes), bulk=bulk)
        self._check_open()
        if not changes:
            return self._stats.lsn
        async with self._write_lock:
            self._check_open()
            with anyio.CancelScope(shield=True):
                try:
                    lsn = await self._in_thread(apply)
                finally:
                    self._set_stats(self._writer.stats())
        return lsn

    async def end_bulk_apply(self) -> None:
        """End a bulk apply of :meth:`apply_changes` into an empty store, if one runs.

        A copy's receiver calls it when its stream ends. Until then the store's file uses
        a rollback journal rather than the WAL (pages written once; as durable, see
        :mod:`._writer`); local writes and reopening end it too. No-op otherwise.

        Cancellation: once the write lock is taken the switch completes (shielded).
        """
        async with self._write_lock:  # after any apply in flight, which may begin a fill
            if self._closed or not self._writer.in_bulk:  # closing ends a fill itself
                return
            with anyio.CancelScope(shield=True):
                await self._in_thread(self._writer.end_bulk)

    def keep_warm(self, warm: bool) -> None:
        """Have the descriptor budget close this store's write connection last (``True``)
        or as any other (``False``), from the next time the connection goes idle.

        For a store whose next write must not wait for its file to be reopened: an
        edge's ``incoming`` copy, activated inside a cutover's hold (see
        :class:`~._budget.FdBudget`). The connection still closes with the store.
        """
        self._writer.warm = warm

    @property
    def foreground_writes(self) -> int:
        """Writes (:meth:`put`, :meth:`delete`, :meth:`write_batch`) submitted and not yet
        answered. O(1)."""
        return self._group.in_flight

    async def writes_settled(self) -> None:
        """Return once the foreground writes in flight at the call have been answered.

        At once if there are none. A background job (a transfer's scan of this store)
        calls it between two pages, so that its next page starts between group commits
        rather than in the middle of one: the writes waiting now go first. Writes that
        arrive while it waits are not waited for (at most the commit running now and
        the next one), so a steady stream of writes cannot starve the caller.

        Cancellation: the caller stops waiting; nothing else is affected.
        """
        await self._group.writes_settled()

    # -- reads -----------------------------------------------------------------------

    async def get(self, key: str) -> tuple[bytes, int] | None:
        """Return ``(value, lsn)`` of ``key``, or ``None`` if absent or deleted.

        Every write acknowledged before this call is visible.

        Raises:
            InvalidRecord: The key is illegal.
            StoreClosed: The store is closed.

        Cancellation: the caller stops waiting; the query finishes in its thread.
        """
        validate_key(key)
        self._check_open()
        return await self._readers.call(partial(read_get, key=key))

    async def scan_changes(
        self,
        after_lsn: int,
        upto_lsn: int | None = None,
        *,
        limit: int = 1000,
        max_bytes: int | None = None,
        urgent: bool = False,
    ) -> list[Change]:
        """Return the changes whose key's latest LSN is in ``(after_lsn, upto_lsn]``.

        Ordered by LSN, at most ``limit`` of them; tombstones come as ``value=None``.
        Page through a range by passing the last returned LSN as the next ``after_lsn``.
        A key rewritten during paging moves beyond ``upto_lsn`` and is shipped by the
        next delta, never lost.

        Args:
            after_lsn: Exclusive lower bound (0 for everything).
            upto_lsn: Inclusive upper bound; ``None`` for no bound.
            limit: Most changes returned (at least 1).
            max_bytes: If given, stop once the page holds this many key and value bytes
                (at least one change is still returned), bounding memory for big values.
            urgent: A short read that must not wait for other stores' pages (a cutover's
                final delta, read while writes are held); pages are otherwise read one at
                a time in a process (see :mod:`._readers`).

        Raises:
            InvalidRecord: A bound or limit is negative or ``limit`` is below 1.
            StoreClosed: The store is closed.

        Cancellation: the caller stops waiting; the query finishes in its thread.
        """
        if after_lsn < 0 or (upto_lsn is not None and upto_lsn < 0):
            raise InvalidRecord(f"scan bounds must be >= 0, got ({after_lsn}, {upto_lsn}]")
        if limit < 1:
            raise InvalidRecord(f"scan limit must be >= 1, got {limit}")
        if max_bytes is not None and max_bytes < 1:
            raise InvalidRecord(f"scan max_bytes must be >= 1, got {max_bytes}")
        self._check_open()
        if upto_lsn is not None and upto_lsn <= after_lsn:
            return []
        budget = max_bytes if max_bytes is not None else 1 << 62
        return await self._readers.call(
            partial(
                read_scan,
                after_lsn=after_lsn,
                upto_lsn=upto_lsn,
                limit=limit,
                max_bytes=budget,
                alone=not urgent,
            )
        )

    async def stats(self) -> StoreStats:
        """Return records, bytes, LSN and digest as of the last completed commit. O(1).

        Raises:
            StoreClosed: The store is closed.
        """
        self._check_open()
        return self._stats

    async def compute_stats(self) -> StoreStats:
        """Recompute :class:`StoreStats` by scanning every record (validation's check).

        Runs on a read connection in one read transaction, so writers are not blocked.
        Cancellation: the caller stops waiting; the scan finishes in its thread.

        Raises:
            StoreClosed: The store is closed.
        """
        self._check_open()
        return await self._readers.call(read_full_stats)

    async def compute_digest(self) -> str:
        """Recompute the content digest by a full scan; equals ``stats().digest`` at rest.

        See :meth:`compute_stats` for concurrency and cancellation.
        """
        return (await self.compute_stats()).digest

    async def export_snapshot(self, dest: Path) -> SnapshotInfo:
        """Write a consistent copy of the store, at one committed LSN, to the new file ``dest``.

        SQLite's online backup copies every page in one step from a read-only connection
        of its own (one read transaction, counted in the descriptor budget), so writes go
        on meanwhile and the copy is the state of one commit. ``dest`` is created 0600 and
        is not synced (a temporary: the target makes its copy durable). Runs in a worker
        thread. See :mod:`._snapshot` for the file and what the target checks.

        Returns:
            The snapshot's ``meta`` totals and the file's size.

        Raises:
            SnapshotExists: ``dest`` (or a ``-wal``, ``-shm``, ``-journal`` beside it)
                already exists; it is left untouched.
            StoreClosed: The store is closed.
            StoreFull: The disk under ``dest`` is full.
            StoreError: SQLite or the file system failed otherwise.

        On any failure ``dest`` is removed. Cancellation: the copy finishes in its thread,
        then ``dest`` is removed: a cancelled export leaves no file. :meth:`close` does not
        wait for an export (it finishes on its own connection).
        """
        self._check_open()
        return await export_snapshot(self._path, self._name, dest, self._resources, self._file)

    # -- lifecycle -------------------------------------------------------------------

    async def close(self, *, discard: bool = False) -> None:
        """Close the store: finish writes already submitted, then close every connection.

        ``discard``: the caller deletes the files next (:meth:`StoreRegistry.drop`), so
        the final WAL checkpoint is not synced to disk.

        Idempotent. Later calls of any read or write raise :class:`StoreClosed`.
        Cancellation: shielded; the store is always fully closed when this returns.
        """
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            async with self._write_lock:
                await self._shut(discard=discard)

    async def close_if_empty(self) -> bool:
        """Close the store, for its file to be replaced, if it is empty; whether it did.

        Empty: LSN 0, no records, and no write waiting to be committed. The check and the
        close are one step for writers (under the write lock), so no write can land in
        between; a write that comes later raises :class:`StoreClosed`. ``False`` (the store
        stays open, unchanged) when it is not empty or already closed. The final WAL
        checkpoint is not synced (:meth:`StoreRegistry.install_snapshot` replaces the file).

        Cancellation: while waiting for the write lock nothing happens; once the store
        is being closed, shielded.
        """
        if self._closed:
            return False
        async with self._write_lock:
            if self._closed or self._group.has_pending or self._stats.lsn or self._stats.records:
                return False
            self._closed = True
            with anyio.CancelScope(shield=True):
                await self._shut(discard=True)
        return True

    async def _shut(self, *, discard: bool) -> None:
        """Commit the queued writes, then close every connection. Write lock held."""
        if self._group.has_pending:
            await self._group.commit_pending()
        await self._readers.aclose()
        if self._writer.at_rest:
            self._writer.close()  # no I/O and nothing to wait for: no thread hop
        else:
            await anyio.to_thread.run_sync(partial(self._writer.close, discard=discard))
        if self._owns_resources:
            await anyio.to_thread.run_sync(self._resources.close)
        self._log.debug("store_closed", lsn=self._stats.lsn)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"lsn={self._stats.lsn}"
        return f"<WorkloadStore {self._name!r} {state}>"

    # -- internals -------------------------------------------------------------------

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(fn, limiter=self._resources.limiter)

    def _set_stats(self, stats: StoreStats) -> None:
        old, self._stats = self._stats, stats
        if self._on_stats is not None and old != stats:
            self._on_stats(old, stats)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed(f"workload store {self._name!r} is closed")

    async def _submit(self, ops: Ops) -> int:
        """Queue ``ops`` for the next group commit and wait until it has committed."""
        self._check_open()
        return await self._group.submit(ops)

    async def _write_ops(self, batches: list[Ops]) -> list[int]:
        """One group commit's transaction, in a worker thread."""
        return await self._in_thread(partial(self._writer.write, batches))

    def _reread_stats(self) -> None:
        self._set_stats(self._writer.stats())


def _prepare_and_apply(
    writer: WriteSide,
    changes: Sequence[Change],
    bulk: bool,
    give_way: Callable[[], None] | None = None,
) -> int:
    """Validate ``changes`` and apply them: one worker-thread call for both. Blocking.

    ``give_way`` (a background copy's pause point) is also called between the two.

    Raises:
        InvalidRecord: A change is illegal; nothing is applied (no transaction started).
    """
    prepared = prepare_changes(changes)
    if give_way is not None:
        give_way()
    return writer.apply(prepared, bulk=bulk, give_way=give_way)
