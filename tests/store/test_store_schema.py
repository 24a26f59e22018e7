"""The store file's schema versions: the LSN as row id (version 2), upgrades from version 1.

``data/store_v1.sqlite`` was written by the store code of schema version 1 (commit
6f2a3be): 40 puts, one overwrite, two deletes (one of a key that never existed) and a
batch with a unicode key and a delete; LSN 45, 39 live records.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from edge_actors.store import StoreError, StoreStats, WorkloadStore
from edge_actors.store._schema import SCHEMA_VERSION
from edge_actors.wire import Change

pytestmark = pytest.mark.anyio

_V1_FILE = Path(__file__).parent / "data" / "store_v1.sqlite"
_V1_STATS = StoreStats(
    records=39,
    bytes=936,
    lsn=45,
    digest="1e351c9179b9332e851086df162edafca9ac52a7d6e9e9529ca5411bb31002fe",
)


def _copy_v1(tmp_path: Path) -> Path:
    path = tmp_path / "legacy.sqlite"
    shutil.copyfile(_V1_FILE, path)
    return path


def _rows(path: Path) -> list[tuple[int, str, bytes | None]]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT lsn, key, value FROM records ORDER BY lsn").fetchall()
    return [(int(lsn), str(key), value) for lsn, key, value in rows]


def _schema(path: Path) -> tuple[int, list[str]]:
    with sqlite3.connect(path) as db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        names = [n for (n,) in db.execute("SELECT name FROM sqlite_schema ORDER BY name")]
    return int(version), names


async def test_a_version_1_file_is_upgraded_and_keeps_every_record(tmp_path: Path) -> None:
    path = _copy_v1(tmp_path)
    before = _rows(path)
    assert _schema(path)[0] == 1
    assert len(before) == 42  # 39 live records and 3 tombstones

    store = await WorkloadStore.open(path, "legacy")
    try:
        assert await store.stats() == _V1_STATS
        assert await store.compute_stats() == _V1_STATS  # digest recomputed from the rows
        scanned = await store.scan_changes(0, limit=1000)
        assert [(c.lsn, c.key, c.value) for c in scanned] == before
        for lsn, key, value in before:
            assert await store.get(key) == (None if value is None else (value, lsn))
        assert await store.put("k05", b"after the upgrade") == 46
        assert [c.key for c in await store.scan_changes(45)] == ["k05"]
    finally:
        await store.close()

    version, names = _schema(path)
    assert version == SCHEMA_VERSION == 2
    assert "records_lsn" not in names
    assert "records_v1" not in names
    reopened = await WorkloadStore.open(path, "legacy")
    try:
        assert await reopened.get("k05") == (b"after the upgrade", 46)
        stats = await reopened.compute_stats()
        assert stats == await reopened.stats()
        assert (stats.records, stats.lsn) == (39, 46)
    finally:
        await reopened.close()


async def test_a_version_1_file_with_a_shared_lsn_is_refused_and_left_as_it_was(
    tmp_path: Path,
) -> None:
    path = _copy_v1(tmp_path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE records SET lsn = 3 WHERE key = 'k00'")
    before = _rows(path)

    with pytest.raises(StoreError, match="two records share LSN 3"):
        await WorkloadStore.open(path, "legacy")

    assert _schema(path)[0] == 1
    assert _rows(path) == before


async def test_a_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = _copy_v1(tmp_path)
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")

    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}"):
        await WorkloadStore.open(path, "legacy")


async def test_a_new_store_has_two_b_trees_per_record(tmp_path: Path) -> None:
    store = await WorkloadStore.open(tmp_path / "w.sqlite", "w", create=True)
    await store.close()

    version, names = _schema(tmp_path / "w.sqlite")
    assert version == SCHEMA_VERSION
    assert names == ["meta", "records", "sqlite_autoindex_records_1"]


async def test_two_keys_applied_with_one_lsn_are_refused(store: WorkloadStore) -> None:
    await store.apply_changes([Change(lsn=5, key="a", value=b"1")])

    with pytest.raises(StoreError, match=r"records\.lsn"):
        await store.apply_changes([Change(lsn=5, key="b", value=b"2")])

    assert await store.get("b") is None
    assert await store.stats() == await store.compute_stats()
    assert (await store.stats()).records == 1
