"""The PostgreSQL journal, shared by several supervisor processes (layer: migration).

The same data model as the SQLite journal (``._sql``), through an ``asyncpg`` pool: every
method is one short transaction on a connection of the pool, and a connection the server
dropped is replaced on the next call. The schema is created and migrated by this module,
never by hand: its version is the single row of table ``schema_version``; each upgrade
step (``_UPGRADES``) runs in one transaction that first takes a transaction-level
advisory lock (``pg_advisory_xact_lock``), so two processes opening a fresh database at
once upgrade it once, one after the other.

Owner epochs are allocated by one ``INSERT ... ON CONFLICT DO UPDATE SET epoch = epoch +
1 ... RETURNING`` (``._sql.HAND_OVER``): row-locked by the server, so supervisors sharing
the database never get the same epoch.

Errors: a server that cannot be reached, a connection lost, or a call that exceeds
``command_timeout_s`` raise :class:`~._protocol.JournalUnavailable` naming the redacted
URL (the supervisor actor crashes on it and is restarted from the journal).
Cancellation: writes are shielded (bounded by ``command_timeout_s``), so a cancelled
caller never leaves the outcome of a commit unknown to the next call.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Self

import anyio
import asyncpg

from .._errors import MigrationError
from .._leadership import LEADER_TABLE_DDL
from . import _sql
from ._protocol import JournalUnavailable
from ._url import redact_secrets, redact_url

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from .._models import Checkpoint, HistoryEvent, MigrationMetrics, MigrationPlan, MigrationStatus
    from .._ownership import OwnerRecord
    from ._protocol import JournalEntry

__all__ = ["SCHEMA_VERSION", "PostgresJournal"]

_UPGRADES: tuple[str, ...] = (
    # 0 -> 1: the journal's tables (SQLite's schema version 1).
    """
    CREATE TABLE migrations (
        migration_id TEXT PRIMARY KEY,
        plan TEXT NOT NULL,
        status TEXT NOT NULL,
        metrics TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE events (
        seq BIGSERIAL PRIMARY KEY,
        migration_id TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        from_state TEXT NOT NULL,
        to_state TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX events_by_migration ON events (migration_id, seq);
    CREATE TABLE checkpoints (
        checkpoint_id TEXT PRIMARY KEY,
        migration_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX checkpoints_by_migration ON checkpoints (migration_id, seq);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 1 -> 2: owner records with fencing epochs.
    """
    CREATE TABLE owners (
        workload TEXT PRIMARY KEY,
        owner_edge TEXT NOT NULL,
        epoch BIGINT NOT NULL,
        handing_to TEXT,
        migration_id TEXT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    );
    """,
    # 2 -> 3: the supervisor replicas' leader lease (``.._leadership``).
    LEADER_TABLE_DDL,
)
"""Upgrade ``i`` takes the database from version ``i`` to ``i + 1`` (0: empty). Append
new steps; never edit one that has shipped."""

SCHEMA_VERSION = len(_UPGRADES)
"""The PostgreSQL journal schema this code writes."""

_SCHEMA_LOCK = 0x6564676541637473
"""The advisory lock key (``b"edgeActs"``) serializing schema upgrades."""

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    version INTEGER NOT NULL
)
"""

_LOST = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,  # the driver's protocol state after a lost call
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)
"""What a server gone, a connection dropped, or a call timed out raise (asyncpg may also
report a connection it lost mid-call as an ``InternalClientError`` on its next use)."""


async def upgrade(
    conn: asyncpg.Connection[Any], target: int = SCHEMA_VERSION, *, location: str = ""
) -> int:
    """Bring the schema of ``conn``'s database to ``target``, one transaction per step.

    Each step takes the schema advisory lock first and reads the version under it, so a
    concurrent upgrader waits and then finds the work done.

    Returns:
        The version reached.

    Raises:
        MigrationError: The database holds a newer schema than this code reads.
    """
    while True:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
            await conn.execute(_VERSION_TABLE)
            version = int(await conn.fetchval("SELECT version FROM schema_version") or 0)
            if version > SCHEMA_VERSION:
                raise MigrationError(
                    f"journal {location} has schema version {version}; this version of "
                    f"edge_actors reads up to {SCHEMA_VERSION}"
                )
            if version >= target:
                return version
            await conn.execute(_UPGRADES[version])
            await conn.execute(
                "INSERT INTO schema_version (singleton, version) VALUES (TRUE, $1) "
                "ON CONFLICT (singleton) DO UPDATE SET version = excluded.version",
                version + 1,
            )


class PostgresJournal:
    """The :class:`~._protocol.JournalBackend` on PostgreSQL (see the module doc).

    Use :meth:`open`. The methods are documented by the protocol.

    Args:
        pool: an open pool on the journal's database (its schema up to date).
        location: the URL with its password redacted.
        command_timeout_s: the longest one call may take before it is an error.
    """

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        location: str,
        command_timeout_s: float,
        *,
        dsn: str = "",
        password: str | None = None,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self._pool = pool
        self.location = location
        self._timeout = command_timeout_s
        self._dsn = dsn
        self._password = password
        self._connect_timeout = connect_timeout_s

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        password: str | None = None,
        connect_timeout_s: float = 10.0,
        command_timeout_s: float = 30.0,
        max_connections: int = 4,
    ) -> Self:
        """Connect a pool to ``dsn`` and create or upgrade the schema.

        Args:
            dsn: a ``postgresql://`` URL.
            password: wins over the URL's password and ``PGPASSWORD``.
            connect_timeout_s: the longest a connection attempt may take.
            command_timeout_s: the longest one call may take.
            max_connections: the pool's bound.

        Raises:
            JournalUnavailable: the server cannot be reached or refuses the login.
            MigrationError: the database holds a newer schema than this code reads.
        """
        location = redact_url(dsn)
        try:
            pool = await asyncpg.create_pool(
                dsn,
                password=password,
                min_size=1,
                max_size=max_connections,
                timeout=connect_timeout_s,
                command_timeout=command_timeout_s,
            )
        except (*_LOST, asyncpg.PostgresError) as exc:
            raise _unreachable(exc, dsn, password) from None
        journal = cls(
            pool,
            location,
            command_timeout_s,
            dsn=dsn,
            password=password,
            connect_timeout_s=connect_timeout_s,
        )
        try:
            async with journal._conn() as conn:
                await upgrade(conn, location=location)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await pool.close()
            raise
        return journal

    @property
    def pool(self) -> asyncpg.Pool[Any]:
        """The journal's pool (for more statements in the journal's database)."""
        return self._pool

    async def connect(self) -> asyncpg.Connection[Any]:
        """A dedicated connection to the journal's database, outside the pool.

        For what must live on one session (a session-level advisory lock, ``LISTEN``);
        the caller closes it.

        Raises:
            JournalUnavailable: the server cannot be reached (the redacted URL named).
        """
        try:
            conn: asyncpg.Connection[Any] = await asyncpg.connect(
                self._dsn,
                password=self._password,
                timeout=self._connect_timeout,
                command_timeout=self._timeout,
            )
        except (*_LOST, asyncpg.PostgresError) as exc:
            raise _unreachable(exc, self._dsn, self._password) from None
        return conn

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection[Any]]:
        """A pooled connection; a lost server or connection is :class:`JournalUnavailable`."""
        try:
            async with self._pool.acquire(timeout=self._timeout) as conn:
                yield conn
        except _LOST as exc:
            raise JournalUnavailable(
                f"migration journal {self.location}: connection lost: {type(exc).__name__}: {exc}"
            ) from exc

    async def _tx(self, statements: Sequence[_sql.Statement]) -> list[asyncpg.Record]:
        """Run ``statements`` in one transaction (shielded); returns the last one's rows."""
        rows: list[asyncpg.Record] = []
        with anyio.CancelScope(shield=True):
            async with self._conn() as conn, conn.transaction():
                for sql, args in statements:
                    rows = await conn.fetch(sql, *args)
        return rows

    async def _rows(self, sql: str, *args: object) -> list[asyncpg.Record]:
        async with self._conn() as conn:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        return rows

    async def schema_version(self) -> int:
        async with self._conn() as conn:
            return int(await conn.fetchval("SELECT version FROM schema_version"))

    async def close(self) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(self._timeout):
            await self._pool.close()
        self._pool.terminate()  # what did not close in time

    async def add_plan(self, plan: MigrationPlan, status: MigrationStatus) -> None:
        await self._tx(_sql.add_plan(plan, status))

    async def transition(
        self, status: MigrationStatus, event: HistoryEvent, metrics: MigrationMetrics
    ) -> None:
        await self._tx(_sql.transition(status, event, metrics))

    async def save_status(self, status: MigrationStatus, metrics: MigrationMetrics) -> None:
        await self._tx(_sql.save_status(status, metrics))

    async def add_checkpoint(self, checkpoint: Checkpoint, metrics: MigrationMetrics) -> None:
        await self._tx(_sql.add_checkpoint(checkpoint, metrics))

    async def checkpoints(self, migration_id: str) -> list[Checkpoint]:
        return [_sql.checkpoint(row[0]) for row in await self._rows(_sql.CHECKPOINTS, migration_id)]

    async def history(self, migration_id: str | None = None) -> list[HistoryEvent]:
        if migration_id is None:
            return [_sql.event(row) for row in await self._rows(_sql.HISTORY_ALL)]
        return [_sql.event(row) for row in await self._rows(_sql.HISTORY, migration_id)]

    async def load(self) -> list[JournalEntry]:
        return [_sql.entry(row) for row in await self._rows(_sql.LOAD)]

    async def save_owner(self, record: OwnerRecord) -> None:
        await self._tx([_sql.save_owner(record)])

    async def hand_over(
        self, workload: str, from_edge: str, to_edge: str, migration_id: str, at: float
    ) -> OwnerRecord:
        [row] = await self._tx([_sql.hand_over(workload, from_edge, to_edge, migration_id, at)])
        return _sql.owner(row)

    async def settle_owner(self, record: OwnerRecord) -> OwnerRecord:
        rows = await self._tx([_sql.settle_owner(record), (_sql.OWNER, (record.workload,))])
        return _sql.owner(rows[0])

    async def owner(self, workload: str) -> OwnerRecord | None:
        rows = await self._rows(_sql.OWNER, workload)
        return _sql.owner(rows[0]) if rows else None

    async def owners(self) -> list[OwnerRecord]:
        return [_sql.owner(row) for row in await self._rows(_sql.OWNERS)]

    async def save_setting(self, key: str, value: object) -> None:
        await self._tx([_sql.save_setting(key, value)])

    async def settings(self) -> dict[str, object]:
        return dict(_sql.setting(row) for row in await self._rows(_sql.SETTINGS))


def _unreachable(exc: BaseException, dsn: str, password: str | None) -> JournalUnavailable:
    """The error of a failed connect to ``dsn``, every password in it redacted."""
    return JournalUnavailable(
        f"cannot reach the migration journal {redact_url(dsn)}: {type(exc).__name__}: "
        f"{redact_secrets(str(exc), dsn, password)}"
    )
