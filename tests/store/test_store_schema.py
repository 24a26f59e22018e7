"""The store file's schema versions: the LSN as row id (version 2), XXH3 digests
(version 3), upgrades from versions 1 and 2.

``data/store_v1.sqlite`` was written by the store code of schema version 1 (commit
6f2a3be): 40 puts, one overwrite, two deletes (one of a key that never existed) and a
batch with a unicode key and a delete; LSN 45, 39 live records.

``data/store_v2.sqlite`` was written by the store code of schema version 2 (commit
665ef36): 30 puts, one overwrite, two deletes (one of a key that never existed) and a
batch of a unicode key, a delete and an empty value; LSN 36, 29 live records, BLAKE2b
digest ``718f707e...``.

The digests expected after an upgrade are the XXH3 sums of the files' live rows,
computed apart from the store code (see ``test_store_digest.py``).
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from edge_actors.store import StoreError, StoreRegistry, StoreStats, WorkloadStore
from edge_actors.store._catalog import CATALOG_FILE
from edge_actors.store._schema import SCHEMA_VERSION
from edge_actors.wire import Change

pytestmark = pytest.mark.anyio

_V1_FILE = Path(__file__).parent / "data" / "store_v1.sqlite"
_V1_STATS = StoreStats(
    records=39,
    bytes=936,
    lsn=45,
    digest="0000000000000000000000000000001286d6a5dc60bcadaf9dbc62bce2815e30",
)
_V2_FILE = Path(__file__).parent / "data" / "store_v2.sqlite"
_V2_BLAKE2B_DIGEST = "718f707ebb6e316bae2c2a1997fbb5126c0225b920ca8b3cbe36dfbbb2bbe211"
_V2_STATS = StoreStats(
    records=29,
    bytes=3497,
    lsn=36,
    digest="0000000000000000000000000000000daf3abebdd10dc7766465af8d0bebe0bc",
)


def _copy_v1(tmp_path: Path) -> Path:
    path = tmp_path / "legacy.sqlite"
    shutil.copyfile(_V1_FILE, path)
    return path


def _copy_v2(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_V2_FILE, path)
    return path


def _meta_digest(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return str(db.execute("SELECT digest FROM meta WHERE id = 1").fetchone()[0])


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
    assert version == SCHEMA_VERSION == 3
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


async def test_a_version_2_file_gets_the_xxh3_digest_and_keeps_every_record(
    tmp_path: Path,
) -> None:
    path = _copy_v2(tmp_path / "legacy2.sqlite")
    before = _rows(path)
    assert _schema(path)[0] == 2
    assert _meta_digest(path) == _V2_BLAKE2B_DIGEST
    assert len(before) == 32  # 29 live records and 3 tombstones

    store = await WorkloadStore.open(path, "legacy2")
    try:
        assert await store.stats() == _V2_STATS
        assert await store.compute_stats() == _V2_STATS
        assert [(c.lsn, c.key, c.value) for c in await store.scan_changes(0)] == before
        assert await store.get("ключ-ü") == (b"\x00\xff unicode", 34)
        assert await store.put("k05", b"after the upgrade") == 37
    finally:
        await store.close()

    assert _schema(path) == (3, ["meta", "records", "sqlite_autoindex_records_1"])
    reopened = await WorkloadStore.open(path, "legacy2")
    try:
        stats = await reopened.stats()
        assert stats == await reopened.compute_stats()
        assert (stats.records, stats.lsn) == (29, 37)
    finally:
        await reopened.close()


async def test_a_catalog_of_blake2b_digests_is_not_trusted(tmp_path: Path) -> None:
    """A data directory from digest version 1: its catalog's clean rows are dropped, so
    the store is opened (and upgraded) once at start-up instead of reporting the old
    digest, which would never match a peer's."""
    _copy_v2(tmp_path / "workloads" / "legacy2.sqlite")
    with sqlite3.connect(tmp_path / CATALOG_FILE) as db:
        db.execute(
            "CREATE TABLE workloads (name TEXT PRIMARY KEY NOT NULL, records INTEGER NOT NULL, "
            "bytes INTEGER NOT NULL, lsn INTEGER NOT NULL, digest TEXT NOT NULL, "
            "clean INTEGER NOT NULL)"
        )
        db.execute(
            "INSERT INTO workloads VALUES ('legacy2', 29, 3497, 36, ?, 1)", (_V2_BLAKE2B_DIGEST,)
        )

    registry = await StoreRegistry.open(tmp_path)
    try:
        assert await registry.get("legacy2").stats() == _V2_STATS
    finally:
        await registry.close()

    assert _schema(tmp_path / "workloads" / "legacy2.sqlite")[0] == 3
    with sqlite3.connect(tmp_path / CATALOG_FILE) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        row = db.execute("SELECT digest, clean FROM workloads").fetchone()
    assert row == (_V2_STATS.digest, 1)


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
