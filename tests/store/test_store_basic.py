"""WorkloadStore: writes, reads, batches, LSNs, concurrency and lifecycle."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import pytest

from edge_actors.store import (
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    InvalidRecord,
    InvalidWorkloadName,
    StoreClosed,
    StoreError,
    StoreStats,
    WorkloadNotFound,
    WorkloadStore,
    record_hash,
)
from edge_actors.store._writer import WriteSide

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


async def test_put_get_delete(store: WorkloadStore) -> None:
    assert store.lsn == 0
    assert await store.get("a") is None
    assert await store.put("a", b"one") == 1
    assert await store.get("a") == (b"one", 1)
    assert await store.put("a", b"two") == 2
    assert await store.get("a") == (b"two", 2)
    assert await store.delete("a") == 3
    assert await store.get("a") is None
    assert store.lsn == 3
    assert await store.stats() == StoreStats(records=0, bytes=0, lsn=3, digest="0" * 64)


async def test_empty_value_and_unicode_key_are_records(store: WorkloadStore) -> None:
    await store.put("é/ключ\x00", b"")
    assert await store.get("é/ключ\x00") == (b"", 1)
    stats = await store.stats()
    assert stats.records == 1
    assert stats.bytes == len("é/ключ\x00".encode())


async def test_bytes_counts_utf8_key_plus_value(store: WorkloadStore) -> None:
    await store.put("ab", b"xyz")
    await store.put("é", b"1")
    await store.put("gone", b"123456")
    await store.delete("gone")
    stats = await store.stats()
    assert stats.records == 2
    assert stats.bytes == (2 + 3) + (2 + 1)


async def test_delete_of_absent_key_records_a_tombstone(store: WorkloadStore) -> None:
    lsn = await store.delete("never")
    assert lsn == 1
    changes = await store.scan_changes(0)
    assert [(c.lsn, c.key, c.value) for c in changes] == [(1, "never", None)]
    assert (await store.stats()).records == 0


async def test_write_batch_is_ordered_and_returns_last_lsn(store: WorkloadStore) -> None:
    await store.put("x", b"old")
    last = await store.write_batch([("a", b"1"), ("x", None), ("b", b"2"), ("a", b"3")])
    assert last == 5
    assert await store.get("a") == (b"3", 5)
    assert await store.get("b") == (b"2", 4)
    assert await store.get("x") is None
    changes = await store.scan_changes(0)
    assert [(c.lsn, c.key) for c in changes] == [(3, "x"), (4, "b"), (5, "a")]
    assert await store.write_batch([]) == 5


async def test_bad_batch_element_rejects_the_whole_batch(store: WorkloadStore) -> None:
    with pytest.raises(InvalidRecord, match="batch element 1"):
        await store.write_batch([("a", b"1"), ("", b"2")])
    with pytest.raises(InvalidRecord, match="batch element 0"):
        await store.write_batch([("a", "not bytes")])  # type: ignore[list-item]
    assert store.lsn == 0
    assert await store.get("a") is None


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ("", "must not be empty"),
        ("k" * (MAX_KEY_BYTES + 1), "limit is 1024"),
        ("é" * (MAX_KEY_BYTES // 2 + 1), "limit is 1024"),
        ("\ud800", "not valid UTF-8"),
        (b"bytes-key", "must be a str"),
    ],
)
async def test_invalid_keys_are_refused(store: WorkloadStore, key: object, match: str) -> None:
    with pytest.raises(InvalidRecord, match=match):
        await store.put(key, b"v")  # type: ignore[arg-type]
    with pytest.raises(InvalidRecord, match=match):
        await store.delete(key)  # type: ignore[arg-type]
    with pytest.raises(InvalidRecord, match=match):
        await store.get(key)  # type: ignore[arg-type]
    assert store.lsn == 0


async def test_key_of_exactly_the_limit_is_accepted(store: WorkloadStore) -> None:
    key = "k" * MAX_KEY_BYTES
    await store.put(key, b"v")
    assert await store.get(key) == (b"v", 1)


async def test_invalid_values_are_refused(store: WorkloadStore) -> None:
    with pytest.raises(InvalidRecord, match="must be bytes, got str"):
        await store.put("k", "text")  # type: ignore[arg-type]
    with pytest.raises(InvalidRecord, match="must be bytes, got NoneType"):
        await store.put("k", None)  # type: ignore[arg-type]
    with pytest.raises(InvalidRecord, match=f"limit is {MAX_VALUE_BYTES}"):
        await store.put("k", bytes(MAX_VALUE_BYTES + 1))
    assert store.lsn == 0
    await store.put("k", bytearray(b"ok"))  # type: ignore[arg-type]  # bytes-like: copied
    assert await store.get("k") == (b"ok", 1)


async def test_value_of_exactly_16_mib_round_trips(store: WorkloadStore) -> None:
    value = bytes(range(256)) * (MAX_VALUE_BYTES // 256)
    await store.put("big", value)
    assert await store.get("big") == (value, 1)
    assert await store.compute_digest() == (await store.stats()).digest


async def test_200_concurrent_writers_get_unique_monotonic_lsns(store: WorkloadStore) -> None:
    acked: dict[str, int] = {}

    async def writer(i: int) -> None:
        key = f"key-{i}"
        acked[key] = await store.put(key, f"value-{i}".encode())

    async with anyio.create_task_group() as tg:
        for i in range(200):
            tg.start_soon(writer, i)

    lsns = sorted(acked.values())
    assert lsns == list(range(1, 201))
    assert store.lsn == 200
    for key, lsn in acked.items():
        assert await store.get(key) == (f"value-{key[4:]}".encode(), lsn)
    stats = await store.stats()
    assert stats.records == 200
    assert stats.digest == await store.compute_digest()


async def test_concurrent_writes_are_group_committed(
    store: WorkloadStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    transactions: list[int] = []
    original = WriteSide.write

    def counting_write(self: WriteSide, groups: list[list[tuple[str, bytes | None]]]) -> list[int]:
        transactions.append(len(groups))
        return original(self, groups)

    monkeypatch.setattr(WriteSide, "write", counting_write)
    async with anyio.create_task_group() as tg:
        for i in range(300):
            tg.start_soon(store.put, f"k{i}", b"v")
    assert sum(transactions) == 300
    assert len(transactions) < 300  # several writers shared a commit
    assert max(transactions) > 1
    assert store.lsn == 300


async def test_concurrent_writes_to_one_key_keep_the_highest_lsn(store: WorkloadStore) -> None:
    acked: dict[int, bytes] = {}

    async def writer(i: int) -> None:
        value = f"v{i}".encode()
        acked[await store.put("hot", value)] = value

    async with anyio.create_task_group() as tg:
        for i in range(100):
            tg.start_soon(writer, i)
    top = max(acked)
    assert await store.get("hot") == (acked[top], top)
    assert len(acked) == 100
    assert (await store.stats()).records == 1


async def test_cancelled_writers_leave_a_consistent_store(store: WorkloadStore) -> None:
    acked: dict[str, int] = {}

    async def writer(i: int) -> None:
        acked[f"k{i}"] = await store.put(f"k{i}", b"x" * i)

    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            for i in range(300):
                tg.start_soon(writer, i)
            await anyio.lowlevel.checkpoint()
            await anyio.lowlevel.checkpoint()
            scope.cancel()
    for key, lsn in acked.items():
        assert await store.get(key) == (b"x" * int(key[1:]), lsn)
    stats = await store.stats()
    computed = await store.compute_stats()
    assert stats == computed
    changes = await store.scan_changes(0, limit=1000)
    assert [c.lsn for c in changes] == list(range(1, stats.lsn + 1))
    assert await store.put("after", b"1") == stats.lsn + 1


async def test_reopen_keeps_records_lsn_and_digest(tmp_path: Path) -> None:
    path = tmp_path / "workloads" / "keep.sqlite"
    async with await WorkloadStore.open(path, "keep", create=True) as first:
        await first.write_batch([(f"k{i}", bytes([i]) * i) for i in range(50)])
        await first.delete("k7")
        before = await first.stats()
    async with await WorkloadStore.open(path, "keep") as again:
        assert await again.stats() == before
        assert again.lsn == 51
        assert await again.compute_digest() == before.digest
        assert await again.get("k9") == (bytes([9]) * 9, 10)
        assert await again.get("k7") is None
        assert await again.put("next", b"n") == 52


async def test_durability_full_store_works(tmp_path: Path) -> None:
    async with await WorkloadStore.open(
        tmp_path / "f.sqlite", "f", create=True, durability="full"
    ) as s:
        assert s.durability == "full"
        assert await s.put("a", b"1") == 1
        assert await s.get("a") == (b"1", 1)


async def test_open_refuses_missing_foreign_and_misnamed_files(tmp_path: Path) -> None:
    with pytest.raises(WorkloadNotFound, match="'absent'"):
        await WorkloadStore.open(tmp_path / "absent.sqlite", "absent")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"junk\.sqlite"):
        await WorkloadStore.open(junk, "junk")
    with pytest.raises(InvalidWorkloadName, match="'Bad'"):
        await WorkloadStore.open(tmp_path / "bad.sqlite", "Bad", create=True)
    assert not (tmp_path / "bad.sqlite").exists()
    with pytest.raises(StoreError, match="durability"):
        await WorkloadStore.open(tmp_path / "d.sqlite", "d", create=True, durability="x")  # type: ignore[arg-type]


async def test_use_after_close_raises_store_closed(tmp_path: Path) -> None:
    s = await WorkloadStore.open(tmp_path / "c.sqlite", "c", create=True)
    await s.put("a", b"1")
    await s.close()
    await s.close()  # idempotent
    assert s.closed
    assert s.lsn == 1
    with pytest.raises(StoreClosed, match="'c'"):
        await s.put("b", b"2")
    with pytest.raises(StoreClosed):
        await s.delete("a")
    with pytest.raises(StoreClosed):
        await s.write_batch([("a", b"1")])
    with pytest.raises(StoreClosed):
        await s.get("a")
    with pytest.raises(StoreClosed):
        await s.scan_changes(0)
    with pytest.raises(StoreClosed):
        await s.stats()
    with pytest.raises(StoreClosed):
        await s.apply_changes([])


async def test_close_finishes_writes_already_submitted(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    s = await WorkloadStore.open(path, "p", create=True)
    results: list[int | str] = []

    async def writer(i: int) -> None:
        try:
            results.append(await s.put(f"k{i}", b"v"))
        except StoreClosed:
            results.append("closed")

    async with anyio.create_task_group() as tg:
        for i in range(50):
            tg.start_soon(writer, i)
        await anyio.lowlevel.checkpoint()
        tg.start_soon(s.close)
    acked = [r for r in results if isinstance(r, int)]
    assert len(results) == 50
    async with await WorkloadStore.open(path, "p") as again:
        assert again.lsn == len(acked)
        assert (await again.stats()).records == len(acked)


async def test_record_hash_is_length_prefixed() -> None:
    assert record_hash(b"ab", b"c") != record_hash(b"a", b"bc")
