"""Snapshots: WorkloadStore.export_snapshot and StoreRegistry.install_snapshot.

Real store files under ``tmp_path``: a source registry exports a workload to one file, a
target registry checks the file and installs it as its empty copy of the workload.
"""

from __future__ import annotations

import mmap
import os
import sqlite3
import stat
import sys
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import msgspec
import pytest

from edge_actors.store import (
    IncomingSnapshot,
    SnapshotExists,
    SnapshotInfo,
    SnapshotRefused,
    StoreClosed,
    StoreError,
    StoreFull,
    StoreRegistry,
    StoreStats,
    WorkloadNotFound,
    WorkloadStore,
    _bulk,
    _snapshot_files,
)
from edge_actors.store._budget import FileFds
from faults._injectors import mounted_small_disk
from support.page_cache import cached_pages, dirty_pages

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator
    from pathlib import Path

    from edge_actors.wire import Change

pytestmark = pytest.mark.anyio

NAME = "orders"
NEEDLE = b"needle-value-" * 40  # one record's value, easy to find in the file


def _value(i: int, version: int) -> bytes:
    return f"value-{i}-{version}-".encode() * 8


async def _fill(store: WorkloadStore, count: int) -> None:
    """``count`` records, every 7th overwritten, every 11th (from 3) deleted, a needle."""
    await store.write_batch([(f"k{i:05d}", _value(i, 0)) for i in range(count)])
    await store.write_batch([(f"k{i:05d}", _value(i, 1)) for i in range(0, count, 7)])
    await store.write_batch([(f"k{i:05d}", None) for i in range(3, count, 11)])
    await store.put("needle", NEEDLE)


async def _all_rows(store: WorkloadStore) -> list[Change]:
    """Every row of the store (tombstones too), by LSN."""
    return await store.scan_changes(0, limit=1_000_000)


class Pair:
    """A source registry with a filled workload, and a target with the empty workload."""

    def __init__(self, root: Path, source: StoreRegistry, target: StoreRegistry) -> None:
        self.root = root
        self.source = source
        self.target = target
        self.snapshots = root / "target" / "snapshots"

    async def export(self, name: str = NAME, file: str = "in.sqlite") -> tuple[Path, SnapshotInfo]:
        self.snapshots.mkdir(exist_ok=True)
        path = self.snapshots / file
        return path, await self.source.get(name).export_snapshot(path)


@pytest.fixture
async def pair(anyio_backend: str, tmp_path: Path) -> AsyncIterator[Pair]:
    """Source ``orders`` with 2,000 records (some overwritten, some deleted); target
    ``orders`` empty."""
    async with (
        await StoreRegistry.open(tmp_path / "source") as source,
        await StoreRegistry.open(tmp_path / "target") as target,
    ):
        await _fill(await source.create(NAME), 2000)
        await target.create(NAME)
        yield Pair(tmp_path, source, target)


async def _assert_untouched(pair: Pair, before: WorkloadStore, source: Path) -> None:
    """The refused install left the target's store as it was (open, usable) and the file."""
    assert pair.target.get(NAME) is before
    assert not before.closed
    assert await before.stats() == StoreStats(records=0, bytes=0, lsn=0, digest="0" * 64)
    assert pair.target.record_count == 0
    assert await anyio.Path(source).exists()
    assert await before.put("after", b"x") == 1
    assert await before.get("after") == (b"x", 1)


# -- round trip ----------------------------------------------------------------------


async def test_round_trip_installs_an_equal_copy(pair: Pair) -> None:
    origin = pair.source.get(NAME)
    await _fill(origin, 3000)  # rewrites every key again: LSNs well above the row count
    path, info = await pair.export()
    origin_stats = await origin.stats()
    assert (info.lsn, info.records, info.bytes, info.digest) == (
        origin_stats.lsn,
        origin_stats.records,
        origin_stats.bytes,
        origin_stats.digest,
    )
    assert info.size == path.stat().st_size

    old = pair.target.get(NAME)
    installed = await pair.target.install_snapshot(NAME, path, info)

    assert not path.exists()  # moved into place
    assert pair.target.get(NAME) is installed
    assert installed.path == pair.target.path_of(NAME)
    assert await installed.stats() == origin_stats
    assert await installed.compute_stats() == origin_stats
    assert await _all_rows(installed) == await _all_rows(origin)
    assert await installed.get("needle") == await origin.get("needle")
    assert (pair.target.record_count, pair.target.used_bytes) == (info.records, info.bytes)
    with pytest.raises(StoreClosed):
        await old.put("k", b"v")

    # the installed store goes on: writes get the next LSN, deltas see them
    assert await installed.put("new", b"n") == info.lsn + 1
    assert [c.key for c in await installed.scan_changes(info.lsn)] == ["new"]
    assert (await installed.compute_stats()).records == info.records + 1


