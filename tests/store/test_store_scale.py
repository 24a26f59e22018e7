"""Many stores in one registry: no store opened at start, descriptors and threads bounded.

Issue 12: every store used to keep a checkpointer thread and up to 13 descriptors open
for ever, and the registry opened every store at start-up. These tests count the real
process's descriptors (``/proc/self/fd``) and threads around real SQLite stores.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.clock import ManualClock
from edge_actors.store import StoreRegistry, WorkloadStore
from edge_actors.store._budget import DEFAULT_MAX_IDLE
from edge_actors.wire import Change

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

_STORES = 120


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _fill(data_dir: Path, n: int, **options: int) -> None:
    """Create ``n`` workloads with one record each, then close the registry."""
    async with await StoreRegistry.open(data_dir, **options) as registry:
        for i in range(n):
            store = await registry.create(f"w{i:04}")
            await store.put("k", b"v" * i)


async def _put_get_each(registry: StoreRegistry, n: int) -> None:
    async def one(i: int) -> None:
        store = registry.get(f"w{i:04}")
        lsn = await store.put("k2", b"x")
        assert await store.get("k2") == (b"x", lsn)

    for start in range(0, n, 16):  # 16 at once, as a busy daemon would
        async with anyio.create_task_group() as tg:
            for i in range(start, min(n, start + 16)):
                tg.start_soon(one, i)


async def test_open_lists_the_stores_without_opening_them(tmp_path: Path) -> None:
    await _fill(tmp_path, _STORES)
    before = _fds()
    async with await StoreRegistry.open(tmp_path) as registry:
        # The catalog file (and its WAL) only: not three descriptors per store.
        assert _fds() - before <= 4
        assert registry.resources.budget.open_connections == 0
        assert len(registry) == _STORES
        assert registry.get("w0007").last_stats.records == 1
        assert registry.used_bytes == sum(len("k") + i for i in range(_STORES))
        assert registry.record_count == _STORES


async def test_descriptors_stay_within_the_budget(tmp_path: Path) -> None:
    budget = 60  # 20 connections for 120 stores, each written and read
    await _fill(tmp_path, _STORES)
    before = _fds()
    async with await StoreRegistry.open(tmp_path, fd_budget=budget) as registry:
        peak = 0

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, _fds() - before)
                await anyio.sleep(0.001)

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            await _put_get_each(registry, _STORES)
            tg.cancel_scope.cancel()
        budget_state = registry.resources.budget
        assert budget_state.used_fds <= budget
        assert budget_state.evictions > 0  # idle connections of other stores were closed
        # + the catalog (3), + db descriptors SQLite keeps until a file's last connection
        # closes (at most one per store in use at once).
        assert peak <= budget + 3 + 16, peak
        for i in range(_STORES):  # evicted stores reopen with their data
            assert await registry.get(f"w{i:04}").get("k") == (b"v" * i, 1)
        assert registry.record_count == 2 * _STORES


async def test_threads_do_not_grow_with_the_number_of_stores(tmp_path: Path) -> None:
    before = threading.active_count()
    async with await StoreRegistry.open(tmp_path) as registry:  # 2 checkpoint threads
        for i in range(_STORES):
            await registry.create(f"w{i:04}")
        await _put_get_each(registry, _STORES)
        checkpointers = [registry.get(f"w{i:04}")._writer.checkpointer for i in range(_STORES)]
        with anyio.fail_after(30):  # every store's commits get checkpointed by the 2 threads
            while not all(cp.passive_runs > 0 for cp in checkpointers):
                await anyio.sleep(0.02)
        # 2 checkpoint threads + at most 16 worker threads for store I/O.
        assert threading.active_count() - before <= 2 + 16
        assert len(registry.resources.checkpoints.thread_names) == 2


async def test_the_page_cache_budget_is_shared_by_the_open_connections(tmp_path: Path) -> None:
    async with await StoreRegistry.open(tmp_path, cache_mib=1) as registry:
        stores = [await registry.create(f"w{i}") for i in range(8)]
        for store in stores:
            await store.put("k", b"v")
            await store.get("k")
        budget = registry.resources.budget
        opened = budget.open_connections
        assert opened >= 8
        total = 0
        for store in stores:
            conn = store._writer._conn
            assert conn is not None
            kib = -conn.execute("PRAGMA cache_size").fetchone()[0]
            assert kib <= 1024 // 8
            total += kib
        assert total <= 1024


async def test_used_bytes_follow_every_kind_of_write(tmp_path: Path) -> None:
    async with await StoreRegistry.open(tmp_path) as registry:
        a = await registry.create("a")
        b = await registry.create("b")
        await a.put("k1", b"12345")
        await a.write_batch([("k2", b"xy"), ("k1", None)])
        await b.apply_changes(
            [Change(lsn=5, key="r", value=b"abc"), Change(lsn=6, key="s", value=None)]
        )
        expected = sum([(await s.compute_stats()).bytes for s in (a, b)])
        assert registry.used_bytes == expected == 4 + 4
        assert registry.record_count == 2
        assert registry.recently_written(5) == ["b", "a"]
        await registry.drop("b")
        assert registry.used_bytes == 4
        assert registry.record_count == 1
        assert registry.recently_written(5) == ["a"]


_CRASH = """
import os, sys, anyio
from pathlib import Path
from edge_actors.store import StoreRegistry

