"""WorkloadStore: delta scans by LSN, idempotent apply and the content digest."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.store import InvalidRecord, StoreStats, WorkloadStore
from edge_actors.store import _readers as readers_module
from edge_actors.wire import Change

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


async def _copy(source: WorkloadStore, target: WorkloadStore, *, page: int = 7) -> int:
    """Ship everything from ``source`` to ``target`` in pages, as a sender would."""
    after = 0
    while changes := await source.scan_changes(after, source.lsn, limit=page):
        await target.apply_changes(changes)
        after = changes[-1].lsn
    return after


async def test_scan_returns_latest_state_per_key_in_lsn_order(store: WorkloadStore) -> None:
    await store.put("a", b"1")  # 1, superseded by 4
    await store.put("b", b"2")  # 2
    await store.delete("c")  # 3, tombstone of an absent key
    await store.put("a", b"3")  # 4
    await store.delete("b")  # 5
    changes = await store.scan_changes(0)
    assert changes == [
        Change(lsn=3, key="c", value=None),
        Change(lsn=4, key="a", value=b"3"),
        Change(lsn=5, key="b", value=None),
    ]


async def test_scan_ranges_are_half_open(store: WorkloadStore) -> None:
    await store.write_batch([(f"k{i:02}", bytes([i])) for i in range(1, 21)])
    assert [c.lsn for c in await store.scan_changes(5, 9)] == [6, 7, 8, 9]
    assert [c.lsn for c in await store.scan_changes(19)] == [20]
    assert await store.scan_changes(20) == []
    assert await store.scan_changes(9, 9) == []
    assert await store.scan_changes(9, 3) == []
    assert [c.lsn for c in await store.scan_changes(0, 3)] == [1, 2, 3]


async def test_scan_limit_and_paging_cover_everything_once(store: WorkloadStore) -> None:
    await store.write_batch([(f"k{i}", b"v" * i) for i in range(1, 101)])
    assert len(await store.scan_changes(0, limit=10)) == 10
    seen: list[int] = []
    after = 0
    while page := await store.scan_changes(after, 100, limit=13):
        assert len(page) <= 13
        seen.extend(c.lsn for c in page)
        after = page[-1].lsn
    assert seen == list(range(1, 101))


async def test_scan_max_bytes_bounds_a_page(store: WorkloadStore) -> None:
    await store.write_batch([(f"k{i}", bytes(1000)) for i in range(10)])
    page = await store.scan_changes(0, max_bytes=2500)
    assert len(page) == 3  # stops once the page reaches 2500 bytes
    assert len(await store.scan_changes(0, max_bytes=1)) == 1  # never an empty page


async def test_scan_arguments_are_checked(store: WorkloadStore) -> None:
    with pytest.raises(InvalidRecord, match="limit"):
        await store.scan_changes(0, limit=0)
    with pytest.raises(InvalidRecord, match="bounds"):
        await store.scan_changes(-1)
    with pytest.raises(InvalidRecord, match="max_bytes"):
        await store.scan_changes(0, max_bytes=0)


async def test_rewrites_during_paging_move_keys_to_the_next_delta(store: WorkloadStore) -> None:
    await store.write_batch([(f"k{i}", b"1") for i in range(10)])
    upto = store.lsn
    first = await store.scan_changes(0, upto, limit=5)
    await store.put("k8", b"2")  # not yet shipped: leaves (0, upto]
    rest = await store.scan_changes(first[-1].lsn, upto, limit=5)
    assert "k8" not in {c.key for c in rest}
    delta = await store.scan_changes(upto)
    assert delta == [Change(lsn=11, key="k8", value=b"2")]


async def test_apply_is_idempotent_and_keeps_source_lsns(tmp_path: Path) -> None:
    async with (
        await WorkloadStore.open(tmp_path / "s.sqlite", "s", create=True) as source,
        await WorkloadStore.open(tmp_path / "t.sqlite", "t", create=True) as target,
    ):
        await source.write_batch([(f"k{i}", f"v{i}".encode()) for i in range(30)])
        await source.delete("k3")
        await source.delete("ghost")
        await source.put("k4", b"new")
        changes = await source.scan_changes(0, limit=1000)
        assert await target.apply_changes(changes) == source.lsn
        once = await target.stats()
        assert await target.apply_changes(changes) == source.lsn
        assert await target.apply_changes(list(reversed(changes))) == source.lsn
        assert await target.stats() == once == await source.stats()
        assert await target.get("k4") == (b"new", source.lsn)
        assert await target.get("k3") is None
        assert await target.scan_changes(0, limit=1000) == changes
        assert await target.put("after", b"x") == source.lsn + 1


async def test_apply_never_lets_an_older_change_win(store: WorkloadStore) -> None:
    assert await store.apply_changes([Change(lsn=10, key="a", value=b"ten")]) == 10
    assert await store.apply_changes([Change(lsn=5, key="a", value=b"five")]) == 10
    assert await store.get("a") == (b"ten", 10)
    assert await store.apply_changes([Change(lsn=12, key="a", value=None)]) == 12
    assert await store.get("a") is None
    assert await store.apply_changes([Change(lsn=11, key="a", value=b"eleven")]) == 12
    assert await store.get("a") is None
    assert [c.value for c in await store.scan_changes(0)] == [None]


async def test_apply_raises_workload_lsn_even_when_nothing_applies(store: WorkloadStore) -> None:
    await store.apply_changes([Change(lsn=3, key="a", value=b"x")])
    assert await store.apply_changes([Change(lsn=2, key="a", value=b"y")]) == 3
    assert await store.apply_changes([]) == 3
    await store.put("b", b"local")
    assert store.lsn == 4


async def test_apply_of_repeated_key_in_one_batch_keeps_the_highest(store: WorkloadStore) -> None:
    batch = [
        Change(lsn=4, key="a", value=b"4"),
        Change(lsn=9, key="a", value=b"9"),
        Change(lsn=6, key="a", value=b"6"),
    ]
    assert await store.apply_changes(batch) == 9
    assert await store.get("a") == (b"9", 9)
    stats = await store.stats()
    assert stats.records == 1
    assert stats.digest == await store.compute_digest()


async def test_apply_refuses_bad_changes_without_applying_any(store: WorkloadStore) -> None:
    good = Change(lsn=1, key="a", value=b"1")
    with pytest.raises(InvalidRecord, match=r"change 1 \(lsn 2\)"):
        await store.apply_changes([good, Change(lsn=2, key="", value=b"x")])
    with pytest.raises(InvalidRecord, match="invalid lsn 0"):
        await store.apply_changes([good, Change(lsn=0, key="b", value=b"x")])
    assert store.lsn == 0
    assert await store.get("a") is None


async def test_digest_is_incremental_and_matches_a_full_scan(store: WorkloadStore) -> None:
    assert (await store.stats()).digest == "0" * 64 == await store.compute_digest()
    await store.write_batch([(f"k{i}", bytes([i % 256]) * (i % 50)) for i in range(300)])
    for i in range(0, 300, 7):
        await store.delete(f"k{i}")
    for i in range(0, 300, 11):
        await store.put(f"k{i}", b"again")
    stats = await store.stats()
    assert stats == await store.compute_stats()
    for i in range(300):
        await store.delete(f"k{i}")
    assert await store.stats() == StoreStats(records=0, bytes=0, lsn=store.lsn, digest="0" * 64)


async def test_digest_depends_on_content_not_history(tmp_path: Path) -> None:
    records = {f"key{i}": f"value{i}".encode() for i in range(40)}
    async with (
        await WorkloadStore.open(tmp_path / "a.sqlite", "a", create=True) as a,
        await WorkloadStore.open(tmp_path / "b.sqlite", "b", create=True) as b,
        await WorkloadStore.open(tmp_path / "c.sqlite", "c", create=True) as c,
    ):
        for key, value in records.items():
            await a.put(key, value)
        for key, value in reversed(list(records.items())):
            await b.put(key, b"draft")
            await b.put("temp-" + key, b"x")
            await b.put(key, value)
            await b.delete("temp-" + key)
        await _copy(a, c)
        da, db, dc = [(await s.stats()).digest for s in (a, b, c)]
        assert da == db == dc
        assert a.lsn != b.lsn
        await b.put("key0", b"changed")
        assert (await b.stats()).digest != da


async def test_pages_are_read_one_at_a_time_but_an_urgent_read_does_not_wait(
    store: WorkloadStore,
) -> None:
    """Another page in progress (the process-wide page lock held by another thread, as
    by a copy's read) delays a copy's page but not a cutover's urgent read."""
    await store.write_batch([(f"k{i}", b"v") for i in range(5)])
    held, release = threading.Event(), threading.Event()

    def other_page() -> None:
        with readers_module._SCAN_STEPS:
            held.set()
            release.wait(timeout=30)  # a read that waits for it fails the test, not hangs

    pages: list[list[Change]] = []

    async def copy_page() -> None:
        pages.append(await store.scan_changes(0))

    holder = threading.Thread(target=other_page)
    holder.start()
    try:
        await anyio.to_thread.run_sync(held.wait)
        async with anyio.create_task_group() as tg:
            tg.start_soon(copy_page)
            urgent = await store.scan_changes(0, urgent=True)
            assert holder.is_alive()  # read while the other page still held the lock
            assert [c.key for c in urgent] == [f"k{i}" for i in range(5)]
            assert pages == []  # the copy's page is still waiting for the lock
            release.set()
    finally:
        release.set()
        holder.join()
    assert pages == [urgent]