async def test_load_opens_an_installed_store_and_keeps_an_open_one(pair: Pair) -> None:
    # An install leaves the new file unopened; an activation's prepare call opens it
    # beforehand (``load``), not inside its hold.
    path, info = await pair.export()
    installed = await pair.target.install_snapshot(NAME, path, info)
    assert not installed.writer_open
    await installed.load()
    assert installed.writer_open
    assert await installed.stats() == await pair.source.get(NAME).stats()
    connection = installed._writer._conn
    await installed.load()  # open already: the same connection
    assert installed._writer._conn is connection
    assert await installed.put("new", b"n") == info.lsn + 1
    await installed.close()
    with pytest.raises(StoreClosed):
        await installed.load()


async def test_installed_totals_survive_a_restart_from_the_catalog(pair: Pair) -> None:
    path, info = await pair.export()
    await pair.target.install_snapshot(NAME, path, info)
    await pair.target.close()
    async with await StoreRegistry.open(pair.root / "target") as again:
        store = again.get(NAME)
        assert store.last_stats.lsn == info.lsn  # from the catalog: no store was opened
        assert not store._writer.is_open
        assert (again.record_count, again.used_bytes) == (info.records, info.bytes)
        assert await store.compute_stats() == store.last_stats


async def test_export_of_an_empty_store_installs(pair: Pair) -> None:
    await pair.source.create("empty")
    await pair.target.create("empty")
    path, info = await pair.export("empty")
    assert (info.lsn, info.records, info.bytes) == (0, 0, 0)
    installed = await pair.target.install_snapshot("empty", path, info)
    assert await installed.put("a", b"1") == 1


# -- consistency under concurrent writes ---------------------------------------------


async def test_export_during_writes_is_the_state_of_one_commit(pair: Pair) -> None:
    origin = pair.source.get(NAME)
    history: list[tuple[int, str, bytes | None]] = [
        (c.lsn, c.key, c.value) for c in await _all_rows(origin)
    ]
    stop = anyio.Event()

    async def write() -> None:
        i = 0
        while not stop.is_set():
            key = f"k{(i * 37) % 2500:05d}"  # overwrites, new keys and deletes
            if i % 5 == 4:
                history.append((await origin.delete(key), key, None))
            else:
                value = _value(i, 9)
                history.append((await origin.put(key, value), key, value))
            i += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(write)
        tg.start_soon(write)
        while len(history) < 2000 + 50:  # the writers are under way
            await anyio.lowlevel.checkpoint()
        before = origin.lsn
        path, info = await pair.export()
        stop.set()
    # Read once the writers are done: a write committed before the export's read may not
    # have been acknowledged (its LSN taken) yet when the export returns.
    after = origin.lsn

    assert before <= info.lsn <= after
    at_lsn: dict[str, tuple[int, bytes | None]] = {}
    for lsn, key, value in sorted(history):
        if lsn <= info.lsn:
            at_lsn[key] = (lsn, value)
    installed = await pair.target.install_snapshot(NAME, path, info)
    rows = await _all_rows(installed)
    assert all(c.lsn <= info.lsn for c in rows)
    assert {c.key: (c.lsn, c.value) for c in rows} == at_lsn
    assert await installed.compute_stats() == await installed.stats()


# -- refusals ------------------------------------------------------------------------


def _not_sqlite(path: Path, info: SnapshotInfo) -> SnapshotInfo:
    path.write_bytes(os.urandom(info.size))
    return info


def _flipped_record_byte(path: Path, info: SnapshotInfo) -> SnapshotInfo:
    data = bytearray(path.read_bytes())
    at = data.find(NEEDLE)
    assert at > 0
    assert data.find(NEEDLE, at + 1) == -1  # the needle is found once
    data[at + 100] ^= 0x01
    path.write_bytes(bytes(data))
    return info


def _extra_object(sql: str) -> Callable[[Path, SnapshotInfo], SnapshotInfo]:
    def add(path: Path, info: SnapshotInfo) -> SnapshotInfo:
        conn = sqlite3.connect(path)
        try:
            conn.execute(sql)
            conn.commit()
        finally:
            conn.close()
        return msgspec.structs.replace(info, size=path.stat().st_size)

    return add


