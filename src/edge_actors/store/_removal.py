"""Large files are removed a slice at a time (store layer).

Unlinking a file frees all its blocks at once, and on ext4 mounted with online
``discard`` (these machines' root file system; common on SSD-backed VMs) the journal
commit that follows also discards them all before it completes. Every other writer that
syncs on the same file system waits for that commit. In a scratch test, unlinking a
1 GB file took 230 ms and a writer committing to a WAL store (``synchronous=FULL``)
every millisecond waited up to 57-59 ms; a 100 MB file, up to 9-22 ms. The edge removes
such files in the middle of its work: the snapshot file a copy exported once it is sent,
a migrated workload's store at cleanup, a received file that was not installed.

:func:`remove_file` truncates a file larger than :data:`REMOVE_STEP_BYTES` from its end,
that many bytes at a time, each step synced, then unlinks it: each commit then frees and
discards one step, and the other writers' syncs fit between them. Same test: the
writer's longest commit was 1.4-1.9 ms at 1 GB (3.6-4.5 ms with 16 MiB steps), and the
removal took as long as the plain unlink. Blocking: callers run it in a worker thread.

A step is synced only when what is left of the file has at most
:data:`SYNC_UNSYNCED_MAX_BYTES` not yet on disk (dirty or under writeback; Linux
``cachestat``, :mod:`._cachestat`). Syncing
writes those pages first, and a file just written (an exported snapshot: 1 GB, nearly all
of it dirty) would be written to disk only to be deleted: the first version did that,
and a 1 GB export's removal stalled the source's writes for 442-454 ms in 2 of 3 traced
runs. Dirty pages that were never written have no blocks on disk, so freeing them costs
the journal nothing: the steps over them need no sync. The whole file is asked about
once, then each slice before it is cut off (asking about the whole rest at every step
walked a 1 GB file's cached pages 124 times: 0.4-0.5 s). Where ``cachestat`` is missing
(Linux before 6.5), no step is synced, as with a plain unlink.

A truncated file must never be mistaken for a whole one: the registry renames a store's
file into the snapshot directory (which a daemon clears when it starts) before it
truncates it, so a crash mid-removal leaves no shortened store behind.
"""

from __future__ import annotations

import mmap
import os
from typing import TYPE_CHECKING

from ._cachestat import unsynced_pages

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["REMOVE_STEP_BYTES", "SYNC_UNSYNCED_MAX_BYTES", "remove_file"]

REMOVE_STEP_BYTES = 8 * 1024 * 1024
"""Bytes freed per truncation step of :func:`remove_file` (module doc)."""

SYNC_UNSYNCED_MAX_BYTES = 256 * 1024
"""A step is synced only if at most this much of what is left is not yet on disk."""


def remove_file(path: Path, *, step_bytes: int = REMOVE_STEP_BYTES) -> int:
    """Remove ``path`` (nothing if it does not exist); one larger than ``step_bytes`` is
    first truncated from its end ``step_bytes`` at a time, each step synced unless more
    than :data:`SYNC_UNSYNCED_MAX_BYTES` of what is left is not yet on disk (module doc).

    Returns the number of steps synced (0 for a small or missing file), for the caller's
    log. Blocking. A symlink is unlinked, never followed; a FIFO is never opened.

    Raises:
        ValueError: ``step_bytes`` is not positive.
        OSError: The file system refused a step (the file may be left shorter, never
            longer; callers remove only files nobody reads any more).
    """
    if step_bytes <= 0:
        raise ValueError(f"step_bytes must be positive, got {step_bytes}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return 0
    except OSError:  # a symlink (ELOOP), a FIFO (ENXIO), no write permission: unlink only
        path.unlink(missing_ok=True)
        return 0
    synced = 0
    try:
        size = os.fstat(fd).st_size
        unsynced = _unsynced_bytes(fd, 0, 0) if size > step_bytes else 0  # once
        while size > step_bytes:
            cut_from = size - step_bytes
            if unsynced:  # what the slice held no longer counts (pages written meanwhile
                # still do: a stale count only syncs less)
                unsynced -= _unsynced_bytes(fd, cut_from, step_bytes) or 0
            os.ftruncate(fd, cut_from)
            size = cut_from
            if unsynced is not None and unsynced <= SYNC_UNSYNCED_MAX_BYTES:
                os.fsync(fd)
                synced += 1
    finally:
        os.close(fd)
    path.unlink(missing_ok=True)
    return synced


def _unsynced_bytes(fd: int, offset: int, length: int) -> int | None:
    """Bytes of the range of ``fd`` not yet on disk (``None``: the kernel cannot tell)."""
    pages = unsynced_pages(fd, offset, length)
    return None if pages is None else sum(pages) * mmap.PAGESIZE
