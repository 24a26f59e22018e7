"""The migration supervisor's SQLite journal (layer: migration).

One file, ``<data_dir>/migrations.sqlite`` in WAL mode, holds every plan, status,
transition, checkpoint and metric, and the owner record (owner edge, epoch) of every
workload a migration touched (:mod:`._ownership`). The schema is versioned
(``PRAGMA user_version``): opening an older journal upgrades it in place, step by step,
each step in one transaction (:data:`SCHEMA_VERSION`, ``_UPGRADES``). Each method is
one short transaction, committed before it returns: a process killed with SIGKILL after
a call returned finds the change on restart. :class:`Journal` is the synchronous store;
:class:`JournalWriter` is how the supervisor actor uses it: every call runs on a worker
thread, one at a time on one connection, so a slow disk (an fsync) never blocks the event
loop, and the supervisor awaits each write before it replies (journal first, then answer).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import anyio
import anyio.to_thread
import msgspec

from ._errors import MigrationError
from ._models import Checkpoint, HistoryEvent, MigrationMetrics, MigrationPlan, MigrationStatus
from ._ownership import OwnerRecord

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["JOURNAL_FILE", "SCHEMA_VERSION", "Journal", "JournalEntry", "JournalWriter"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

JOURNAL_FILE = "migrations.sqlite"

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

_enc = msgspec.json.Encoder()


class JournalEntry(msgspec.Struct):
    """A migration as loaded from the journal on start."""

    plan: MigrationPlan
    status: MigrationStatus
    metrics: MigrationMetrics
    checkpoint: Checkpoint | None


class Journal:
    """The SQLite journal of one migration supervisor.

    Args:
        data_dir: directory holding ``migrations.sqlite`` (created if missing).

    Raises:
        MigrationError: the file cannot be opened or is not a journal.
    """

    def __init__(self, data_dir: str | Path) -> None:
        directory = Path(data_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self.path = directory / JOURNAL_FILE
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._upgrade()
        except (OSError, sqlite3.Error) as exc:
            raise MigrationError(f"cannot open migration journal in {data_dir}: {exc}") from exc

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

    def _tx(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, args in statements:
                db.execute(sql, args)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def add_plan(self, plan: MigrationPlan, status: MigrationStatus) -> None:
        """Journal a new plan with its first status."""
        metrics = MigrationMetrics(
            migration_id=plan.migration_id, workload_bytes=plan.estimated_bytes
        )
        self._tx([
            (
                "INSERT INTO migrations VALUES (?, ?, ?, ?, ?)",
                (plan.migration_id, _enc.encode(plan).decode(), _enc.encode(status).decode(),
                 _enc.encode(metrics).decode(), plan.created_at),
            ),
            (
                "INSERT INTO events (migration_id, at, from_state, to_state, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                (plan.migration_id, plan.created_at, "", status.state, "planned"),
            ),
        ])  # fmt: skip

    def transition(
        self, status: MigrationStatus, event: HistoryEvent, metrics: MigrationMetrics
    ) -> None:
        """Journal a state change: the new status, its event and the metrics."""
        self._tx([
            (
                "UPDATE migrations SET status = ?, metrics = ? WHERE migration_id = ?",
                (_enc.encode(status).decode(), _enc.encode(metrics).decode(),
                 status.migration_id),
            ),
            (
                "INSERT INTO events (migration_id, at, from_state, to_state, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                (event.migration_id, event.at, event.from_state, event.to_state, event.detail),
            ),
        ])  # fmt: skip

    def save_status(self, status: MigrationStatus, metrics: MigrationMetrics) -> None:
        """Journal a detail/metrics change that is not a transition."""
        self._tx([(
            "UPDATE migrations SET status = ?, metrics = ? WHERE migration_id = ?",
            (_enc.encode(status).decode(), _enc.encode(metrics).decode(), status.migration_id),
        )])  # fmt: skip

    def add_checkpoint(self, checkpoint: Checkpoint, metrics: MigrationMetrics) -> None:
        """Journal a checkpoint together with the metrics at that moment."""
        self._tx([
            (
                "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?)",
                (checkpoint.checkpoint_id, checkpoint.migration_id, checkpoint.seq,
                 _enc.encode(checkpoint).decode()),
            ),
            (
                "UPDATE migrations SET metrics = ? WHERE migration_id = ?",
                (_enc.encode(metrics).decode(), checkpoint.migration_id),
            ),
        ])  # fmt: skip

    def checkpoints(self, migration_id: str) -> list[Checkpoint]:
        """Every checkpoint of a migration, oldest first."""
        rows = self._db.execute(
            "SELECT data FROM checkpoints WHERE migration_id = ? ORDER BY seq", (migration_id,)
        ).fetchall()
        return [msgspec.json.decode(row[0], type=Checkpoint) for row in rows]

    def history(self, migration_id: str | None = None) -> list[HistoryEvent]:
        """Journaled transitions of one migration (or all), oldest first."""
        if migration_id is None:
            rows = self._db.execute(
                "SELECT migration_id, at, from_state, to_state, detail FROM events ORDER BY seq"
            ).fetchall()
        else:
            rows = self._db.execute(
                "SELECT migration_id, at, from_state, to_state, detail FROM events "
                "WHERE migration_id = ? ORDER BY seq",
                (migration_id,),
            ).fetchall()
        return [
            HistoryEvent(migration_id=r[0], at=r[1], from_state=r[2], to_state=r[3], detail=r[4])
            for r in rows
        ]

    def load(self) -> list[JournalEntry]:
        """Every journaled migration with its latest checkpoint, in plan order."""
        rows = self._db.execute(
            "SELECT migration_id, plan, status, metrics FROM migrations ORDER BY created_at"
        ).fetchall()
        entries = []
        for mid, plan, status, metrics in rows:
            last = self._db.execute(
                "SELECT data FROM checkpoints WHERE migration_id = ? ORDER BY seq DESC LIMIT 1",
                (mid,),
            ).fetchone()
            entries.append(
                JournalEntry(
                    plan=msgspec.json.decode(plan, type=MigrationPlan),
                    status=msgspec.json.decode(status, type=MigrationStatus),
                    metrics=msgspec.json.decode(metrics, type=MigrationMetrics),
                    checkpoint=None
                    if last is None
                    else msgspec.json.decode(last[0], type=Checkpoint),
                )
            )
        return entries

    def save_owner(self, record: OwnerRecord) -> None:
        """Journal the owner record of one workload (replacing the previous one)."""
        self._tx([(
            "INSERT OR REPLACE INTO owners VALUES (?, ?, ?, ?, ?, ?)",
            (record.workload, record.owner_edge, record.epoch, record.handing_to,
             record.migration_id, record.updated_at),
        )])  # fmt: skip

    def owner(self, workload: str) -> OwnerRecord | None:
        """The owner record of ``workload`` (``None``: never journaled)."""
        row = self._db.execute(
            "SELECT workload, owner_edge, epoch, handing_to, migration_id, updated_at "
            "FROM owners WHERE workload = ?",
            (workload,),
        ).fetchone()
        return None if row is None else _owner(row)

    def owners(self) -> list[OwnerRecord]:
        """Every owner record, by workload name."""
        rows = self._db.execute(
            "SELECT workload, owner_edge, epoch, handing_to, migration_id, updated_at "
            "FROM owners ORDER BY workload"
        ).fetchall()
        return [_owner(row) for row in rows]

    def save_setting(self, key: str, value: object) -> None:
        """Persist one service setting (``configure``)."""
        self._tx([(
            "INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, _enc.encode(value).decode())
        )])  # fmt: skip

    def settings(self) -> dict[str, object]:
        """The persisted service settings."""
        rows = self._db.execute("SELECT key, value FROM settings").fetchall()
        return {key: msgspec.json.decode(value) for key, value in rows}


def _owner(row: tuple[Any, ...]) -> OwnerRecord:
    workload, owner_edge, epoch, handing_to, migration_id, updated_at = row
    return OwnerRecord(
        workload=workload,
        owner_edge=owner_edge,
        epoch=epoch,
        handing_to=handing_to,
        migration_id=migration_id,
        updated_at=updated_at,
    )


class JournalWriter:
    """Runs the calls of one :class:`Journal` off the event loop, one at a time.

    Args:
        journal: the opened journal (its single connection is used from the worker
            thread; the limiter keeps calls strictly sequential, in the order awaited).

    Cancellation: a call that has started is never abandoned half way (the worker thread
    finishes the transaction and the caller's cancellation takes effect afterwards), so
    the journal never holds half a change.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._limiter = anyio.CapacityLimiter(1)

    async def run(self, call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run ``call(*args)`` (a method of :attr:`journal`) on the writer thread."""

        def job() -> _T:
            return call(*args, **kwargs)

        return await anyio.to_thread.run_sync(job, limiter=self._limiter)
