"""Large files leave a slice at a time: a store's drop, a discarded received file.

A second hard link to the file shows what the removal did to its blocks: a plain unlink
leaves the inode whole behind that link; a removal a slice at a time has freed all but
the last slice before it unlinks the name.
"""

from __future__ import annotations

import mmap
import os
from typing import TYPE_CHECKING

import pytest

from edge_actors.store import IncomingSnapshot, StoreRegistry, new_snapshot_path, remove_file
from edge_actors.store._cachestat import unsynced_pages
from edge_actors.store._removal import REMOVE_STEP_BYTES

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024


def _write(path: Path, nbytes: int, *, synced: bool = True) -> None:
    """A file of ``nbytes`` random bytes; ``synced``: on disk, as a file long written."""
    with path.open("wb") as out:
        for _ in range(nbytes // MIB):
            out.write(os.urandom(MIB))
        out.write(os.urandom(nbytes % MIB))
        if synced:
            out.flush()
            os.fsync(out.fileno())


def _has_cachestat() -> bool:
    fd = os.open(__file__, os.O_RDONLY)
    try:
        return unsynced_pages(fd) is not None
    finally:
        os.close(fd)


def test_a_large_file_is_truncated_a_slice_at_a_time_before_its_name_goes(tmp_path: Path) -> None:
    path, kept = tmp_path / "big", tmp_path / "link"
    _write(path, 3 * MIB + 5)
    os.link(path, kept)

    synced = remove_file(path, step_bytes=MIB)

    assert not path.exists()
    assert kept.stat().st_size == 5  # the blocks of three slices were freed before the unlink
    assert synced == (3 if _has_cachestat() else 0)  # each step synced: it was on disk


@pytest.mark.skipif(not _has_cachestat(), reason="no cachestat (Linux < 6.5)")
def test_a_file_not_yet_on_disk_is_not_written_to_disk_to_be_removed(tmp_path: Path) -> None:
    path, kept = tmp_path / "fresh", tmp_path / "link"
    _write(path, 5 * MIB, synced=False)  # as an exported snapshot just written
    os.link(path, kept)

    assert remove_file(path, step_bytes=MIB) == 0

    fd = os.open(kept, os.O_RDONLY)
    try:
        assert kept.stat().st_size == MIB
        dirty, _ = unsynced_pages(fd) or (0, 0)
        assert dirty == MIB // mmap.PAGESIZE  # what is left was never written back
    finally:
        os.close(fd)


def test_a_small_or_missing_file_is_just_unlinked(tmp_path: Path) -> None:
    path, kept = tmp_path / "small", tmp_path / "link"
    _write(path, MIB)
    os.link(path, kept)

    assert remove_file(path, step_bytes=MIB) == 0
    assert not path.exists()
    assert kept.stat().st_size == MIB
    assert remove_file(tmp_path / "missing") == 0


def test_a_symlink_is_unlinked_and_its_target_left_whole(tmp_path: Path) -> None:
    target, link = tmp_path / "target", tmp_path / "link"
    _write(target, 3 * MIB)
    link.symlink_to(target)

    assert remove_file(link, step_bytes=MIB) == 0
    assert not link.is_symlink()
    assert target.stat().st_size == 3 * MIB


def test_a_fifo_is_unlinked_without_waiting_for_a_reader(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    assert remove_file(fifo) == 0
    assert not fifo.exists()


def test_a_step_must_be_positive(tmp_path: Path) -> None:
    path = tmp_path / "f"
    _write(path, 10)
    with pytest.raises(ValueError, match="step_bytes must be positive, got 0"):
        remove_file(path, step_bytes=0)
    assert path.stat().st_size == 10


async def test_a_dropped_store_is_freed_a_slice_at_a_time(tmp_path: Path) -> None:
    async with await StoreRegistry.open(tmp_path) as registry:
        store = await registry.create("large")
        value = os.urandom(1000)
        for start in range(0, 12_000, 1000):
            await store.write_batch([(f"r{i:06d}", value) for i in range(start, start + 1000)])
        await store.close()  # checkpointed: every record is in the database file
        kept = tmp_path / "kept"
        os.link(store.path, kept)
        size = kept.stat().st_size
        assert size > 1.2 * REMOVE_STEP_BYTES

        await registry.drop("large")

        assert kept.stat().st_size <= REMOVE_STEP_BYTES  # not the whole file at once
        assert not list((tmp_path / "workloads").glob("large*"))
        assert not list((tmp_path / "snapshots").iterdir())  # nothing left on its way out
    kept.unlink()


async def test_the_file_of_an_interrupted_drop_is_removed_at_the_next_start(
    tmp_path: Path,
) -> None:
    async with await StoreRegistry.open(tmp_path) as registry:
        await registry.create("kept")
    store_path = tmp_path / "workloads" / "gone.sqlite"
    # what a crash during a drop leaves: the store's file moved out, partly truncated
    leftover = new_snapshot_path(store_path, "removed")
    _write(leftover, 2 * MIB)
    received = new_snapshot_path(store_path, "in")  # not the registry's: the daemon's
    _write(received, MIB)

    async with await StoreRegistry.open(tmp_path) as registry:
        assert registry.names() == ["kept"]
    assert not leftover.exists()
    assert received.exists()


def test_a_discarded_received_file_is_freed_a_slice_at_a_time(tmp_path: Path) -> None:
    incoming = IncomingSnapshot(tmp_path / "in-w.sqlite")
    part = os.urandom(MIB)
    for _ in range(REMOVE_STEP_BYTES // MIB * 2 + 1):
        incoming.write(part)
    kept = tmp_path / "kept"
    os.link(incoming.path, kept)

    incoming.discard()

    assert not incoming.path.exists()
    assert kept.stat().st_size <= REMOVE_STEP_BYTES