def _expect(**changes: object) -> Callable[[Path, SnapshotInfo], SnapshotInfo]:
    def change(path: Path, info: SnapshotInfo) -> SnapshotInfo:
        return msgspec.structs.replace(info, **changes)

    return change


def _side_file(path: Path, info: SnapshotInfo) -> SnapshotInfo:
    (path.parent / f"{path.name}-wal").write_bytes(b"")
    return info


def _wal_mode(path: Path, info: SnapshotInfo) -> SnapshotInfo:
    data = bytearray(path.read_bytes())
    data[18:20] = b"\x02\x02"
    path.write_bytes(bytes(data))
    return info


@pytest.mark.parametrize(
    ("spoil", "refusal"),
    [
        pytest.param(_not_sqlite, "not a SQLite database file", id="not-sqlite"),
        pytest.param(
            _flipped_record_byte, "quick_check|digest of the records", id="flipped-record-byte"
        ),
        pytest.param(_expect(digest="f" * 64), "digest differs", id="wrong-digest"),
        pytest.param(_expect(lsn=12345), "lsn differs: the file has 2", id="wrong-lsn"),
        pytest.param(_expect(records=1), "records differs", id="wrong-records"),
        pytest.param(_expect(bytes=1), "bytes differs", id="wrong-bytes"),
        pytest.param(_expect(size=16384), "file size differs", id="wrong-size"),
        pytest.param(
            _extra_object("CREATE TABLE extra (x)"), "extra \\[\"table 'extra'\"\\]", id="table"
        ),
        pytest.param(
            _extra_object("CREATE TRIGGER t AFTER INSERT ON records BEGIN SELECT 1; END"),
            "extra \\[\"trigger 't'\"\\]",
            id="trigger",
        ),
        pytest.param(
            _extra_object("CREATE VIEW v AS SELECT 1"), "extra \\[\"view 'v'\"\\]", id="view"
        ),
        pytest.param(
            _extra_object("CREATE INDEX i ON records (value)"),
            "extra \\[\"index 'i'\"\\]",
            id="index",
        ),
        pytest.param(_side_file, "in.sqlite-wal' lies beside it", id="side-file"),
        pytest.param(_wal_mode, "not in rollback-journal mode", id="wal-mode"),
    ],
)
async def test_a_spoilt_snapshot_is_refused_and_changes_nothing(
    pair: Pair, spoil: Callable[[Path, SnapshotInfo], SnapshotInfo], refusal: str
) -> None:
    path, info = await pair.export()
    expected = spoil(path, info)
    before = pair.target.get(NAME)
    with pytest.raises(SnapshotRefused, match=refusal):
        await pair.target.install_snapshot(NAME, path, expected)
    await _assert_untouched(pair, before, path)


async def test_snapshot_of_another_workload_is_refused(pair: Pair) -> None:
    await _fill(await pair.source.create("carts"), 10)
    path, info = await pair.export("carts")
    before = pair.target.get(NAME)
    with pytest.raises(SnapshotRefused, match="meta name differs: the file has 'carts', expected"):
        await pair.target.install_snapshot(NAME, path, info)
    await _assert_untouched(pair, before, path)


async def test_snapshot_into_a_non_empty_store_is_refused(pair: Pair) -> None:
    path, info = await pair.export()
    target = pair.target.get(NAME)
    await target.put("local", b"1")
    with pytest.raises(SnapshotRefused, match="'orders' is not empty \\(lsn 1, 1 records\\)"):
        await pair.target.install_snapshot(NAME, path, info)
    assert pair.target.get(NAME) is target
    assert await target.get("local") == (b"1", 1)
    assert path.exists()


async def test_snapshot_for_an_unknown_workload_is_refused(pair: Pair) -> None:
    path, info = await pair.export()
    with pytest.raises(WorkloadNotFound):
        await pair.target.install_snapshot("nope", path, info)
    assert path.exists()


async def test_close_if_empty_closes_only_an_empty_store(store: WorkloadStore) -> None:
    await store.put("a", b"1")
    assert not await store.close_if_empty()
    assert await store.get("a") == (b"1", 1)


