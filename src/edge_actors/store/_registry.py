"""StoreRegistry: every workload store of one edge data directory (store layer).

Files live at ``<data_dir>/workloads/<name>.sqlite`` (plus SQLite's ``-wal`` and ``-shm``
side files). At start-up the registry lists the file names and reads every store's
totals from its catalog (see :mod:`._catalog`): no store is opened (only those whose
totals the catalog cannot vouch for, once). Each store opens its connections on first
use, within one descriptor and page-cache budget and one checkpoint service shared by
all (see :class:`~._resources.StoreResources`), and the budget closes the connections
of the stores idle longest. The registry keeps the live record and byte totals of all
its stores up to date on every commit, so a capacity check costs O(1).

A dropped store's file is first renamed into the snapshot directory, then removed a slice
at a time (:mod:`._removal`: a 1 GB unlink made other writers on the file system wait
up to 59 ms); a ``removed-*`` file a crash left there is removed at the next start.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from edge_actors._log import get_logger
from edge_actors._private_files import make_private_dir
from edge_actors.clock import SYSTEM_CLOCK

from ._budget import DEFAULT_CACHE_MIB, DEFAULT_IDLE_CLOSE_S
from ._catalog import CATALOG_FILE, Catalog
from ._checkpointer import DEFAULT_THREADS
from ._closing import AsyncCloseable
from ._errors import (
    InvalidWorkloadName,
    SnapshotRefused,
    StoreClosed,
    StoreError,
    WorkloadExists,
    WorkloadNotFound,
)
from ._names import validate_workload_name
from ._removal import remove_file
from ._resources import StoreResources
from ._snapshot import install_file, require_unchanged, verify_snapshot
from ._snapshot_files import new_snapshot_path, snapshot_dir
from ._store import WorkloadStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from edge_actors.clock import Clock

    from ._models import Durability, StoreStats
    from ._snapshot import DurableStep, SnapshotInfo, VerifiedSnapshot

__all__ = ["StoreRegistry"]

_SUFFIX = ".sqlite"
_SIDE_FILES = ("", "-wal", "-shm", "-journal")
_REMOVED = "removed"  # name prefix of a dropped store's file on its way out
_RECENT = 1024  # most recently written workloads remembered (for metrics)


class StoreRegistry(AsyncCloseable):
    """The :class:`WorkloadStore` of each workload under one edge data directory.

    One registry per data directory and process. Use :meth:`open` to build one.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        durability: Durability = "normal",
        clock: Clock = SYSTEM_CLOCK,
        fd_budget: int | None = None,
        cache_mib: int = DEFAULT_CACHE_MIB,
        checkpoint_threads: int = DEFAULT_THREADS,
        idle_close_s: float | None = DEFAULT_IDLE_CLOSE_S,
    ) -> None:
        """Make an empty registry; :meth:`open` also lists the existing workloads."""
        self._data_dir = data_dir
        self._clock = clock
        self._dir = data_dir / "workloads"
        self._durability: Durability = durability
        self._resources = StoreResources(
            fd_budget=fd_budget,
            cache_mib=cache_mib,
            checkpoint_threads=checkpoint_threads,
            idle_close_s=idle_close_s,
            clock=clock,
        )
        self._catalog: Catalog | None = None
        self._stores: dict[str, WorkloadStore] = {}
        self._records = 0
        self._bytes = 0
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._lock = anyio.Lock()
        self._dropping: dict[str, anyio.Event] = {}
        self._closed = False
        self._log = get_logger("store.registry", data_dir=str(data_dir))

    @classmethod
    async def open(
        cls,
        data_dir: Path,
        *,
        durability: Durability = "normal",
        clock: Clock = SYSTEM_CLOCK,
        fd_budget: int | None = None,
        cache_mib: int = DEFAULT_CACHE_MIB,
        checkpoint_threads: int = DEFAULT_THREADS,
        idle_close_s: float | None = DEFAULT_IDLE_CLOSE_S,
    ) -> StoreRegistry:
        """List every workload store under ``<data_dir>/workloads/`` (opening none).

        Files whose name is not a legal workload name are skipped with a warning. A
        store the catalog has no clean totals for (a crash while it was open, or a data
        directory from an older version) is opened once to read them.

        Args:
            data_dir: The edge's data directory (created if missing).
            durability: Durability of every store this registry opens or creates.
            clock: The clock the WAL checkpoints time their intervals by.
            fd_budget: Descriptors all store connections may hold together; ``None``
                for half of ``RLIMIT_NOFILE`` less 128 (capped at 4,096).
            cache_mib: Page cache of all store connections together, in MiB.
            checkpoint_threads: Threads running WAL checkpoints for every store.
            idle_close_s: A store connection idle this long (of ``clock``) is closed;
                ``None``: only when the descriptor budget needs the room.

        Raises:
            StoreError: The catalog or a store file could not be read; whatever was
                opened is closed again.

        Cancellation: whatever was opened is closed again, then it propagates.
        """
        registry = cls(
            data_dir,
            durability=durability,
            clock=clock,
            fd_budget=fd_budget,
            cache_mib=cache_mib,
            checkpoint_threads=checkpoint_threads,
            idle_close_s=idle_close_s,
        )
        try:
            names, known = await anyio.to_thread.run_sync(registry._scan)
            for name in names:
                registry._add(name, known.get(name))
            unknown = [name for name in names if name not in known]
            for name in unknown:
                await registry._stores[name].load()
        except BaseException:
            await registry.close()
            raise
        registry._log.info("registry_opened", workloads=len(names), read_from_files=len(unknown))
        return registry

    @property
    def resources(self) -> StoreResources:
        """The descriptor budget, page cache and threads the stores share."""
        return self._resources

    @property
    def used_bytes(self) -> int:
        """Logical bytes (keys + values) of every live record of every store. O(1)."""
        return self._bytes

    @property
    def record_count(self) -> int:
        """Live records of every store together. O(1)."""
        return self._records

    def recently_written(self, limit: int) -> list[str]:
        """Names of up to ``limit`` workloads written most recently, most recent first."""
        names: list[str] = []
        for name in reversed(self._recent):
            if len(names) >= limit:
                break
            names.append(name)
        return names

    @property
    def data_dir(self) -> Path:
        """The edge data directory."""
        return self._data_dir

    def path_of(self, name: str) -> Path:
        """Return the store file path of workload ``name`` (validated; may not exist)."""
        return self._path(validate_workload_name(name))

    def names(self) -> list[str]:
        """Return the names of the workloads, sorted."""
        return sorted(self._stores)

    def __len__(self) -> int:
        return len(self._stores)

    def __contains__(self, name: object) -> bool:
        return name in self._stores

    def get(self, name: str) -> WorkloadStore:
        """Return the store of workload ``name`` (its connections open on first use).

        Raises:
            InvalidWorkloadName: ``name`` is not a legal workload name.
            WorkloadNotFound: No such workload here.
        """
        validate_workload_name(name)
        try:
            return self._stores[name]
        except KeyError:
            raise WorkloadNotFound(f"no workload {name!r} in {str(self._dir)!r}") from None

    async def create(self, name: str) -> WorkloadStore:
        """Create workload ``name`` (a new, empty store file) and return its open store.

        Raises:
            InvalidWorkloadName: ``name`` is not a legal workload name.
            WorkloadExists: The workload is open here or its file already exists.
            StoreClosed: The registry is closed.

        Cancellation: before the file is created nothing happens; a store opened at the
        moment of cancellation is closed again (its empty file stays and is found by the
        next :meth:`open`).
        """
        validate_workload_name(name)
        while (dropping := self._dropping.get(name)) is not None:
            await dropping.wait()  # its files are still being deleted
        async with self._lock:
            self._check_open()
            path = self._path(name)
            if name in self._stores or await anyio.to_thread.run_sync(path.exists):
                raise WorkloadExists(f"workload {name!r} already exists in {str(self._dir)!r}")
            store = self._make(name, None, create=True)
            try:
                with anyio.CancelScope(shield=True):
                    await store.load()
                await anyio.lowlevel.checkpoint_if_cancelled()
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await store.close()
                raise
            self._stores[name] = store
        self._log.info("workload_created", workload=name)
        return store

    async def drop(self, name: str) -> None:
        """Close workload ``name`` and delete its files (``.sqlite``, ``-wal``, ``-shm``).

        Writes already submitted to the store finish first; later ones raise
        :class:`StoreClosed`. Drops of different workloads run at once (a plan's cleanup
        drops many); a :meth:`create` of the same name waits until this one is done.

        Raises:
            InvalidWorkloadName: ``name`` is not a legal workload name.
            WorkloadNotFound: No such workload here.

        Cancellation: shielded once started; the workload is gone when this returns.
        """
        validate_workload_name(name)
        async with self._lock:
            store = self._stores.pop(name, None)
            if store is None:
                raise WorkloadNotFound(f"no workload {name!r} in {str(self._dir)!r}")
            done = self._dropping[name] = anyio.Event()
        try:
            with anyio.CancelScope(shield=True):
                await store.close(discard=True)
                self._account(name, store.last_stats, None)
                await anyio.to_thread.run_sync(self._delete_files, name)
        finally:
            del self._dropping[name]
            done.set()
        self._log.info("workload_dropped", workload=name)

    async def install_snapshot(
        self,
        name: str,
        source: Path,
        expected: SnapshotInfo,
        *,
        give_way: Callable[[], None] | None = None,
        durable: DurableStep | None = None,
    ) -> WorkloadStore:
        """Make the snapshot file ``source`` the store of the empty workload ``name``.

        For a copy's target: ``name`` is its new, empty ``incoming`` copy (LSN 0, no
        records) and ``source`` the file :meth:`WorkloadStore.export_snapshot` wrote on
        the source, received into a file on the same file system as the data directory.
        The file is checked first, in a worker thread, without touching the store (see
        :func:`~._snapshot.verify_snapshot`: SQLite header, schema, ``quick_check``,
        ``meta`` against ``expected``, totals recomputed from the records) and synced.
        Then, with the registry's lock held, the empty store is closed, ``source`` moved
        to :meth:`path_of` ``(name)`` (stale side files of the old store removed first)
        and the directory synced, whatever the durability: the snapshot was written
        unsynced, and the catalog must not name totals the directory may lose. The
        registry's totals and catalog take the snapshot's. ``give_way`` (a background
        copy's pause point) is called, in the checking thread, between pieces of the checks;
        ``durable`` is entered, in the worker thread, around the file's fsync and around
        its move (with the directory's sync and the catalog's rows).

        Returns:
            The new store (its connections open on first use); :meth:`get` returns it from
            now on. The old store object is closed (its calls raise :class:`StoreClosed`);
            settings made on it (:meth:`WorkloadStore.keep_warm`) are to be made again.

        Raises:
            InvalidWorkloadName: ``name`` is not a legal workload name.
            WorkloadNotFound: No such workload here.
            SnapshotRefused: The store is not empty (or a write to it is waiting), or the
                file failed a check. The store is unchanged and ``source`` stays in place
                (the caller deletes it). Only if the file changes in the instant between
                closing the store and the move is the refusal raised after the close;
                :meth:`get` then returns a reopened store of the same empty file.
            StoreClosed: The registry is closed.
            StoreError: The file system failed during the move. ``source`` may or may not
                have moved; :meth:`get` returns a new store of whichever file is in place.

        Cancellation: during the checks, the thread finishes and nothing is changed;
        shielded from the moment the empty store is being closed (the move completes).
        """
        store = self.get(name)
        _require_empty(store)
        verified = await anyio.to_thread.run_sync(
            partial(verify_snapshot, source, name, expected, self._dir, give_way, durable),
            limiter=self._resources.limiter,
        )
        async with self._lock:
            self._check_open()
            store = self.get(name)
            _require_empty(store)
            await anyio.to_thread.run_sync(require_unchanged, source, name, verified)
            done = self._dropping[name] = anyio.Event()  # close() waits for the swap too
            try:
                with anyio.CancelScope(shield=True):
                    installed = await self._swap(name, store, source, verified, durable)
            finally:
                del self._dropping[name]
                done.set()
        stats = verified.stats
        self._log.info("snapshot_installed", workload=name, lsn=stats.lsn, records=stats.records)
        return installed

    async def total_bytes(self) -> int:
        """Return the size on disk of every workload file (``.sqlite``, ``-wal``, ``-shm``).

        Cancellation: the caller stops waiting; the file stats finish in their thread.
        """
        return await anyio.to_thread.run_sync(self._disk_usage, list(self._stores))

    async def close(self) -> None:
        """Close every store. Idempotent; the registry is unusable afterwards.

        Cancellation: shielded; every store is closed when this returns.
        """
        self._closed = True
        with anyio.CancelScope(shield=True):
            for dropping in list(self._dropping.values()):
                await dropping.wait()
            stores, self._stores = list(self._stores.values()), {}
            for store in stores:
                await store.close()
            catalog, self._catalog = self._catalog, None
            if catalog is not None:
                await anyio.to_thread.run_sync(catalog.close)
            await anyio.to_thread.run_sync(self._resources.close)

    # -- internals -------------------------------------------------------------------

    async def _swap(
        self,
        name: str,
        store: WorkloadStore,
        source: Path,
        verified: VerifiedSnapshot,
        durable: DurableStep | None,
    ) -> WorkloadStore:
        """Close the empty ``store``, move ``source`` in, register its new store. Shielded,
        with the lock held."""
        if not await store.close_if_empty():
            raise SnapshotRefused(
                f"snapshot {str(source)!r} refused for workload {name!r}: "
                "a write reached the store meanwhile"
            )
        try:
            await anyio.to_thread.run_sync(self._install_file, name, source, verified, durable)
        except BaseException:
            self._account(name, store.last_stats, None)
            replacement = self._stores[name] = self._make(name, None)
            try:
                await replacement.load()  # whichever file is in place: its totals
            except StoreError as exc:  # shielded: no cancellation can arrive here
                self._log.warning("store_reopen_failed", workload=name, error=str(exc))
            raise
        installed = self._stores[name] = self._make(name, verified.stats)
        self._account(name, store.last_stats, verified.stats)
        return installed

    def _install_file(
        self, name: str, source: Path, verified: VerifiedSnapshot, durable: DurableStep | None
    ) -> None:
        """Move the verified snapshot to the store path, the catalog row kept honest."""
        require_unchanged(source, name, verified)
        with nullcontext() if durable is None else durable():
            if self._catalog is not None:  # not clean until the file is in place
                self._catalog.mark_open(name, verified.stats)
            install_file(source, self._path(name))
            if self._catalog is not None:
                try:
                    self._catalog.mark_closed(name, verified.stats)
                except StoreError as exc:  # the row stays "not clean": re-read at next start
                    self._log.warning("catalog_update_failed", workload=name, error=str(exc))

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed(f"store registry of {str(self._data_dir)!r} is closed")

    def _path(self, name: str) -> Path:
        return self._dir / f"{name}{_SUFFIX}"

    def _make(self, name: str, stats: StoreStats | None, *, create: bool = False) -> WorkloadStore:
        return WorkloadStore(
            name=name,
            path=self._path(name),
            durability=self._durability,
            resources=self._resources,
            stats=stats,
            catalog=self._catalog,
            create=create,
            on_stats=partial(self._account, name),
        )

    def _add(self, name: str, stats: StoreStats | None) -> None:
        self._stores[name] = self._make(name, stats)
        if stats is not None:
            self._account(name, None, stats)

    def _account(self, name: str, old: StoreStats | None, new: StoreStats | None) -> None:
        """Keep the registry's totals: ``old`` totals of ``name`` replaced by ``new``."""
        if old is not None:
            self._records -= old.records
            self._bytes -= old.bytes
        if new is not None:
            self._records += new.records
            self._bytes += new.bytes
            if old is not None:  # a commit (not the registry's start-up)
                self._recent[name] = None
                self._recent.move_to_end(name)
                if len(self._recent) > _RECENT:
                    self._recent.popitem(last=False)
        else:
            self._recent.pop(name, None)

    def _scan(self) -> tuple[list[str], dict[str, StoreStats]]:
        """List the store files and open the catalog; return names and known totals."""
        names = self._scan_dir()
        self._remove_leftovers()
        catalog = Catalog(self._data_dir / CATALOG_FILE, self._durability)
        self._catalog = catalog
        known = catalog.load()
        present = set(names)
        for gone in [name for name in known if name not in present]:
            catalog.forget(gone)
            del known[gone]
        return names, known

    def _scan_dir(self) -> list[str]:
        make_private_dir(self._dir)
        names: list[str] = []
        for path in sorted(self._dir.glob(f"*{_SUFFIX}")):
            name = path.name[: -len(_SUFFIX)]
            try:
                names.append(validate_workload_name(name))
            except InvalidWorkloadName:
                self._log.warning("store_file_skipped", path=str(path), reason="invalid name")
        return names

    def _delete_files(self, name: str) -> None:
        """Delete the store's files: the database file is moved out of the store directory
        (atomically) before it is removed slice by slice, so no crash leaves a shortened
        store where a store is looked for."""
        if self._catalog is not None:
            self._catalog.forget(name)
        base = self._path(name)
        removed = new_snapshot_path(base, _REMOVED)
        moved = True
        try:
            os.replace(base, removed)
        except FileNotFoundError:
            moved = False
        except OSError:  # not on the same file system (a linked directory): unlink it
            base.unlink(missing_ok=True)
            moved = False
        for suffix in _SIDE_FILES[1:]:  # the database file is on its way out already
            remove_file(Path(f"{base}{suffix}"))
        if moved:
            synced = remove_file(removed)
            self._log.debug("store_file_removed", workload=name, synced_steps=synced)

    def _remove_leftovers(self) -> None:
        """Remove the files of drops a crash interrupted (``removed-*`` in the snapshot
        directory)."""
        for leftover in snapshot_dir(self._path(_REMOVED)).glob(f"{_REMOVED}-*"):
            remove_file(leftover)

    def _disk_usage(self, names: list[str]) -> int:
        total = 0
        for name in names:
            base = self._path(name)
            for suffix in _SIDE_FILES:
                try:
                    total += Path(f"{base}{suffix}").stat().st_size
                except FileNotFoundError:
                    continue
        return total


def _require_empty(store: WorkloadStore) -> None:
    """Refuse a snapshot for a store that is not empty (only an empty copy is replaced)."""
    stats = store.last_stats
    if stats.lsn or stats.records:
        raise SnapshotRefused(
            f"workload {store.name!r} is not empty (lsn {stats.lsn}, {stats.records} "
            "records): a snapshot is installed only into an empty copy"
        )
