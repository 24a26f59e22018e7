"""Bulk apply: the fresh-target fast path, its fallback, prepare_changes, summed hashes."""

from __future__ import annotations

import random

import pytest

from edge_actors.store import InvalidRecord, WorkloadStore, record_hash
from edge_actors.store._digest import sum_record_hashes
from edge_actors.store._records import prepare_changes, validate_changes
from edge_actors.wire import Change

pytestmark = pytest.mark.anyio


def _batch(start: int, n: int, *, tombstone_every: int = 0) -> list[Change]:
    rng = random.Random(start)
    return [
        Change(
            lsn=start + i,
            key=f"k{start + i:06}",
            value=None if tombstone_every and i % tombstone_every == 0 else rng.randbytes(50),
        )
        for i in range(n)
    ]


async def _check(store: WorkloadStore) -> None:
    assert await store.stats() == await store.compute_stats()


def test_sum_record_hashes_equals_the_sum_of_record_hash() -> None:
    pairs = [(f"k{i}é".encode(), bytes(range(i % 256)) * 3) for i in range(300)]
    assert sum_record_hashes(pairs) == sum(record_hash(k, v) for k, v in pairs)
    assert sum_record_hashes([]) == 0


def test_prepare_changes_encodes_keys_once_and_copies_bytes_like_values() -> None:
    changes = [
        Change(lsn=1, key="ä", value=b"x"),
        Change(lsn=2, key="b", value=None),
        Change(lsn=3, key="c", value=bytearray(b"yz")),  # type: ignore[arg-type]
    ]
    assert prepare_changes(changes) == [
        ("ä", "ä".encode(), b"x", 1),
        ("b", b"b", None, 2),
        ("c", b"c", b"yz", 3),
    ]


@pytest.mark.parametrize(
    "bad",
    [
        Change(lsn=0, key="k", value=b""),
        Change(lsn=True, key="k", value=b""),
        Change(lsn=1, key="", value=b""),
        Change(lsn=1, key="\ud800", value=b""),
        Change(lsn=1, key="k" * 1025, value=b""),
        Change(lsn=1, key=7, value=b""),  # type: ignore[arg-type]
        Change(lsn=1, key="k", value="str"),  # type: ignore[arg-type]
    ],
)
def test_prepare_changes_refuses_what_validate_changes_refuses(bad: Change) -> None:
    batch = [Change(lsn=1, key="ok", value=b"v"), bad]
    with pytest.raises(InvalidRecord) as slow:
        validate_changes(batch)
    with pytest.raises(InvalidRecord) as fast:
        prepare_changes(batch)
    assert str(fast.value) == str(slow.value)
    assert "change 1 " in str(fast.value)


async def test_fresh_batches_take_the_fast_path_and_keep_the_digest_exact(
    store: WorkloadStore,
) -> None:
    for start in range(1, 3001, 1000):
        await store.apply_changes(_batch(start, 1000, tombstone_every=7))
        await _check(store)
    stats = await store.stats()
    assert stats.lsn == 3000
    assert stats.records == 3000 - len(range(0, 1000, 7)) * 3
    # Re-applying changes nothing; tombstones were stored as tombstones.
    await store.apply_changes(_batch(1001, 1000, tombstone_every=7))
    assert await store.stats() == stats
    assert [c.value for c in await store.scan_changes(0, 1)] == [None]


async def test_a_batch_with_one_existing_key_falls_back_to_the_general_path(
    store: WorkloadStore,
) -> None:
    await store.apply_changes([Change(lsn=5, key="k000123", value=b"old")])
    # k000123 is neither first, middle nor last: the probe misses, the insert count catches it.
    await store.apply_changes(_batch(100, 50))
    await _check(store)
    assert await store.get("k000123") == (_batch(100, 50)[23].value, 123)
    assert (await store.stats()).records == 50
    # An older LSN for an existing key in a fresh-looking batch is not applied.
    newer = [Change(lsn=9000, key="k000130", value=b"new")]
    await store.apply_changes(newer)
    await store.apply_changes(_batch(130, 20))  # k000130 at LSN 130 < 9000
    assert await store.get("k000130") == (b"new", 9000)
    await _check(store)


async def test_duplicate_keys_in_one_batch_keep_the_highest_lsn(store: WorkloadStore) -> None:
    batch = [Change(lsn=i + 1, key=f"k{i}", value=b"v") for i in range(20)]
    batch += [Change(lsn=3, key="k19", value=b"older"), Change(lsn=40, key="k0", value=None)]
    await store.apply_changes(batch)
    assert await store.get("k19") == (b"v", 20)
    assert await store.get("k0") is None
    assert (await store.stats()).lsn == 40
    await _check(store)


async def test_fast_path_failure_rolls_back_nothing_else(store: WorkloadStore) -> None:
    """A fast attempt that finds an existing key leaves no stray rows behind."""
    await store.apply_changes([Change(lsn=1, key="k000060", value=b"x")])
    await store.apply_changes(_batch(50, 30, tombstone_every=4))
    changes = await store.scan_changes(0)
    assert len(changes) == 30
    assert len({c.key for c in changes}) == 30
    await _check(store)
