"""The edge's routing table and epoch fence, kept in one state log (edge layer).

A cutover's activation changes a workload's epoch and its route together, inside the
source's hold. Kept in one :class:`~._state_log.StateLog` (``edge.state`` and
``edge.log`` in the data directory, tables ``routes`` and ``epochs``), that change is one
record and one data sync; in two files it was two syncs at once, and the activation
waited for the slower (beside a writer of 10 MB files, p90 / max 10.4-13.5 / 25.6-43.8
ms for two against 7.8-10.4 / 13.7-27.3 for one).

The files of the layout before (``routing.state`` and ``epochs.state``, with their logs,
or their ``.json`` predecessors) are read once into it, then removed.

**An older version must not start on this directory.** It would find no routes and no
epochs of its own: it would fence nothing and could serve a copy that moved away or was
never activated. Every older version reads ``routing.json`` and ``epochs.json`` when its
own newer files are absent, so those two names hold *markers*: a short text saying where
the state went, which no older version can decode, so it refuses to start and names the
file. A marker without ``edge.state`` beside it means the state was lost (deleted,
restored in part): that start is refused too, rather than begun with no routes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, TypeVar

from ._errors import EdgeError
from ._fence import EpochFence, FenceEntry
from ._routing import Route, RoutingTable
from ._state_file import replace_file, sync_directory
from ._state_log import StateLog

if TYPE_CHECKING:
    from pathlib import Path

    from ._state_log import StateTable

__all__ = ["MARKER_FILES", "STATE_FILE", "open_edge_state"]

STATE_FILE: Final = "edge.state"
"""The snapshot of the edge's routes and epochs (its log: ``edge.log``)."""

MARKER_FILES: Final = ("routing.json", "epochs.json")
"""Where older versions look for routes and epochs: markers here (see the module doc)."""

_MARKER: Final = (
    b"edge-actors: this edge's routes and epochs are kept in edge.state and edge.log, in\n"
    b"this directory. This file stands where older versions of edge-actors look for them,\n"
    b"so that such a version refuses to start here (it would start with no routes and no\n"
    b"epochs, and could serve copies it must fence). Start a version that reads\n"
    b"edge.state. Do not remove this file while edge.state is kept.\n"
)

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
    present = [path for path in files if path.exists() and not _is_marker(path)]
    if present and read:
        old = StateLog(files[0], what, (field,)).table(field, kind)
        for key, value in old.items():
            into.set(key, value)
        present = [path for path in files if path.exists()]  # a .json is rewritten first
    return present


def _is_marker(path: Path) -> bool:
    """Whether ``path`` is one of the markers this module writes."""
    try:
        return path.stat().st_size == len(_MARKER) and path.read_bytes() == _MARKER
    except FileNotFoundError:
        return False


def open_edge_state(data_dir: Path) -> tuple[RoutingTable, EpochFence]:
    """The routing table and the epoch fence of the edge whose data directory is
    ``data_dir``, read from its state log (old files imported once, see the module doc).

    Raises:
        EdgeError: A state file exists but cannot be read or decoded (named).
        OSError: Old files could not be imported (they are left in place).
    """
    path = data_dir / STATE_FILE
    fresh = not path.exists()
    markers = [data_dir / name for name in MARKER_FILES]
    found = [marker for marker in markers if fresh and _is_marker(marker)]
    if found:
        raise EdgeError(
            f"edge state {str(path)!r} is missing, but {str(found[0])!r} says this edge "
            "keeps its routes and epochs there: not starting with none (restore edge.state "
            "and edge.log from a backup, or remove the data directory to start this edge "
            "empty)"
        )
    state = StateLog(path, "edge state", ("routes", "epochs"))
    routes = state.table("routes", Route)
    epochs = state.table("epochs", FenceEntry)
    old = [
        *_import_old(data_dir, "routing", "routes", "routing table", Route, routes, fresh),
        *_import_old(data_dir, "epochs", "workloads", "epoch file", FenceEntry, epochs, fresh),
    ]
    state.save_now()  # an import durable here before the old files go
    state.create_now()  # and the state in place before any marker points to it
    for file in old:
        if file.name not in MARKER_FILES:
            file.unlink(missing_ok=True)
    for marker in markers:
        if not _is_marker(marker):
            replace_file(marker, [_MARKER])  # over an imported .json: one rename
    if old:
        sync_directory(path)
    return RoutingTable(routes), EpochFence(epochs)
