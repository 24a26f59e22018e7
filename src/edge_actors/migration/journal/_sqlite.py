"""The SQLite journal: the embedded default, one file in the data directory (layer: migration).

One file, ``<data_dir>/migrations.sqlite`` in WAL mode, holds every plan, status,
transition, checkpoint and metric, and the owner record (owner edge, epoch) of every
workload a migration touched. The schema is versioned (``PRAGMA user_version``): opening
an older journal upgrades it in place, step by step, each step in one transaction
(:data:`SCHEMA_VERSION`, ``_UPGRADES``). Each method is one short transaction, committed
before it returns: a process killed with SIGKILL after a call returned finds the change
on restart. :class:`Journal` is the synchronous store (tests and tools read a journal
with it); :class:`SqliteJournal` is the :class:`~._protocol.JournalBackend` over it:
every call runs on a worker thread, one at a time on one connection, so a slow disk (an
fsync) never blocks the event loop.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import anyio
import anyio.to_thread

from .._errors import MigrationError
from . import _sql

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._models import Checkpoint, HistoryEvent, MigrationMetrics, MigrationPlan, MigrationStatus
    from .._ownership import OwnerRecord
    from ._protocol import JournalEntry

__all__ = ["JOURNAL_FILE", "SCHEMA_VERSION", "Journal", "SqliteJournal"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

JOURNAL_FILE = "migrations.sqlite"
"""The journal's file name in its directory."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS migrations (
    migration_id TEXT PRIMARY KEY,
    plan TEXT NOT NULL,
    status TEXT NOT NULL,
    metrics TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    migration_id TEXT NOT NULL,
    at REAL NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_migration ON events (migration_id, seq);
