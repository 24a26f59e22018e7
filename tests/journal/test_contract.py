"""The journal contract: the same tests on the SQLite and the PostgreSQL backend.

Each test gets a fresh store (a temporary directory, or a fresh database on the real
PostgreSQL server of ``tests/postgres``) and a way to open more backends on it, so
reopening and two supervisors sharing one journal are exercised as they really happen.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import anyio
import asyncpg
import pytest

from edge_actors.errors import ConfigError
from edge_actors.migration import (
    Checkpoint,
    HistoryEvent,
    MigrationError,
    MigrationMetrics,
    MigrationPlan,
    MigrationState,
    MigrationStatus,
    WorkloadCheckpoint,
    parse_constraints,
)
from edge_actors.migration._ownership import OwnerRecord, Owners, StaleOwnerEpoch
from edge_actors.migration.journal import (
    JournalBackend,
    JournalUnavailable,
    _postgres,
    _sqlite,
    open_journal,
    parse_journal_url,
    redact_url,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = pytest.mark.anyio


class Store:
    """One journal store of a test and how to open backends on it."""

    def __init__(self, kind: str, location: str, data_dir: Path) -> None:
        self.kind = kind
        self.location = location
        self.data_dir = data_dir
        self.opened: list[JournalBackend] = []

    async def open(self) -> JournalBackend:
        backend = await open_journal(self.location, data_dir=self.data_dir)
        self.opened.append(backend)
        return backend

    async def make_old(self) -> None:
        """Write the version-1 schema (before owner records) with one setting."""
        if self.kind == "sqlite":
            old = sqlite3.connect(self.data_dir / "migrations.sqlite")
            old.executescript(_sqlite._SCHEMA)
            old.execute("INSERT INTO settings VALUES ('max_concurrent', '3')")
            old.commit()
            old.close()
            return
        conn = await asyncpg.connect(self.location)
        try:
            assert await _postgres.upgrade(conn, target=1) == 1
            await conn.execute("INSERT INTO settings VALUES ('max_concurrent', '3')")
        finally:
            await conn.close()

    async def set_version(self, version: int) -> None:
        """Mark the store as written by a schema ``version``."""
        if self.kind == "sqlite":
            db = sqlite3.connect(self.data_dir / "migrations.sqlite")
            db.execute(f"PRAGMA user_version = {version}")
            db.close()
            return
        conn = await asyncpg.connect(self.location)
        try:
            await conn.execute("UPDATE schema_version SET version = $1", version)
        finally:
            await conn.close()

    @property
    def schema_version(self) -> int:
        return _sqlite.SCHEMA_VERSION if self.kind == "sqlite" else _postgres.SCHEMA_VERSION


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        location = str(tmp_path / "migrations.sqlite")
    else:
        location = request.getfixturevalue("postgres_url")
    s = Store(request.param, location, tmp_path)
    try:
        yield s
    finally:
        for backend in s.opened:
            await backend.close()


@pytest.fixture
async def journal(store: Store) -> JournalBackend:
    return await store.open()


def _plan(mid: str, created_at: float = 1.0) -> MigrationPlan:
    return MigrationPlan(
        migration_id=mid, source_edge="west", target_edge="east", workloads=("w1", "w2"),
        strategy="live", priority=5, constraints=parse_constraints({"max_downtime": "1s"}),
        bandwidth_bps=None, bandwidth_explicit=False, enable_compression=True,
        sync_batch_size=100, checkpoint_interval_s=1.0, created_at=created_at,
    )  # fmt: skip


def _planned(mid: str) -> MigrationStatus:
    return MigrationStatus(migration_id=mid, state="planned")


def _event(mid: str, at: float, from_state: str, to_state: str, detail: str = "") -> HistoryEvent:
    return HistoryEvent(
        migration_id=mid, at=at, from_state=from_state, to_state=to_state, detail=detail
    )


async def test_every_record_kind_round_trips_through_a_reopen(store: Store) -> None:
    journal = await store.open()
    plan = _plan("m1", created_at=1.25)
    status = _planned("m1")
    await journal.add_plan(plan, status)
    status.state = "sync"
    await journal.transition(
        status, _event("m1", 2.5, "planned", "sync", "go"), MigrationMetrics(migration_id="m1")
    )
    status.detail = "waiting for time window"
    await journal.save_status(status, MigrationMetrics(migration_id="m1", rounds=2))
    cp1 = Checkpoint(
        checkpoint_id="m1-cp1", migration_id="m1", seq=1, created_at=3.0, phase="sync",
        workloads={"w1": WorkloadCheckpoint(acked_lsn=41)},
    )  # fmt: skip
    cp2 = Checkpoint(
        checkpoint_id="m1-cp2", migration_id="m1", seq=2, created_at=4.0, phase="cutover",
        round=3, workloads={"w1": WorkloadCheckpoint(acked_lsn=42, validated=True)},
    )  # fmt: skip
    await journal.add_checkpoint(cp1, MigrationMetrics(migration_id="m1", rounds=3))
    await journal.add_checkpoint(cp2, MigrationMetrics(migration_id="m1", rounds=4))
    owner = OwnerRecord(
        workload="w1", owner_edge="east", epoch=7, migration_id="m1", updated_at=5.5
    )
    await journal.save_owner(owner)
    await journal.save_setting("max_concurrent", 3)
    await journal.save_setting("defaults", {"strategy": "bulk", "batch": [1, 2]})
    await journal.save_setting("max_concurrent", 4)  # replaces
    await journal.close()
    store.opened.remove(journal)

    again = await store.open()
    [entry] = await again.load()
    assert entry.plan == plan
    assert (entry.status.state, entry.status.detail) == ("sync", "waiting for time window")
    assert entry.metrics.rounds == 4  # the checkpoint's metrics, saved last
    assert entry.checkpoint == cp2
    assert await again.checkpoints("m1") == [cp1, cp2]
    assert await again.checkpoints("other") == []
    assert await again.history("m1") == [
        _event("m1", 1.25, "", "planned", "planned"),
        _event("m1", 2.5, "planned", "sync", "go"),
    ]
    assert await again.owner("w1") == owner
    assert await again.owner("w2") is None
    assert await again.owners() == [owner]
    assert await again.settings() == {
        "max_concurrent": 4,
        "defaults": {"strategy": "bulk", "batch": [1, 2]},
    }


async def test_history_keeps_the_order_events_were_journaled(journal: JournalBackend) -> None:
    for mid in ("b", "a"):
        await journal.add_plan(_plan(mid), _planned(mid))
    # Interleaved, and with times that do not sort like the journal order.
    steps: list[tuple[str, float, str, MigrationState]] = [
        ("a", 9.0, "planned", "queued"), ("b", 3.0, "planned", "queued"),
        ("a", 1.0, "queued", "sync"), ("b", 2.0, "queued", "sync"),
    ]  # fmt: skip
    for mid, at, old, new in steps:
        status = MigrationStatus(migration_id=mid, state=new)
        await journal.transition(
            status, _event(mid, at, old, new), MigrationMetrics(migration_id=mid)
        )
    every = await journal.history()
    assert [(e.migration_id, e.to_state) for e in every] == [
        ("b", "planned"), ("a", "planned"),
        ("a", "queued"), ("b", "queued"), ("a", "sync"), ("b", "sync"),
    ]  # fmt: skip
    assert [e.at for e in await journal.history("a")] == [1.0, 9.0, 1.0]


async def test_plans_made_at_the_same_instant_load_in_the_order_they_were_made(
    journal: JournalBackend,
) -> None:
    ids = ["m-z", "m-a", "m-k", "m-b"]
    for mid in ids:
        await journal.add_plan(_plan(mid, created_at=100.0), _planned(mid))
    await journal.add_plan(_plan("m-early", created_at=50.0), _planned("m-early"))
    assert [e.plan.migration_id for e in await journal.load()] == ["m-early", *ids]


async def test_handovers_take_the_next_epoch_and_a_stale_settle_is_refused(
    store: Store,
) -> None:
    journal = await store.open()
    first = await journal.hand_over("orders", "west", "east", "mig-1", 10.0)
    assert first == OwnerRecord(
        workload="orders", owner_edge="west", epoch=1, handing_to="east",
        migration_id="mig-1", updated_at=10.0,
    )  # fmt: skip
    settled = OwnerRecord(workload="orders", owner_edge="east", epoch=1, migration_id="mig-1")
    assert await journal.settle_owner(settled) == settled
    back = await journal.hand_over("orders", "east", "west", "mig-2", 11.0)
    assert (back.epoch, back.owner_edge, back.handing_to) == (2, "east", "west")
    stale = OwnerRecord(workload="orders", owner_edge="west", epoch=1, migration_id="mig-1")
    assert await journal.settle_owner(stale) == back  # refused: the newer record stays
    assert await journal.owner("orders") == back
    fresh = OwnerRecord(workload="new", owner_edge="east", epoch=0, migration_id="mig-3")
    assert await journal.settle_owner(fresh) == fresh  # nothing journaled yet: stored
    reopened = await store.open()
    assert await reopened.owners() == [fresh, back]


async def test_two_journals_on_one_store_allocating_at_once_get_distinct_epochs(
    store: Store,
) -> None:
    first, second = await store.open(), await store.open()
    got: dict[str, list[int]] = {"first": [], "second": []}
    rounds = 25

    async def allocate(name: str, journal: JournalBackend) -> None:
        for _ in range(rounds):
            record = await journal.hand_over("shared", "west", "east", name, 1.0)
            got[name].append(record.epoch)

    async with anyio.create_task_group() as tg:
        tg.start_soon(allocate, "first", first)
        tg.start_soon(allocate, "second", second)
    every = got["first"] + got["second"]
    assert sorted(every) == list(range(1, 2 * rounds + 1))  # distinct, none skipped
    for epochs in got.values():
        assert epochs == sorted(epochs)
        assert len(set(epochs)) == rounds
    record = await first.owner("shared")
    assert record is not None
    assert record.epoch == 2 * rounds


async def test_two_supervisors_handing_over_at_once_never_share_an_epoch(store: Store) -> None:
    """Through ``Owners`` (what the supervisor uses): no read-then-write race."""
    owners = [Owners(await store.open()), Owners(await store.open())]
    epochs: list[int] = []

    async def hand_over(owner_records: Owners, name: str) -> None:
        for _ in range(20):
            record = await owner_records.hand_over("shared", "west", "east", name)
            epochs.append(record.epoch)

    async with anyio.create_task_group() as tg:
        for i, owner_records in enumerate(owners):
            tg.start_soon(hand_over, owner_records, f"mig-{i}")
    assert sorted(epochs) == list(range(1, 41))
    with pytest.raises(StaleOwnerEpoch, match="settle at epoch 39 refused"):
        await owners[0].settle("shared", "east", 39, "mig-0")


async def test_a_fresh_store_gets_the_schema_and_reopening_is_a_no_op(store: Store) -> None:
    journal = await store.open()
    assert await journal.schema_version() == store.schema_version
    await journal.save_setting("k", 1)
    again = await store.open()
    assert await again.schema_version() == store.schema_version
    assert await again.settings() == {"k": 1}


async def test_an_old_schema_is_upgraded_in_place_without_losing_data(store: Store) -> None:
    await store.make_old()
    journal = await store.open()
    assert await journal.schema_version() == store.schema_version
    assert await journal.settings() == {"max_concurrent": 3}
    assert await journal.owners() == []
    record = await journal.hand_over("w", "west", "east", "m", 1.0)
    assert record.epoch == 1


async def test_a_schema_from_a_newer_version_is_refused(store: Store) -> None:
    await store.open()
    newer = store.schema_version + 1
    await store.set_version(newer)
    with pytest.raises(MigrationError, match=f"schema version {newer}; this version of edge_"):
        await store.open()


async def test_two_processes_creating_the_schema_at_once_both_succeed(postgres_url: str) -> None:
    opened: list[JournalBackend] = []

    async def one() -> None:
        opened.append(await open_journal(postgres_url, data_dir="unused"))

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(one)
    try:
        assert [await j.schema_version() for j in opened] == [_postgres.SCHEMA_VERSION] * 4
        conn = await asyncpg.connect(postgres_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM schema_version") == 1
        finally:
            await conn.close()
    finally:
        for journal in opened:
            await journal.close()


# -- locations and errors ------------------------------------------------------------------


def test_locations_select_the_backend(tmp_path: Path) -> None:
    assert parse_journal_url("/var/lib/ea/j.sqlite").path == "/var/lib/ea/j.sqlite"
    assert parse_journal_url("relative/j.sqlite").kind == "sqlite"
    url = parse_journal_url("sqlite:///var/lib/ea/j.sqlite")
    assert (url.kind, url.path) == ("sqlite", "/var/lib/ea/j.sqlite")
    assert parse_journal_url("sqlite:rel/j.sqlite").path == "rel/j.sqlite"
    for scheme in ("postgresql", "postgres", "PostgreSQL"):
        pg = parse_journal_url(f"{scheme}://u:hunter2@db:5432/ea")
        assert pg.kind == "postgresql"
        assert pg.dsn == f"{scheme}://u:hunter2@db:5432/ea"
        assert "hunter2" not in pg.display


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("mysql://u:hunter2@db/ea", "'mysql://u:***@db/ea'"),
        ("sqlite://host/j.sqlite", "'sqlite://host/j.sqlite' is not a SQLite URL"),
        ("postgresql://u:hunter2@db:notaport/ea", "bad port in 'postgresql://u:***@db:notaport"),
        ("", "got ''"),
        ("http://x/?password=hunter2", "'http://x/?password=***'"),
    ],
)
def test_bad_locations_are_config_errors_without_the_password(value: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_journal_url(value)
    assert named in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_redact_url_hides_every_password() -> None:
    assert redact_url("postgresql://u:p%40ss@h/db") == "postgresql://u:***@h/db"
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert redact_url("postgresql://h/db?sslpassword=x&user=u") == (
        "postgresql://h/db?sslpassword=***&user=u"
    )


async def test_an_unreachable_server_is_a_typed_error_naming_the_redacted_url(
    tmp_path: Path,
) -> None:
    with anyio.fail_after(30):
        with pytest.raises(JournalUnavailable) as caught:
            await open_journal(
                "postgresql://ea:hunter2@127.0.0.1:1/journal", data_dir=tmp_path,
                password="hunter3",
            )  # fmt: skip
    text = str(caught.value)
    assert "cannot reach the migration journal postgresql://ea:***@127.0.0.1:1/journal" in text
    assert "hunter2" not in text
    assert "hunter3" not in text


async def test_a_sqlite_path_naming_a_directory_uses_the_default_file(tmp_path: Path) -> None:
    journal = await open_journal(str(tmp_path), data_dir=tmp_path / "unused")
    try:
        assert journal.location == str(tmp_path / "migrations.sqlite")
    finally:
        await journal.close()
    named = await open_journal(f"sqlite://{tmp_path}/other.db", data_dir=tmp_path / "unused")
    try:
        assert named.location == str(tmp_path / "other.db")
        assert (tmp_path / "other.db").exists()
    finally:
        await named.close()