async def test_cancelled_install_is_all_or_nothing(pair: Pair) -> None:
    path, info = await pair.export()
    before = pair.target.get(NAME)
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(pair.target.install_snapshot, NAME, path, info)
            await anyio.lowlevel.checkpoint()
            scope.cancel()
    now = pair.target.get(NAME)
    if now is before:
        await _assert_untouched(pair, before, path)
    else:
        assert before.closed
        assert not path.exists()
        assert await now.compute_stats() == await now.stats()
        assert (await now.stats()).lsn == info.lsn


# -- export: files -------------------------------------------------------------------


async def test_export_refuses_an_existing_file_and_leaves_it(store: WorkloadStore) -> None:
    await store.put("a", b"1")
    dest = store.path.parent / "snap.sqlite"
    dest.write_bytes(b"keep me")
    with pytest.raises(SnapshotExists, match="already exists"):
        await store.export_snapshot(dest)
    assert dest.read_bytes() == b"keep me"


async def test_export_refuses_a_stale_side_file(store: WorkloadStore) -> None:
    dest = store.path.parent / "snap.sqlite"
    wal = store.path.parent / "snap.sqlite-wal"
    wal.write_bytes(b"stale")
    with pytest.raises(SnapshotExists, match=r"snap\.sqlite-wal' already exists"):
        await store.export_snapshot(dest)
    assert not dest.exists()
    assert wal.read_bytes() == b"stale"


async def test_export_into_a_missing_directory_leaves_nothing(store: WorkloadStore) -> None:
    dest = store.path.parent / "missing" / "snap.sqlite"
    with pytest.raises(StoreError, match="cannot create the file"):
        await store.export_snapshot(dest)
    assert not dest.parent.exists()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs on ``tmp_path/disk`` (skipped where mounting is not permitted)."""
    with mounted_small_disk(tmp_path) as disk:
        yield disk.path


async def test_export_onto_a_full_disk_is_store_full_and_leaves_nothing(
    store: WorkloadStore, small_disk: Path
) -> None:
    await store.write_batch([(f"k{i}", os.urandom(1024)) for i in range(3000)])  # 3 MB
    with pytest.raises(StoreFull, match="workload 'w'"):
        await store.export_snapshot(small_disk / "snap.sqlite")
    assert os.listdir(small_disk) == []
    assert await store.put("after", b"x") == 3001


async def test_exported_file_is_private(store: WorkloadStore) -> None:
    await store.put("a", b"1")
    dest = store.path.parent / "snap.sqlite"
    umask = os.umask(0)  # a permissive umask must not widen the file's mode
    try:
        info = await store.export_snapshot(dest)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert info.lsn == 1
    assert sorted(p.name for p in dest.parent.iterdir() if p.name.startswith("snap")) == [
        "snap.sqlite"
    ]


async def test_cancelled_export_leaves_no_file(store: WorkloadStore) -> None:
    await store.write_batch([(f"k{i}", bytes(1024)) for i in range(2000)])
    dest = store.path.parent / "snap.sqlite"
    budget = store._resources.budget
    held: list[FileFds] = []  # every descriptor of the budget: the export's read waits
    while budget.try_reserve(file := FileFds()):
        held.append(file)
    scope = anyio.CancelScope()

    async def export() -> None:
        with scope:
            await store.export_snapshot(dest)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(export)
            while not dest.exists():  # created: the thread waits for the budget now
                await anyio.lowlevel.checkpoint()
            scope.cancel()
            for file in held:
                budget.release(file)  # the copy runs and completes in its thread
    assert scope.cancelled_caught
    assert not dest.exists()
    assert (await store.export_snapshot(dest)).records == 2000


async def test_export_of_a_closed_store_is_refused(store: WorkloadStore) -> None:
    await store.close()
    with pytest.raises(StoreClosed):
        await store.export_snapshot(store.path.parent / "snap.sqlite")


async def test_install_gives_way_between_pieces_of_its_checks(pair: Pair) -> None:
    """A background copy's install calls its pause point before ``quick_check``, between
    the digest's batches (2,000 records: two) and before the flush; while the pause point
    blocks, the install waits and the copy stays empty (urgent work goes first)."""
    path, info = await pair.export()
    calls = 0
    go = threading.Event()

    def give_way() -> None:
        nonlocal calls
        calls += 1
        go.wait(30)

    installed: list[WorkloadStore] = []

    async def install() -> None:
        installed.append(await pair.target.install_snapshot(NAME, path, info, give_way=give_way))

    async with anyio.create_task_group() as tg:
        tg.start_soon(install)
        with anyio.fail_after(10):
            while calls == 0:
                await anyio.sleep(0.01)  # polling the thread's own count, not a time window
        assert calls == 1
        assert (await pair.target.get(NAME).stats()).lsn == 0  # held at the first point
        go.set()
    assert calls >= 1 + 2 + 1
    assert await installed[0].stats() == await pair.source.get(NAME).stats()


async def test_install_runs_its_flush_and_its_move_as_durable_steps(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The edge keeps an install's fsyncs out of an activation's way: the file's flush
    runs inside one ``durable`` step and the move (with the directory's sync) inside a
    second; nothing durable happens outside them."""
    from edge_actors.store import _snapshot

    path, info = await pair.export()
    final = pair.target.path_of(NAME)
    inside: list[bool] = []
    fsyncs: list[tuple[str, bool]] = []
    real_fsync = _snapshot._fsync

    def fsync(target: Path, flags: int) -> None:
        fsyncs.append((target.name, bool(inside and inside[-1])))
        real_fsync(target, flags)

    def sync_and_drop(target: Path) -> None:
        fsyncs.append((target.name, bool(inside and inside[-1])))
        real_sync_and_drop(target)

    real_sync_and_drop = _snapshot.sync_and_drop
    monkeypatch.setattr(_snapshot, "_fsync", fsync)
    monkeypatch.setattr(_snapshot, "sync_and_drop", sync_and_drop)
    steps: list[tuple[bool, bool]] = []  # (received file still there at entry, at exit)

    @contextmanager
    def durable() -> Iterator[None]:
        entered = path.exists()
        inside.append(True)
        try:
            yield
        finally:
            inside[-1] = False
            steps.append((entered, path.exists()))

    installed = await pair.target.install_snapshot(NAME, path, info, durable=durable)
    assert steps == [(True, True), (True, False)]  # the flush, then the move
    assert fsyncs == [("in.sqlite", True), (final.parent.name, True)]
    assert await installed.stats() == await pair.source.get(NAME).stats()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mincore and fadvise: Linux")
