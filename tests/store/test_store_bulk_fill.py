"""Bulk apply: a copy into an empty store fills it with a rollback journal, not the WAL.

Every page of the fill is written once (no WAL frame, no checkpoint copy); commits stay
atomic and survive a SIGKILL; the store is back in WAL mode once the fill ends.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from edge_actors.store import StoreStats, WorkloadStore, _bulk
from edge_actors.store._digest import digest_hex, hash_and_size
from edge_actors.wire import Change
from support.page_cache import cached_pages

if TYPE_CHECKING:
    from pathlib import Path

    from edge_actors.store import Durability

pytestmark = pytest.mark.anyio


def _value(i: int, size: int = 64) -> bytes:
    return (f"v{i}-".encode() * size)[:size]


def _chunk(start: int, n: int, size: int = 64) -> list[Change]:
    return [Change(lsn=i, key=f"k{i:07d}", value=_value(i, size)) for i in range(start, start + n)]


def _expected(upto: int, size: int = 64) -> StoreStats:
    records = [(f"k{i:07d}".encode(), _value(i, size)) for i in range(1, upto + 1)]
    total, nbytes = hash_and_size(records)
    return StoreStats(records=upto, bytes=nbytes, lsn=upto, digest=digest_hex(total))


def _journal_mode(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])


def _wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


@pytest.mark.parametrize("durability", ["normal", "full"])
async def test_a_copy_into_an_empty_store_is_a_bulk_fill_until_it_ends(
    tmp_path: Path, durability: Durability
) -> None:
    path = tmp_path / "w.sqlite"
    store = await WorkloadStore.open(path, "w", create=True, durability=durability)
    try:
        writer = store._writer
        for start in (1, 101, 201):
            await store.apply_changes(_chunk(start, 100), bulk=True)

        assert writer.in_bulk
        assert writer.bulk_fills == 1
        assert not _wal(path).exists()  # no page went through a WAL
        assert writer.checkpointer.passive_runs == 0
        conn = writer._conn
        assert conn is not None
        synchronous = conn.execute("PRAGMA synchronous").fetchone()[0]
        assert synchronous == (0 if durability == "normal" else 2)  # OFF / FULL

        await store.end_bulk_apply()

        assert not writer.in_bulk
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == (
            1 if durability == "normal" else 2
        )  # NORMAL / FULL again
        assert _journal_mode(path) == "wal"
        assert await store.stats() == _expected(300) == await store.compute_stats()
        assert await store.get("k0000150") == (_value(150), 150)
        await store.apply_changes(_chunk(301, 10), bulk=True)  # a delta round: WAL mode
        assert writer.bulk_fills == 1
        assert _wal(path).exists()
    finally:
        await store.close()


@pytest.mark.skipif(not _bulk.Writeback.available(), reason="no sync_file_range here")
@pytest.mark.parametrize("durability", ["normal", "full"])
async def test_a_normal_fill_starts_writeback_as_the_file_grows(
    tmp_path: Path, durability: Durability, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The end of the fill then waits only for the tail; a full store synced each commit."""
    monkeypatch.setattr(_bulk, "WRITEBACK_BYTES", 256 * 1024)
    path = tmp_path / "w.sqlite"
    store = await WorkloadStore.open(path, "w", create=True, durability=durability)
    try:
        writer = store._writer
        for start in range(1, 1201, 200):  # ~1.2 MB of 1 KiB values, 200 per commit
            await store.apply_changes(_chunk(start, 200, 1024), bulk=True)
        assert writer.in_bulk
        started = writer.writeback.started
        if durability == "normal":
            assert started >= 2  # one per 256 KiB the file grew: not only at the end
        else:
            assert started == 0

        await store.end_bulk_apply()

        assert not writer.in_bulk
        assert await store.stats() == _expected(1200, 1024) == await store.compute_stats()
        await store.apply_changes(_chunk(1201, 200, 1024), bulk=True)  # WAL mode: none
        assert writer.writeback.started == started
    finally:
        await store.close()


async def test_a_local_write_ends_the_bulk_fill_first(store: WorkloadStore) -> None:
    await store.apply_changes(_chunk(1, 50), bulk=True)
    assert store._writer.in_bulk

    assert await store.put("local", b"x") == 51

    assert not store._writer.in_bulk
    assert _journal_mode(store.path) == "wal"
    assert (await store.compute_stats()).records == 51


async def test_only_an_apply_that_asks_for_it_fills_in_bulk(store: WorkloadStore) -> None:
    await store.apply_changes(_chunk(1, 50))  # e.g. a rollback's sync-back into a live store

    assert store._writer.bulk_fills == 0
    assert not store._writer.in_bulk
    assert _wal(store.path).exists()


