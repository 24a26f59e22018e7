"""WorkloadStore/StoreRegistry edge cases: isolation of reads, cancellation, logs, API."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import anyio
import pytest
from structlog.testing import capture_logs

import edge_actors.store
import edge_actors.store._writer as writer_module
from edge_actors.store import StoreClosed, StoreError, StoreRegistry, WorkloadStore
from edge_actors.wire import Change

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


def test_public_api_is_what_the_docs_say() -> None:
    assert set(edge_actors.store.__all__) == {
        "IncomingSnapshot",
        "DEFAULT_CACHE_MIB",
        "MAX_KEY_BYTES",
        "MAX_VALUE_BYTES",
        "MIN_FD_BUDGET",
        "Durability",
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
    }
    for name in edge_actors.store.__all__:
        assert getattr(edge_actors.store, name) is not None
    for name in (
        "InvalidRecord",
        "SnapshotExists",
        "SnapshotRefused",
        "StoreClosed",
        "StoreFull",
        "WorkloadExists",
        "WorkloadNotFound",
    ):
        assert issubclass(getattr(edge_actors.store, name), StoreError)


async def test_reads_do_not_wait_for_the_write_lock(store: WorkloadStore) -> None:
    await store.put("a", b"1")
    async with store._write_lock:  # a commit in progress holds this lock
        with anyio.fail_after(30):
            assert await store.get("a") == (b"1", 1)
            assert [c.key for c in await store.scan_changes(0)] == ["a"]
            assert (await store.stats()).records == 1
            assert (await store.compute_stats()).records == 1


async def test_cancelled_apply_is_all_or_nothing(store: WorkloadStore) -> None:
    changes = [Change(lsn=i, key=f"k{i}", value=bytes(512)) for i in range(1, 5001)]
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.apply_changes, changes)
            await anyio.lowlevel.checkpoint()
            scope.cancel()
    stats = await store.stats()
    assert stats == await store.compute_stats()
    assert (stats.lsn, stats.records) in {(0, 0), (5000, 5000)}
    assert await store.apply_changes(changes) == 5000
    assert (await store.stats()).records == 5000


async def test_puts_interleaved_with_applies_keep_lsns_unique(store: WorkloadStore) -> None:
    acked: list[int] = []

    async def writer(i: int) -> None:
        acked.append(await store.put(f"local{i}", b"l"))

    async def applier(base: int) -> None:
        batch = [Change(lsn=base + i, key=f"remote{base + i}", value=b"r") for i in range(10)]
        await store.apply_changes(batch)

    async with anyio.create_task_group() as tg:
        for i in range(100):
            tg.start_soon(writer, i)
            if i % 25 == 0:
                tg.start_soon(applier, 1000 + 100 * i)
    assert len(set(acked)) == 100
    lsns = [c.lsn for c in await store.scan_changes(0, limit=10_000)]
    assert len(lsns) == len(set(lsns)) == 140
    assert (await store.stats()) == await store.compute_stats()


async def test_two_handles_on_one_file_never_reuse_an_lsn(tmp_path: Path) -> None:
    path = tmp_path / "twice.sqlite"
    async with (
        await WorkloadStore.open(path, "twice", create=True) as first,
        await WorkloadStore.open(path, "twice") as second,
    ):
        lsns = [
            await first.put("a", b"1"),
            await second.put("b", b"2"),
            await first.delete("a"),
            await second.write_batch([("c", b"3"), ("d", b"4")]),
        ]
        assert lsns == [1, 2, 3, 5]
        assert await first.get("d") == (b"4", 5)
        computed = await first.compute_stats()
        assert computed == await second.stats()
        assert computed.records == 3


async def test_registry_logs_lifecycle_events(tmp_path: Path) -> None:
    (tmp_path / "workloads").mkdir()
    (tmp_path / "workloads" / "UPPER.sqlite").write_bytes(b"")
    with capture_logs() as logs:
        async with await StoreRegistry.open(tmp_path) as registry:
            await registry.create("w1")
            await registry.drop("w1")
    events = [(e["event"], e.get("workload")) for e in logs if e["log_level"] != "debug"]
    assert ("store_file_skipped", None) in events
    assert ("workload_created", "w1") in events
    assert ("workload_dropped", "w1") in events
    skipped = next(e for e in logs if e["event"] == "store_file_skipped")
    assert skipped["path"].endswith("UPPER.sqlite")


async def test_store_error_names_a_non_store_sqlite_file(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    try:
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
    finally:
        conn.close()
    with pytest.raises(StoreError, match="not an edge_actors workload store"):
        await WorkloadStore.open(other, "other")


async def test_full_scan_sees_one_consistent_snapshot_during_writes(store: WorkloadStore) -> None:
    snapshots = []

    async def writer(w: int) -> None:
        for i in range(40):
            await store.put(f"w{w}-{i:02}", b"x" * 10)  # 5-byte keys, 10-byte values

    async with anyio.create_task_group() as tg:
        for w in range(10):
            tg.start_soon(writer, w)
        for _ in range(5):
            snapshots.append(await store.compute_stats())
    for snap in snapshots:
        # Every put wrote a new key, so a consistent snapshot has one record per LSN.
        assert snap.records == snap.lsn
        assert snap.bytes == 15 * snap.records
    assert await store.stats() == await store.compute_stats()


async def test_close_while_reads_run(tmp_path: Path) -> None:
    s = await WorkloadStore.open(tmp_path / "r.sqlite", "r", create=True)
    await s.write_batch([(f"k{i}", b"v") for i in range(100)])
    outcomes: list[str] = []

    async def reader(i: int) -> None:
        try:
            found = await s.get(f"k{i}")
            outcomes.append("read" if found == (b"v", i + 1) else f"wrong {found!r}")
        except StoreClosed:
            outcomes.append("closed")

    async with anyio.create_task_group() as tg:
        for i in range(100):
            tg.start_soon(reader, i)
        tg.start_soon(s.close)
    assert len(outcomes) == 100
    assert set(outcomes) <= {"read", "closed"}
    assert s.closed


async def test_failed_group_commit_fails_every_caller_and_writes_nothing(
    store: WorkloadStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.put("before", b"1")
    # A real SQLite error inside the transaction: the statement names a missing column.
    monkeypatch.setattr(writer_module, "_INSERT", "INSERT INTO records (nope, value, lsn)")
    outcomes: list[str] = []

    async def writer(i: int) -> None:
        with pytest.raises(StoreError, match="failed"):
            await store.put(f"k{i}", b"v")
        outcomes.append("failed")

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(writer, i)
    assert outcomes == ["failed"] * 20
    monkeypatch.undo()
    assert store.lsn == 1
    assert await store.put("after", b"2") == 2  # rolled back: no LSN was consumed
    assert await store.get("k3") is None
    assert await store.stats() == await store.compute_stats()