async def test_an_installed_snapshot_leaves_its_pages_out_of_the_page_cache(pair: Pair) -> None:
    origin = pair.source.get(NAME)
    await origin.write_batch([(f"big{i:05d}", _value(i, 2) * 8) for i in range(3000)])
    path, info = await pair.export()
    cached, pages = cached_pages(path)
    assert pages > 500  # about 3 MB
    assert cached > pages // 2  # just written: in the page cache

    installed = await pair.target.install_snapshot(NAME, path, info)

    cached, pages = cached_pages(installed.path)
    assert cached < pages // 10, (cached, pages)  # synced, then dropped
    assert await installed.compute_stats() == await origin.stats()  # read back from disk


@pytest.mark.skipif(not _bulk.Writeback.available(), reason="no sync_file_range here")
async def test_a_received_file_is_written_back_while_it_arrives(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The install's fsync then has only the tail to write: a large file left dirty made
    that fsync stall every other writer of the file system (module doc of
    ``_snapshot_files``)."""
    monkeypatch.setattr(_snapshot_files, "WRITEBACK_BYTES", 1 << 20, raising=False)
    monkeypatch.setattr(_snapshot_files, "WRITEBACK_FROM_BYTES", 2 << 20, raising=False)
    origin = pair.source.get(NAME)
    await origin.write_batch([(f"big{i:05d}", _value(i, 2) * 8) for i in range(6000)])
    path, info = await pair.export()
    data = path.read_bytes()
    assert len(data) > 5 << 20
    received = IncomingSnapshot(pair.snapshots / "parts.sqlite")
    try:
        for start in range(0, len(data), 256 * 1024):  # parts as a peer stream sends them
            received.write(data[start : start + 256 * 1024])
            if received.size < 2 << 20:
                assert not getattr(received, "writebacks", 0)  # a small file: none yet
        assert received._fd is not None
        dirty = dirty_pages(received._fd)
        if dirty is None:
            pytest.skip("no cachestat here: dirty pages cannot be counted")
        assert dirty * mmap.PAGESIZE <= 1 << 20, dirty  # at most the part not yet started
        assert received.writebacks >= 3  # one per MiB that arrived from 2 MiB on
    finally:
        received.close()
    path.unlink()

    installed = await pair.target.install_snapshot(NAME, received.path, info)
    assert await installed.compute_stats() == await origin.stats()