async def test_a_store_with_records_is_not_filled_in_bulk(store: WorkloadStore) -> None:
    await store.put("local", b"x")

    await store.apply_changes(_chunk(2, 50), bulk=True)

    assert store._writer.bulk_fills == 0
    assert not store._writer.in_bulk


async def test_a_reader_with_the_wal_open_keeps_the_apply_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    store = await WorkloadStore.open(path, "w", create=True)
    reader = sqlite3.connect(path)
    try:
        assert reader.execute("SELECT count(*) FROM records").fetchone()[0] == 0

        await store.apply_changes(_chunk(1, 50), bulk=True)

        assert store._writer.bulk_fills == 0
        assert await store.stats() == _expected(50) == await store.compute_stats()
    finally:
        reader.close()
        await store.close()


async def test_closing_a_store_mid_fill_ends_the_fill(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    store = await WorkloadStore.open(path, "w", create=True)
    await store.apply_changes(_chunk(1, 80), bulk=True)
    assert store._writer.in_bulk
    assert store._writer._detach() is None  # the descriptor budget may not close it now
    await store.close()

    assert _journal_mode(path) == "wal"  # switched back (and synced) before closing
    reopened = await WorkloadStore.open(path, "w")
    try:
        assert await reopened.stats() == _expected(80) == await reopened.compute_stats()
        assert not reopened._writer.in_bulk
    finally:
        await reopened.close()


# The child fills an empty store chunk by chunk (2 MiB per commit) and prints
# "APPLIED <lsn>" after each apply returned, until the test kills it. The kill lands
# inside a commit's page writes in some runs (a hot journal is left behind: about one
# run in five here) and between two commits in others; both must reopen consistent.
_CHUNK = 500
_VALUE = 4096
_CHILD = f"""
import sys
from pathlib import Path

import anyio

from edge_actors.store import WorkloadStore
from edge_actors.wire import Change


def value(i: int) -> bytes:
    return (f"v{{i}}-".encode() * {_VALUE})[:{_VALUE}]


async def main(path: str) -> None:
    store = await WorkloadStore.open(Path(path), "crash", create=True)
    start = 1
    while True:
        changes = [
            Change(lsn=i, key=f"k{{i:07d}}", value=value(i)) for i in range(start, start + {_CHUNK})
        ]
        lsn = await store.apply_changes(changes, bulk=True)
        assert store._writer.in_bulk
        sys.stdout.write(f"APPLIED {{lsn}}\\n")
        sys.stdout.flush()
        start += {_CHUNK}


anyio.run(main, sys.argv[1])
"""


def _fill_and_kill(path: Path) -> int:
    """Run the child until it acknowledged 8 chunks, SIGKILL it; return the last ack."""
    acked = 0
    with subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            acked = int(line.split()[1])
            if acked >= 8 * _CHUNK:
                break
        child.send_signal(signal.SIGKILL)  # the next commit is being written
        child.wait()
        for line in child.stdout:  # acks already in the pipe came before the kill too
            acked = int(line.split()[1])
    return acked


async def test_a_fill_killed_mid_commit_reopens_consistent_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite"
    acked = _fill_and_kill(path)
    assert acked >= 8 * _CHUNK

    with sqlite3.connect(path) as db:  # SQLite rolls the hot journal back first
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = await WorkloadStore.open(path, "crash")
    try:
        stats = await store.stats()
        assert stats.lsn >= acked  # every acknowledged apply is there
        assert stats.lsn % _CHUNK == 0  # and no part of an unacknowledged one
        assert stats == _expected(stats.lsn, _VALUE) == await store.compute_stats()
        assert _journal_mode(path) == "wal"

        # The copy resumes from the store's LSN (as HelloAck tells the sender).
        final = stats.lsn + 4 * _CHUNK
        for start in range(stats.lsn + 1, final, _CHUNK):
            await store.apply_changes(_chunk(start, _CHUNK, _VALUE), bulk=True)
        assert await store.stats() == _expected(final, _VALUE)
        assert await store.compute_stats() == await store.stats()
    finally:
        await store.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mincore and fadvise: Linux")
async def test_a_fill_that_ends_leaves_its_pages_out_of_the_page_cache(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    store = await WorkloadStore.open(path, "w", create=True)
    try:
        for start in range(1, 2001, 500):
            await store.apply_changes(_chunk(start, 500, size=1024), bulk=True)
        cached, pages = cached_pages(path)
        assert pages > 400  # about 2 MB written
        assert cached > pages // 2  # while filling, the pages are in the page cache

        await store.end_bulk_apply()

        cached, pages = cached_pages(path)
        assert cached < pages // 10, (cached, pages)  # synced, then dropped
        assert await store.stats() == _expected(2000, size=1024)  # read back from disk
        assert await store.get("k0001234") == (_value(1234, 1024), 1234)
    finally:
        await store.close()
