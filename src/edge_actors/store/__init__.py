"""Workload record stores on SQLite (WAL): the ``store`` layer of edge_actors.

Imports only the leaves (``errors``, ``_log``) and ``wire`` (for :class:`Change`).

- :class:`WorkloadStore`: one workload's records (key -> bytes) with a monotonic LSN,
  tombstones, delta scans by LSN, idempotent apply and an O(1) content digest.
- :class:`StoreRegistry`: all workload stores of one edge data directory, sharing one
  descriptor and page-cache budget and one checkpoint service (:class:`StoreResources`).
- Snapshots: :meth:`WorkloadStore.export_snapshot` writes a consistent copy of a store to
  one file (:class:`SnapshotInfo` says what it holds); :meth:`StoreRegistry.install_snapshot`
  checks such a file and makes it the store of an empty workload.
"""

from __future__ import annotations

from ._budget import DEFAULT_CACHE_MIB as DEFAULT_CACHE_MIB
from ._budget import MIN_FD_BUDGET as MIN_FD_BUDGET
from ._budget import default_fd_budget as default_fd_budget
from ._digest import record_hash as record_hash
from ._errors import InvalidRecord as InvalidRecord
from ._errors import InvalidWorkloadName as InvalidWorkloadName
from ._errors import SnapshotExists as SnapshotExists
from ._errors import SnapshotRefused as SnapshotRefused
from ._errors import StoreClosed as StoreClosed
from ._errors import StoreError as StoreError
from ._errors import StoreFull as StoreFull
from ._errors import WorkloadExists as WorkloadExists
from ._errors import WorkloadNotFound as WorkloadNotFound
from ._heap import limit_arenas as limit_arenas
from ._models import Durability as Durability
from ._models import StoreStats as StoreStats
from ._names import validate_workload_name as validate_workload_name
from ._records import MAX_KEY_BYTES as MAX_KEY_BYTES
from ._records import MAX_VALUE_BYTES as MAX_VALUE_BYTES
from ._registry import StoreRegistry as StoreRegistry
from ._removal import remove_file as remove_file
from ._resources import StoreResources as StoreResources
from ._snapshot import SnapshotInfo as SnapshotInfo
from ._snapshot_files import IncomingSnapshot as IncomingSnapshot
from ._snapshot_files import clear_snapshot_files as clear_snapshot_files
from ._snapshot_files import new_snapshot_path as new_snapshot_path
from ._snapshot_files import snapshot_dir as snapshot_dir
from ._store import WorkloadStore as WorkloadStore

__all__ = [
    "DEFAULT_CACHE_MIB",
    "MAX_KEY_BYTES",
    "MAX_VALUE_BYTES",
    "MIN_FD_BUDGET",
    "Durability",
    "IncomingSnapshot",
    "InvalidRecord",
    "InvalidWorkloadName",
    "SnapshotExists",
    "SnapshotInfo",
    "SnapshotRefused",
    "StoreClosed",
    "StoreError",
    "StoreFull",
    "StoreRegistry",
    "StoreResources",
    "StoreStats",
    "WorkloadExists",
    "WorkloadNotFound",
    "WorkloadStore",
    "clear_snapshot_files",
    "default_fd_budget",
    "limit_arenas",
    "new_snapshot_path",
    "record_hash",
    "remove_file",
    "snapshot_dir",
    "validate_workload_name",
]