CREATE TABLE IF NOT EXISTS checkpoints (
    checkpoint_id TEXT PRIMARY KEY,
    migration_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS checkpoints_by_migration ON checkpoints (migration_id, seq);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_UPGRADES: tuple[str, ...] = (
    # 1 -> 2: owner records with fencing epochs.
    """
    CREATE TABLE owners (
        workload TEXT PRIMARY KEY,
        owner_edge TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        handing_to TEXT,
        migration_id TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
)
"""Upgrade ``i`` takes a journal from version ``i + 1`` to ``i + 2`` (version 1 is
``_SCHEMA``, the journal before versioning)."""

SCHEMA_VERSION = 1 + len(_UPGRADES)
"""The journal schema this code writes (``PRAGMA user_version``)."""


class Journal:
    """The SQLite journal of one migration supervisor (synchronous).

    Args:
        data_dir: directory holding the journal file (created if missing).
        filename: the file's name in ``data_dir``.

    Raises:
        MigrationError: the file cannot be opened or is not a journal.
    """

    def __init__(self, data_dir: str | Path, filename: str = JOURNAL_FILE) -> None:
        directory = Path(data_dir)
        self.path = directory / filename
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._upgrade()
        except (OSError, sqlite3.Error) as exc:
            raise MigrationError(f"cannot open migration journal {self.path}: {exc}") from exc

    def _upgrade(self) -> None:
        """Bring the schema to :data:`SCHEMA_VERSION`, one transaction per step.

        Raises:
            MigrationError: The journal was written by a newer version.
        """
        db = self._db
        version = max(1, db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise MigrationError(
                f"journal {self.path} has schema version {version}; this version of "
                f"edge_actors reads up to {SCHEMA_VERSION}"
            )
        for step in range(version, SCHEMA_VERSION):
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _UPGRADES[step - 1].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {step + 1}")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        """The schema version of the open journal."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        """Close the database; later calls fail."""
        self._db.close()

    def _tx(self, statements: list[_sql.Statement]) -> list[tuple[object, ...]]:
        """Run ``statements`` in one transaction; returns the last one's rows."""
        db = self._db
        rows: list[tuple[object, ...]] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, args in statements:
                rows = db.execute(_sql.sqlite(sql), args).fetchall()
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return rows

    def _rows(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        return self._db.execute(_sql.sqlite(sql), args).fetchall()

    def add_plan(self, plan: MigrationPlan, status: MigrationStatus) -> None:
        """Journal a new plan with its first status."""
        self._tx(_sql.add_plan(plan, status))

    def transition(
        self, status: MigrationStatus, event: HistoryEvent, metrics: MigrationMetrics
    ) -> None:
        """Journal a state change: the new status, its event and the metrics."""
        self._tx(_sql.transition(status, event, metrics))

    def save_status(self, status: MigrationStatus, metrics: MigrationMetrics) -> None:
        """Journal a detail/metrics change that is not a transition."""
        self._tx(_sql.save_status(status, metrics))

    def add_checkpoint(self, checkpoint: Checkpoint, metrics: MigrationMetrics) -> None:
        """Journal a checkpoint together with the metrics at that moment."""
        self._tx(_sql.add_checkpoint(checkpoint, metrics))

    def checkpoints(self, migration_id: str) -> list[Checkpoint]:
        """Every checkpoint of a migration, oldest first."""
        return [_sql.checkpoint(str(row[0])) for row in self._rows(_sql.CHECKPOINTS, migration_id)]

    def history(self, migration_id: str | None = None) -> list[HistoryEvent]:
        """Journaled transitions of one migration (or all), oldest first."""
        if migration_id is None:
            return [_sql.event(row) for row in self._rows(_sql.HISTORY_ALL)]
        return [_sql.event(row) for row in self._rows(_sql.HISTORY, migration_id)]

    def load(self) -> list[JournalEntry]:
        """Every journaled migration with its latest checkpoint, in plan order."""
        return [_sql.entry(row) for row in self._rows(_sql.LOAD)]

    def save_owner(self, record: OwnerRecord) -> None:
        """Journal the owner record of one workload (replacing the previous one)."""
        self._tx([_sql.save_owner(record)])

    def hand_over(
        self, workload: str, from_edge: str, to_edge: str, migration_id: str, at: float
    ) -> OwnerRecord:
        """Take the next epoch of ``workload`` (see ``JournalBackend.hand_over``)."""
        [row] = self._tx([_sql.hand_over(workload, from_edge, to_edge, migration_id, at)])
        return _sql.owner(row)

    def settle_owner(self, record: OwnerRecord) -> OwnerRecord:
        """Store ``record`` unless newer (see ``JournalBackend.settle_owner``)."""
        [row] = self._tx([_sql.settle_owner(record), (_sql.OWNER, (record.workload,))])
        return _sql.owner(row)

    def owner(self, workload: str) -> OwnerRecord | None:
        """The owner record of ``workload`` (``None``: never journaled)."""
        rows = self._rows(_sql.OWNER, workload)
        return _sql.owner(rows[0]) if rows else None

    def owners(self) -> list[OwnerRecord]:
        """Every owner record, by workload name."""
        return [_sql.owner(row) for row in self._rows(_sql.OWNERS)]

    def save_setting(self, key: str, value: object) -> None:
        """Persist one service setting (``configure``)."""
        self._tx([_sql.save_setting(key, value)])

    def settings(self) -> dict[str, object]:
        """The persisted service settings."""
        return dict(_sql.setting(row) for row in self._rows(_sql.SETTINGS))


class SqliteJournal:
    """The :class:`~._protocol.JournalBackend` over a :class:`Journal`, off the event loop.

    Args:
        journal: the opened journal (its single connection is used from a worker thread;
            a limiter keeps calls strictly sequential, in the order awaited).

    Cancellation: a call that has started is never abandoned half way (the worker thread
    finishes the transaction and the caller's cancellation takes effect afterwards), so
    the journal never holds half a change. The methods are documented by the protocol.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.location = str(journal.path)
        self._limiter = anyio.CapacityLimiter(1)

    @classmethod
    def open(cls, data_dir: str | Path, filename: str = JOURNAL_FILE) -> SqliteJournal:
        """Open (create, upgrade) the journal file ``data_dir/filename``.

        Raises:
            MigrationError: the file cannot be opened or is not a journal.
        """
        return cls(Journal(data_dir, filename))

    async def _run(self, call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        def job() -> _T:
            return call(*args, **kwargs)

        return await anyio.to_thread.run_sync(job, limiter=self._limiter)

    async def schema_version(self) -> int:
        return await self._run(lambda: self.journal.schema_version)

    async def close(self) -> None:
        await self._run(self.journal.close)

    async def add_plan(self, plan: MigrationPlan, status: MigrationStatus) -> None:
        await self._run(self.journal.add_plan, plan, status)

    async def transition(
        self, status: MigrationStatus, event: HistoryEvent, metrics: MigrationMetrics
    ) -> None:
        await self._run(self.journal.transition, status, event, metrics)

    async def save_status(self, status: MigrationStatus, metrics: MigrationMetrics) -> None:
        await self._run(self.journal.save_status, status, metrics)

    async def add_checkpoint(self, checkpoint: Checkpoint, metrics: MigrationMetrics) -> None:
        await self._run(self.journal.add_checkpoint, checkpoint, metrics)

    async def checkpoints(self, migration_id: str) -> list[Checkpoint]:
        return await self._run(self.journal.checkpoints, migration_id)

    async def history(self, migration_id: str | None = None) -> list[HistoryEvent]:
        return await self._run(self.journal.history, migration_id)

    async def load(self) -> list[JournalEntry]:
        return await self._run(self.journal.load)

    async def save_owner(self, record: OwnerRecord) -> None:
        await self._run(self.journal.save_owner, record)

    async def hand_over(
        self, workload: str, from_edge: str, to_edge: str, migration_id: str, at: float
    ) -> OwnerRecord:
        return await self._run(
            self.journal.hand_over, workload, from_edge, to_edge, migration_id, at
        )

    async def settle_owner(self, record: OwnerRecord) -> OwnerRecord:
        return await self._run(self.journal.settle_owner, record)

    async def owner(self, workload: str) -> OwnerRecord | None:
        return await self._run(self.journal.owner, workload)

    async def owners(self) -> list[OwnerRecord]:
        return await self._run(self.journal.owners)

    async def save_setting(self, key: str, value: object) -> None:
        await self._run(self.journal.save_setting, key, value)

    async def settings(self) -> dict[str, object]:
        return await self._run(self.journal.settings)
