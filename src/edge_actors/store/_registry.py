"""StoreRegistry: every workload store of one edge data directory (store layer).

Files live at ``<data_dir>/workloads/<name>.sqlite`` (plus SQLite's ``-wal`` and ``-shm``
side files). The registry opens all of them at start-up, creates and drops workloads,
and reports their size on disk for capacity checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from edge_actors._log import get_logger
from edge_actors.clock import SYSTEM_CLOCK

from ._closing import AsyncCloseable
from ._errors import InvalidWorkloadName, StoreClosed, WorkloadExists, WorkloadNotFound
from ._names import validate_workload_name
from ._store import WorkloadStore

if TYPE_CHECKING:
    from edge_actors.clock import Clock

    from ._models import Durability

__all__ = ["StoreRegistry"]

_SUFFIX = ".sqlite"
_SIDE_FILES = ("", "-wal", "-shm", "-journal")


class StoreRegistry(AsyncCloseable):
    """The open :class:`WorkloadStore` of each workload under one edge data directory.

    One registry per data directory and process. Use :meth:`open` to build one.
    """

    def __init__(
        self, data_dir: Path, *, durability: Durability = "normal", clock: Clock = SYSTEM_CLOCK
    ) -> None:
        """Make an empty registry; :meth:`open` also opens the existing workloads."""
        self._data_dir = data_dir
        self._clock = clock
        self._dir = data_dir / "workloads"
        self._durability: Durability = durability
        self._stores: dict[str, WorkloadStore] = {}
        self._lock = anyio.Lock()
        self._closed = False
        self._log = get_logger("store.registry", data_dir=str(data_dir))

    @classmethod
    async def open(
        cls, data_dir: Path, *, durability: Durability = "normal", clock: Clock = SYSTEM_CLOCK
    ) -> StoreRegistry:
        """Open every workload store found under ``<data_dir>/workloads/``.

        Files whose name is not a legal workload name are skipped with a warning.

        Args:
            data_dir: The edge's data directory (created if missing).
            durability: Durability of every store this registry opens or creates.
            clock: The clock its stores' WAL checkpointers time their intervals by.

        Raises:
            StoreError: A store file could not be opened; the stores already opened
                are closed again.

        Cancellation: stores opened so far are closed again, then it propagates.
        """
        registry = cls(data_dir, durability=durability, clock=clock)
        try:
            names = await anyio.to_thread.run_sync(registry._scan_dir)
            for name in names:
                registry._stores[name] = await WorkloadStore.open(
                    registry._path(name), name, durability=durability, clock=clock
                )
        except BaseException:
            await registry.close()
            raise
        registry._log.info("registry_opened", workloads=len(names))
        return registry

    @property
    def data_dir(self) -> Path:
        """The edge data directory."""
        return self._data_dir

    def path_of(self, name: str) -> Path:
        """Return the store file path of workload ``name`` (validated; may not exist)."""
        return self._path(validate_workload_name(name))

    def names(self) -> list[str]:
        """Return the names of the open workloads, sorted."""
        return sorted(self._stores)

    def __contains__(self, name: object) -> bool:
        return name in self._stores

    def get(self, name: str) -> WorkloadStore:
        """Return the open store of workload ``name``.

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
        async with self._lock:
            self._check_open()
            path = self._path(name)
            if name in self._stores or await anyio.to_thread.run_sync(path.exists):
                raise WorkloadExists(f"workload {name!r} already exists in {str(self._dir)!r}")
            store = await WorkloadStore.open(
                path, name, create=True, durability=self._durability, clock=self._clock
            )
            self._stores[name] = store
        self._log.info("workload_created", workload=name)
        return store

    async def drop(self, name: str) -> None:
        """Close workload ``name`` and delete its files (``.sqlite``, ``-wal``, ``-shm``).

        Writes already submitted to the store finish first; later ones raise
        :class:`StoreClosed`.

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
            with anyio.CancelScope(shield=True):
                await store.close()
                await anyio.to_thread.run_sync(self._delete_files, name)
        self._log.info("workload_dropped", workload=name)

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
            stores, self._stores = list(self._stores.values()), {}
            for store in stores:
                await store.close()

    # -- internals -------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed(f"store registry of {str(self._data_dir)!r} is closed")

    def _path(self, name: str) -> Path:
        return self._dir / f"{name}{_SUFFIX}"

    def _scan_dir(self) -> list[str]:
        self._dir.mkdir(parents=True, exist_ok=True)
        names: list[str] = []
        for path in sorted(self._dir.glob(f"*{_SUFFIX}")):
            name = path.name[: -len(_SUFFIX)]
            try:
                names.append(validate_workload_name(name))
            except InvalidWorkloadName:
                self._log.warning("store_file_skipped", path=str(path), reason="invalid name")
        return names

    def _delete_files(self, name: str) -> None:
        base = self._path(name)
        for suffix in _SIDE_FILES:
            Path(f"{base}{suffix}").unlink(missing_ok=True)

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
