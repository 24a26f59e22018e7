"""Where snapshot files of a data directory live (layer: store).

A copy's snapshot travels as a file: the source exports it next to its stores and the
target writes the parts it receives there, before the file is verified and installed
(:mod:`._snapshot`). Both are temporary; a process that died mid-copy leaves them
behind, so a daemon clears the directory when it starts (:func:`clear_snapshot_files`).

A large received file's pages are written back while it arrives: once it holds
:data:`WRITEBACK_FROM_BYTES`, every :data:`~._bulk.WRITEBACK_BYTES` it grows, the kernel
is asked to start writing what is not yet written back (``sync_file_range``, not waited
for), as a bulk fill does. Left dirty, a 1 GB file was all written by the install's
fsync, and on ext4 (``data=ordered``) that fsync's journal commit made every other writer
of the file system wait for it: the writes of other workloads on the same edge stalled
for up to 205 ms (236-446 ms for a local writer in a scratch test). A smaller file is left
to the install's fsync, which the edge keeps out of an activation's way
(``UrgentWork.durable_step``); background writeback of it would not be.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING

from edge_actors._private_files import PRIVATE_FILE_MODE, make_private_dir

from ._bulk import WRITEBACK_BYTES, start_writeback
from ._removal import remove_file
from ._snapshot import _failure

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["IncomingSnapshot", "clear_snapshot_files", "new_snapshot_path", "snapshot_dir"]

_DIR = "snapshots"

WRITEBACK_FROM_BYTES = 64 * 1024 * 1024
"""Size from which a received file is written back as it arrives (module doc)."""


def snapshot_dir(store_path: Path) -> Path:
    """The snapshot directory of the data directory that holds the store at
    ``store_path`` (``<data_dir>/workloads/<name>.sqlite`` -> ``<data_dir>/snapshots``)."""
    return store_path.parent.parent / _DIR


def new_snapshot_path(store_path: Path, role: str) -> Path:
    """A new, unused file name in :func:`snapshot_dir` for the snapshot of the store at
    ``store_path`` (``role``: ``out`` exported here, ``in`` received); creates the
    directory, owner-only, if needed (blocking)."""
    folder = snapshot_dir(store_path)
    make_private_dir(folder)
    return folder / f"{role}-{store_path.stem}-{uuid.uuid4().hex[:12]}.sqlite"


def clear_snapshot_files(data_dir: Path) -> int:
    """Delete every file left in ``<data_dir>/snapshots`` (blocking); return how many."""
    folder = data_dir / _DIR
    if not folder.is_dir():
        return 0
    removed = 0
    for entry in folder.iterdir():
        if entry.is_file() or entry.is_symlink():
            remove_file(entry)
            removed += 1
    return removed


class IncomingSnapshot:
    """A snapshot file being received: parts appended in order to a new private file
    (blocking methods: call them in a worker thread), then closed for
    :meth:`~._registry.StoreRegistry.install_snapshot` (which syncs it), or discarded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self.writebacks = 0
        """Writebacks started so far (module doc; for tests and diagnostics)."""
        self._written_back_to = 0
        self._fd: int | None = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE
        )

    def write(self, payload: bytes) -> None:
        """Append ``payload``; a full disk raises :class:`StoreFull`, any other failure
        :class:`StoreError`. In a large file, starts the writeback of what arrived since
        the last one once that is :data:`~._bulk.WRITEBACK_BYTES` or more (module doc)."""
        assert self._fd is not None
        view = memoryview(payload)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            raise _failure(f"snapshot file {self.path.name}: {exc.strerror or exc}", exc) from exc
        self.size += len(payload)
        pending = self.size - self._written_back_to
        if (
            self.size >= WRITEBACK_FROM_BYTES
            and pending >= WRITEBACK_BYTES
            and start_writeback(self._fd, self._written_back_to, pending)
        ):
            self._written_back_to = self.size
            self.writebacks += 1

    def close(self) -> None:
        """Close the file (before it is installed)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def discard(self) -> None:
        """Close and delete the file (a stream that ended without installing it), a slice
        at a time when it is large (:mod:`._removal`)."""
        self.close()
        remove_file(self.path)
