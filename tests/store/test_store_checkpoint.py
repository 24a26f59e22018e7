"""Background WAL checkpoints: never inside a commit, WAL bounded, threads joined on close."""

from __future__ import annotations

import sqlite3
import threading
from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.store import WorkloadStore

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from edge_actors.store._checkpointer import Checkpointer

pytestmark = pytest.mark.anyio

_VALUE = bytes(range(256)) * 4  # 1 KiB


def _checkpointer(store: WorkloadStore) -> Checkpointer:
    return store._writer.checkpointer


async def _wait_for(predicate: Callable[[], bool], what: str) -> None:
    with anyio.move_on_after(30):
        while not predicate():
            await anyio.sleep(0.01)
    assert predicate(), what


async def _commit_until(store: WorkloadStore, predicate: Callable[[], bool], what: str) -> None:
    """Keep committing small writes (checkpoints follow commits) until ``predicate``."""
    with anyio.move_on_after(30):
        while not predicate():
            await store.put("tick", b"t")
            await anyio.sleep(0.02)
    assert predicate(), what


async def _write(store: WorkloadStore, n: int, prefix: str = "k") -> None:
    for start in range(0, n, 20):
        await store.write_batch([(f"{prefix}{i:06}", _VALUE) for i in range(start, start + 20)])


async def test_the_writer_never_checkpoints_inside_a_commit(store: WorkloadStore) -> None:
    conn = store._writer._conn
    assert conn is not None
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert conn.execute("PRAGMA journal_size_limit").fetchone()[0] == -1


async def test_background_checkpoints_keep_the_wal_small_under_steady_writes(
    store: WorkloadStore,
) -> None:
    cp = _checkpointer(store)
    cp.interval_s = 0.01
    cp.restart_bytes = 256 * 1024
    commits = 0

    async def writer(w: int) -> None:  # paced: a commit every few ms, never a long pause
        nonlocal commits
        for i in range(250):
            await store.put(f"w{w}-{i % 50}", _VALUE)
            commits += 1
            await anyio.sleep(0.002)

    async with anyio.create_task_group() as tg:
        for w in range(8):
            tg.start_soon(writer, w)
    # Each commit appends at least two 16 KiB pages (a record leaf and meta): 2000 commits
    # would be >= 64 MB of WAL; restarted from its beginning, the file stays far smaller.
    assert commits == 2000
    assert cp.wal_size() < 8 * 1024 * 1024, cp.wal_size()
    assert cp.passive_runs > 0
    assert cp.truncate_runs == 0
    assert await store.compute_stats() == await store.stats()
    assert (await store.stats()).records == 400


async def test_idle_store_runs_no_checkpoint(store: WorkloadStore) -> None:
    cp = _checkpointer(store)
    cp.interval_s = 0.01
    await store.put("a", b"1")
    await _wait_for(lambda: cp.passive_runs >= 1, "no checkpoint after a commit")
    # Idle: the thread parks until the next commit, with no deadline, and ran no more.
    await _wait_for(lambda: cp.waiting_for_commit, "the checkpointer never went idle")
    runs = cp.passive_runs
    await store.put("b", b"2")  # and only a commit wakes it, for one checkpoint
    await _wait_for(lambda: cp.passive_runs > runs, "no checkpoint after the second commit")
    await _wait_for(lambda: cp.waiting_for_commit, "the checkpointer never went idle again")
    assert cp.passive_runs == runs + 1


async def test_hard_cap_truncates_a_wal_pinned_by_a_reader(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    async with await WorkloadStore.open(path, "w", create=True) as store:
        cp = _checkpointer(store)
        cp.interval_s = 0.01
        cp.restart_bytes = 128 * 1024
        cp.hard_cap = 1024 * 1024
        await store.put("first", b"x")
        reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            reader.execute("BEGIN")
            assert reader.execute("SELECT count(*) FROM records").fetchone()[0] == 1
            await _write(store, 1500)  # the pinned snapshot keeps the WAL from restarting
            assert cp.wal_size() > cp.hard_cap
            # Attempts that the reader keeps busy block the writer briefly, fail no write.
            await _commit_until(store, lambda: cp.truncate_runs >= 2, "no truncate attempt")
            assert cp.wal_size() > cp.hard_cap
            reader.execute("COMMIT")
        finally:
            reader.close()
        await _commit_until(store, lambda: cp.wal_size() < cp.hard_cap, "WAL above the cap")
        assert await store.compute_stats() == await store.stats()
        assert (await store.stats()).records == 1501 + (await store.get("tick") is not None)


async def test_close_joins_the_checkpointer_thread(tmp_path: Path) -> None:
    # A store opened on its own has a private checkpoint service of one thread (started
    # with its first connection, for checkpoints and closing long-idle connections),
    # joined by close.
    path = tmp_path / "w.sqlite"
    store = await WorkloadStore.open(path, "w", create=True)
    service = store._resources.checkpoints
    _checkpointer(store).interval_s = 0.01
    await _write(store, 200)
    (name,) = service.thread_names
    assert any(t.name == name for t in threading.enumerate())
    await store.close()
    assert not any(t.name == name for t in threading.enumerate())
    async with await WorkloadStore.open(path, "w") as again:
        assert (await again.stats()).records == 200
        assert await again.compute_digest() == (await again.stats()).digest