async def main() -> None:
    registry = await StoreRegistry.open(Path(sys.argv[1]))
    await registry.get("w0001").put("after", b"crash" * 10)
    await registry.get("w0002").delete("k")
    os._exit(0)  # no close: the catalog still says "open" for both

anyio.run(main)
"""


async def test_totals_after_a_crash_are_read_from_the_stores(tmp_path: Path) -> None:
    await _fill(tmp_path, 4)
    with anyio.fail_after(60):
        done = await anyio.run_process([sys.executable, "-c", _CRASH, str(tmp_path)], check=False)
    assert done.returncode == 0, done.stderr
    async with await StoreRegistry.open(tmp_path) as registry:
        for name in registry.names():
            store = registry.get(name)
            assert await store.stats() == await store.compute_stats(), name
        assert registry.get("w0001").last_stats.records == 2
        assert registry.get("w0002").last_stats.records == 0
        assert registry.used_bytes == (1 + 0) + (1 + 1 + 5 + 50) + (1 + 3)


async def test_a_store_opened_on_its_own_still_works_and_closes_its_threads(
    tmp_path: Path,
) -> None:
    async with await WorkloadStore.open(tmp_path / "w.sqlite", "w", create=True) as store:
        await store.put("a", b"1")
        assert await store.get("a") == (b"1", 1)
        names = store._resources.checkpoints.thread_names
    assert not {t.name for t in threading.enumerate()} & set(names)


async def test_a_data_dir_without_catalog_is_read_once(tmp_path: Path) -> None:
    await _fill(tmp_path, 5)
    (tmp_path / "store-catalog.sqlite").unlink()  # as written by a version before it
    for side in ("-wal", "-shm"):
        (tmp_path / f"store-catalog.sqlite{side}").unlink(missing_ok=True)
    async with await StoreRegistry.open(tmp_path) as registry:
        assert registry.used_bytes == sum(1 + i for i in range(5))
        for name in registry.names():
            store = registry.get(name)
            assert await store.stats() == await store.compute_stats()
    before = _fds()
    async with await StoreRegistry.open(tmp_path) as registry:  # the catalog is back
        assert _fds() - before <= 4
        assert registry.used_bytes == sum(1 + i for i in range(5))


async def test_connections_idle_past_the_limit_are_closed(tmp_path: Path) -> None:
    clock = ManualClock()
    async with await StoreRegistry.open(tmp_path, clock=clock, idle_close_s=30.0) as registry:
        store = await registry.create("w")
        await store.put("k", b"v")
        assert await store.get("k") == (b"v", 1)
        cp = store._writer.checkpointer
        with anyio.fail_after(10):  # the commit's checkpoint has run and parked its reader
            while not (cp.passive_runs and cp.waiting_for_commit):
                await anyio.sleep(0.01)
        budget = registry.resources.budget
        assert budget.open_connections >= 2  # the writer and a reader, parked
        clock.advance(31.0)
        with anyio.fail_after(10):  # the checkpoint thread's housekeeping, about every 1 s
            while budget.open_connections:
                await anyio.sleep(0.02)
        assert budget.used_fds == 0
        assert not store._writer.is_open
        assert await store.get("k") == (b"v", 1)  # and the store reopens on demand
        assert await store.put("k", b"w") == 2


async def test_idle_connections_give_back_cache_when_more_connections_open(
    tmp_path: Path,
) -> None:
    async with await StoreRegistry.open(tmp_path, cache_mib=1) as registry:
        first = await registry.create("first")
        await first.put("k", b"v")  # nearly alone: its writer gets 512 KiB to 1 MiB
        conn = first._writer._conn
        assert conn is not None
        for i in range(7):  # 8 writers open now, "first" idle all the while
            await registry.create(f"w{i}")
        budget = registry.resources.budget
        budget.shrink_idle()  # what the checkpoint thread's housekeeping runs every second
        share = budget.cache_share_kib(1024)
        assert share <= 1024 // 8
        assert conn.execute("PRAGMA cache_size").fetchone()[0] == -share
        assert await first.get("k") == (b"v", 1)


async def _close_idle_until(registry: StoreRegistry, most_open: int) -> None:
    """Repeat the housekeeping's close, as its thread does every second, until at most
    ``most_open`` connections are open (the commits' checkpoints borrow and park read
    connections meanwhile)."""
    budget = registry.resources.budget
    with anyio.fail_after(10):
        while True:
            await anyio.to_thread.run_sync(budget.close_idle)
            if budget.open_connections <= most_open:
                return
            await anyio.sleep(0.05)


async def test_idle_connections_beyond_max_idle_are_closed_least_recent_first(
    tmp_path: Path,
) -> None:
    clock = ManualClock()  # never advanced: no connection is idle for idle_close_s
    async with await StoreRegistry.open(tmp_path, clock=clock) as registry:
        budget = registry.resources.budget
        stores = [await registry.create(f"w{i:03d}") for i in range(DEFAULT_MAX_IDLE + 16)]
        for store in stores:
            await store.put("k", b"v")
        await _close_idle_until(registry, DEFAULT_MAX_IDLE)
        assert budget.idle_connections <= DEFAULT_MAX_IDLE
        assert stores[-1]._writer.is_open  # the most recently used stay open
        assert not stores[0]._writer.is_open  # the least recently used were closed
        assert await stores[0].get("k") == (b"v", 1)  # and reopen on demand


async def test_a_warm_store_is_closed_last_beyond_max_idle(tmp_path: Path) -> None:
    clock = ManualClock()  # never advanced: no connection is idle for idle_close_s
    async with await StoreRegistry.open(tmp_path, clock=clock) as registry:
        incoming = await registry.create("incoming")
        incoming.keep_warm(True)
        # Parked warm, before any other store is used:
        await incoming.apply_changes([Change(lsn=1, key="k", value=b"v")])
        stores = [await registry.create(f"w{i:03d}") for i in range(DEFAULT_MAX_IDLE + 16)]
        for store in stores:
            await store.put("k", b"v")
        await _close_idle_until(registry, DEFAULT_MAX_IDLE)
        assert incoming._writer.is_open  # the least recently used of all, kept
        assert not stores[0]._writer.is_open  # more recent, but not warm: closed
        assert stores[-1]._writer.is_open

        incoming.keep_warm(False)  # from its next use on, an idle connection as any other
        await incoming.apply_changes([Change(lsn=2, key="k", value=b"w")])
        for store in stores:
            await store.put("k", b"w")
        await _close_idle_until(registry, DEFAULT_MAX_IDLE)
        assert not incoming._writer.is_open
        assert await incoming.get("k") == (b"w", 2)


async def test_a_warm_store_is_not_closed_for_being_idle_long(tmp_path: Path) -> None:
    clock = ManualClock()
    async with await StoreRegistry.open(tmp_path, clock=clock, idle_close_s=30.0) as registry:
        incoming = await registry.create("incoming")
        incoming.keep_warm(True)
        await incoming.apply_changes([Change(lsn=1, key="k", value=b"v")])
        other = await registry.create("other")
        await other.put("k", b"v")
        checkpointers = [incoming._writer.checkpointer, other._writer.checkpointer]
        with anyio.fail_after(10):  # the commit's checkpoint has run and parked its reader
            while not all(cp.passive_runs and cp.waiting_for_commit for cp in checkpointers):
                await anyio.sleep(0.01)
        clock.advance(31.0)
        await _close_idle_until(registry, 1)
        assert incoming._writer.is_open
        assert not other._writer.is_open
        budget = registry.resources.budget
        assert budget.open_connections == 1
