"""The edge's routing table and epoch fence, kept in one state log (edge layer).

A cutover's activation changes a workload's epoch and its route together, inside the
source's hold. Kept in one :class:`~._state_log.StateLog` (``edge.state`` and
``edge.log`` in the data directory, tables ``routes`` and ``epochs``), that change is one
record and one data sync; in two files it was two syncs at once, and the activation
waited for the slower (beside a writer of 10 MB files, p90 / max 10.4-13.5 / 25.6-43.8
ms for two against 7.8-10.4 / 13.7-27.3 for one).

The files of the layout before (``routing.state`` and ``epochs.state``, with their logs,
or their ``.json`` predecessors) are read once into it, then removed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, TypeVar

from ._fence import EpochFence, FenceEntry
from ._routing import Route, RoutingTable
from ._state_file import sync_directory
from ._state_log import StateLog

if TYPE_CHECKING:
    from pathlib import Path

    from ._state_log import StateTable

__all__ = ["STATE_FILE", "open_edge_state"]

STATE_FILE: Final = "edge.state"
"""The snapshot of the edge's routes and epochs (its log: ``edge.log``)."""

_V = TypeVar("_V")


def _import_old(
    data_dir: Path,
    stem: str,
    field: str,
    what: str,
    kind: type[_V],
    into: StateTable[_V],
    read: bool,
) -> list[Path]:
    """The files of the old layout for ``stem`` that exist; with ``read``, their entries
    are set in ``into`` first (``field``: the table they were kept in)."""
    files = [data_dir / f"{stem}{suffix}" for suffix in (".state", ".log", ".json")]
    present = [path for path in files if path.exists()]
    if present and read:
        old = StateLog(files[0], what, (field,)).table(field, kind)
        for key, value in old.items():
            into.set(key, value)
        present = [path for path in files if path.exists()]  # a .json is rewritten first
    return present


def open_edge_state(data_dir: Path) -> tuple[RoutingTable, EpochFence]:
    """The routing table and the epoch fence of the edge whose data directory is
    ``data_dir``, read from its state log (old files imported once, see the module doc).

    Raises:
        EdgeError: A state file exists but cannot be read or decoded (named).
        OSError: Old files could not be imported (they are left in place).
    """
    path = data_dir / STATE_FILE
    fresh = not path.exists()
    state = StateLog(path, "edge state", ("routes", "epochs"))
    routes = state.table("routes", Route)
    epochs = state.table("epochs", FenceEntry)
    old = [
        *_import_old(data_dir, "routing", "routes", "routing table", Route, routes, fresh),
        *_import_old(data_dir, "epochs", "workloads", "epoch file", FenceEntry, epochs, fresh),
    ]
    if old:
        if fresh:
            state.save_now()  # durable here before the old files go
        for file in old:
            file.unlink(missing_ok=True)
        sync_directory(path)
    return RoutingTable(routes), EpochFence(epochs)
