"""Where snapshot files of a data directory live (layer: store).

A copy's snapshot travels as a file: the source exports it next to its stores and the
target writes the parts it receives there, before the file is verified and installed
(:mod:`._snapshot`). Both are temporary; a process that died mid-copy leaves them
behind, so a daemon clears the directory when it starts (:func:`clear_snapshot_files`).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["clear_snapshot_files", "new_snapshot_path", "snapshot_dir"]

_DIR = "snapshots"


def snapshot_dir(store_path: Path) -> Path:
    """The snapshot directory of the data directory that holds the store at
    ``store_path`` (``<data_dir>/workloads/<name>.sqlite`` -> ``<data_dir>/snapshots``)."""
    return store_path.parent.parent / _DIR


def new_snapshot_path(store_path: Path, role: str) -> Path:
    """A new, unused file name in :func:`snapshot_dir` for the snapshot of the store at
    ``store_path`` (``role``: ``out`` exported here, ``in`` received); creates the
    directory, owner-only, if needed (blocking)."""
    folder = snapshot_dir(store_path)
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{role}-{store_path.stem}-{uuid.uuid4().hex[:12]}.sqlite"


def clear_snapshot_files(data_dir: Path) -> int:
    """Delete every file left in ``<data_dir>/snapshots`` (blocking); return how many."""
    folder = data_dir / _DIR
    if not folder.is_dir():
        return 0
    removed = 0
    for entry in folder.iterdir():
        if entry.is_file() or entry.is_symlink():
            entry.unlink(missing_ok=True)
            removed += 1
    return removed
