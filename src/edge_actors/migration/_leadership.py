"""Leader election of supervisor replicas through PostgreSQL (layer: migration).

Several daemons started with ``--supervisor`` on one PostgreSQL journal elect one leader,
which alone drives migrations. The election is a **lease row**: one row of table
``supervisor_leader`` holds the holder's id and URL, the *leadership epoch* and the
lease's expiry, always computed by the database's clock (``now()``), never a replica's.

* A follower takes the lease only when the row's ``expires_at`` has passed (by the
  database clock); taking it increments ``epoch``, so the epoch grows on every change of
  leader (also when a replica takes back a lease it had lost: a new tenure).
* The leader renews every ``renew_s`` (``expires_at = now() + lease_s``, only if it still
  holds that epoch). It counts its lease from the moment it *sent* the last successful
  renewal, on its own monotonic clock, and stops acting ``margin_s`` before that local
  deadline even if the renewal never answers (a partition, a stalled database): since the
  database computed the expiry after the request was sent, the local deadline always
  comes first, and no follower can take over while the old leader still acts.
* A leader leaving cleanly resigns (``expires_at = now()``): a follower takes over at its
  next poll instead of waiting out the lease.

Why a lease row and not a session advisory lock: a lock lives as long as the database
*session*, and a leader partitioned from the database neither learns that its session is
gone nor lets the server drop it before TCP keepalives give up (minutes, by settings
outside our control), so neither side could bound the takeover time. The lease is measured
on one clock (the database's), is renewed over any connection (a reconnect, a pooler in
transaction mode) and carries the epoch in the same row the election writes, so electing
and numbering leaders is one atomic statement.

Defaults: ``lease_s = 3``, ``renew_s = 1``, ``margin_s = 0.5``: a dead leader's lease
runs out at most 3 s after its last renewal and a follower polls again when it expires
(it sleeps until the expiry it read, at most ``renew_s``), so a follower takes over
within about ``lease_s + renew_s`` of the leader's death.

Local timers (renew interval, local deadline, follower polls) run on the injected
:class:`~edge_actors.clock.Clock`; only the database decides who holds the lease.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import anyio
import asyncpg
import msgspec

from edge_actors._closing import AsyncClosing
from edge_actors._log import get_logger
from edge_actors.clock import SYSTEM_CLOCK
from edge_actors.errors import ConfigError

if TYPE_CHECKING:
    from edge_actors.clock import Clock

__all__ = [
    "LEADER_TABLE_DDL",
    "LeaderElector",
    "LeaderState",
    "LeaseSettings",
    "Role",
]

Role = Literal["leader", "follower"]

LEADER_TABLE_DDL = """
CREATE TABLE IF NOT EXISTS supervisor_leader (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    holder_id TEXT NOT NULL,
    holder_url TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    renewed_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
"""
"""The lease table (one row, ``id = 1``): step 2 -> 3 of the PostgreSQL journal's schema
(``journal/_postgres.py``), so never edit it; change the table with a new step there."""

_ACQUIRE = """
INSERT INTO supervisor_leader AS l
    (id, holder_id, holder_url, epoch, acquired_at, renewed_at, expires_at)
VALUES (1, $1, $2, 1, now(), now(), now() + make_interval(secs => $3))
ON CONFLICT (id) DO UPDATE SET
    holder_id = EXCLUDED.holder_id,
    holder_url = EXCLUDED.holder_url,
    epoch = l.epoch + 1,
    acquired_at = now(),
    renewed_at = now(),
    expires_at = EXCLUDED.expires_at
WHERE l.expires_at <= now()
RETURNING epoch
"""

_RENEW = """
UPDATE supervisor_leader
SET renewed_at = now(), expires_at = now() + make_interval(secs => $3)
WHERE id = 1 AND holder_id = $1 AND epoch = $2 AND expires_at > now()
RETURNING epoch
"""

_RESIGN = """
UPDATE supervisor_leader SET expires_at = now()
WHERE id = 1 AND holder_id = $1 AND epoch = $2
"""

_READ = """
SELECT holder_id, holder_url, epoch,
       extract(epoch FROM expires_at - now())::float8 AS remaining_s,
       extract(epoch FROM now() - renewed_at)::float8 AS age_s
FROM supervisor_leader WHERE id = 1
"""

_DB_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
    TimeoutError,
)
"""What a database call may fail with (a lost connection, a timeout, a server error, the
driver's own protocol state): each is "the database did not answer", never a crash of
the replica."""


class LeaseSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Timing of the lease (seconds).

    Attributes:
        lease_s: how long a renewal keeps the lease (database clock).
        renew_s: time between the leader's renewals and, at most, between a follower's
            attempts to take the lease.
        margin_s: how long before its local deadline a leader that could not renew stops
            acting (covers the time a renewal spends on the wire).
        connect_timeout_s: bound of one connection attempt.
    """

    lease_s: float = 3.0
    renew_s: float = 1.0
    margin_s: float = 0.5
    connect_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("lease_s", "renew_s", "connect_timeout_s"):
            value = getattr(self, name)
            if not (0 < value < math.inf):
                raise ConfigError(f"{name}: expected seconds > 0, got {value!r}")
        if not 0 <= self.margin_s < self.lease_s:
            raise ConfigError(f"margin_s: expected 0 <= margin_s < lease_s, got {self.margin_s}")
        if self.renew_s >= self.lease_s - self.margin_s:
            raise ConfigError(
                f"renew_s: expected less than lease_s - margin_s "
                f"({self.lease_s - self.margin_s:g}), got {self.renew_s:g}"
            )


class LeaderState(msgspec.Struct, frozen=True, kw_only=True):
    """What a replica knows of the leadership (an immutable snapshot).

    Attributes:
        role: this replica's role.
        epoch: the latest leadership epoch seen (0: no leader was ever elected).
        leader_id: the holder of that epoch (``None`` if unknown).
        leader_url: the holder's URL, where followers forward commands.
        lease_age_s: seconds since the leader's last renewal, as last read (``None``
            before the first read).
        failovers: changes of leader this replica has seen since it started.
    """

    role: Role = "follower"
    epoch: int = 0
    leader_id: str | None = None
    leader_url: str | None = None
    lease_age_s: float | None = None
    failovers: int = 0


class LeaderElector(AsyncClosing):
    """One replica's side of the election (see the module doc).

    Args:
        dsn: the PostgreSQL URL of the journal database (the table must exist: it is part
            of the journal's schema).
        password: the database password when not in ``dsn`` (else ``PGPASSWORD``).
        holder_id: this replica's unique id (e.g. its edge name).
        holder_url: where followers reach this replica's admin API.
        settings: lease timing.
        clock: the local timers' time source.

    Use as ``async with LeaderElector(...) as elector:``; then :meth:`campaign` until
    leader, :meth:`hold` while leader. Leaving resigns a held lease and closes the
    connection. Only the task that runs :meth:`campaign` / :meth:`hold` changes the state;
    :attr:`state` is a snapshot anyone may read.
    """

    def __init__(
        self,
        dsn: str,
        *,
        password: str | None = None,
        holder_id: str,
        holder_url: str,
        settings: LeaseSettings | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not holder_id:
            raise ConfigError("holder_id: expected a non-empty string")
        self.dsn = dsn
        self._password = password
        self.holder_id = holder_id
        self.holder_url = holder_url
        self.settings = settings or LeaseSettings()
        self.clock = clock
        self.state = LeaderState()
        self.renewals = 0
        self._conn: Any = None  # asyncpg.Connection (untyped library)
        self._valid_until = -math.inf
        self._remaining_s = 0.0  # of the lease another replica holds, as last read
        self._age_read_at = 0.0  # local monotonic time of the last lease_age_s reading
        self._changed = anyio.Event()
        self.known = anyio.Event()
        """Set once the lease row was read (or taken) for the first time."""
        self._log = get_logger("migration.leadership").bind(holder=holder_id)

    async def aclose(self) -> None:
        """Resign a held lease and close the connection (shielded from cancellation)."""
        with anyio.CancelScope(shield=True):
            if self.state.role == "leader":
                await self.resign()
            await self._close()

    # -- connection ---------------------------------------------------------------------

    async def _db(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(
                self.dsn, password=self._password, timeout=self.settings.connect_timeout_s
            )
        return self._conn

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with anyio.move_on_after(1.0):
                await conn.close(timeout=1.0)
            if not conn.is_closed():
                conn.terminate()

    async def _fetch(self, query: str, *args: object) -> Any:
        """One statement; a failure drops the connection (the next call reconnects).

        Raises:
            asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError: the call
                failed or took longer than ``renew_s``.
        """
        try:
            conn = await self._db()
            return await conn.fetchrow(query, *args, timeout=self.settings.renew_s)
        except _DB_ERRORS:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.terminate()
            raise

    # -- one step each ------------------------------------------------------------------

    def _set(self, **changes: Any) -> None:
        old = self.state
        new = msgspec.structs.replace(old, **changes)
        if old.epoch and new.epoch > old.epoch and new.leader_id != old.leader_id:
            new = msgspec.structs.replace(new, failovers=old.failovers + 1)
        self.state = new
        if "lease_age_s" in changes:
            self._age_read_at = self.clock.monotonic()
        if (new.epoch, new.role, new.leader_url) != (old.epoch, old.role, old.leader_url):
            changed, self._changed = self._changed, anyio.Event()
            changed.set()

    async def wait_changed(self, than: LeaderState) -> LeaderState:
        """Wait until the epoch, role or leader differs from ``than``; return the state.

        Cancellation: only the wait ends (bound it with a cancel scope).
        """
        while (self.state.epoch, self.state.role, self.state.leader_url) == (
            than.epoch,
            than.role,
            than.leader_url,
        ):
            await self._changed.wait()
        return self.state

    async def try_acquire(self) -> bool:
        """Take the lease if it is free or expired; refresh :attr:`state` either way.

        Returns:
            Whether this replica is now the leader. A database error counts as not.
        """
        sent = self.clock.monotonic()
        try:
            row = await self._fetch(
                _ACQUIRE, self.holder_id, self.holder_url, self.settings.lease_s
            )
            if row is None:
                current = await self._fetch(_READ)
        except _DB_ERRORS as exc:
            self._log.warning("leadership.db_unavailable", error=repr(exc))
            return False
        self.known.set()
        if row is not None:
            self._valid_until = sent + self.settings.lease_s
            self._set(
                role="leader",
                epoch=int(row["epoch"]),
                leader_id=self.holder_id,
                leader_url=self.holder_url,
                lease_age_s=0.0,
            )
            self._log.info("leadership.acquired", epoch=self.state.epoch)
            return True
        if current is not None:
            self._remaining_s = max(0.0, float(current["remaining_s"]))
            self._set(
                role="follower",
                epoch=int(current["epoch"]),
                leader_id=current["holder_id"],
                leader_url=current["holder_url"],
                lease_age_s=float(current["age_s"]),
            )
        return False

    async def renew(self) -> bool | None:
        """Renew the held lease once.

        Returns:
            ``True`` renewed (the local deadline moves on), ``False`` the lease is gone
            (another epoch exists or it expired: stop acting), ``None`` the database did
            not answer (try again until the local deadline).
        """
        sent = self.clock.monotonic()
        try:
            row = await self._fetch(_RENEW, self.holder_id, self.state.epoch, self.settings.lease_s)
        except _DB_ERRORS as exc:
            self._log.warning("leadership.renew_failed", error=repr(exc), epoch=self.state.epoch)
            return None
        if row is None:
            return False
        self._valid_until = sent + self.settings.lease_s
        self.renewals += 1
        self._set(lease_age_s=0.0)
        return True

    async def resign(self) -> None:
        """Give the lease up now (a follower may take it at its next attempt)."""
        epoch = self.state.epoch
        self._valid_until = -math.inf
        self._set(role="follower")
        try:
            await self._fetch(_RESIGN, self.holder_id, epoch)
        except _DB_ERRORS as exc:
            self._log.warning("leadership.resign_failed", error=repr(exc), epoch=epoch)
            return
        self._log.info("leadership.resigned", epoch=epoch)

    def lease_age(self) -> float | None:
        """Seconds since the leader's last renewal, now: the last reading plus the local
        time since (``None`` before the first reading)."""
        age = self.state.lease_age_s
        if age is None:
            return None
        return age + max(0.0, self.clock.monotonic() - self._age_read_at)

    def deadline_left(self) -> float:
        """Seconds (local clock) until this leader must have stopped acting."""
        return self._valid_until - self.settings.margin_s - self.clock.monotonic()

    # -- loops ----------------------------------------------------------------------------

    async def campaign(self) -> int:
        """Try to take the lease until this replica leads; return the new epoch.

        A follower tries every ``renew_s``, or as soon as the lease it read expires if
        that comes first. Database errors are logged and retried.
        """
        while True:
            self._remaining_s = self.settings.renew_s
            if await self.try_acquire():
                return self.state.epoch
            await self.clock.sleep(min(self.settings.renew_s, self._remaining_s + 0.01))

    async def hold(self) -> None:
        """Renew the lease until it is lost; return at once when it is.

        Returns when a renewal finds the lease gone, or when the local deadline (the last
        successful renewal's send time + ``lease_s`` - ``margin_s``) passes without a
        successful renewal, even while a renewal is still waiting on the database. The
        state is ``follower`` on return: the caller stops acting.
        """
        if self.state.role != "leader":
            raise RuntimeError("hold() called without the lease (campaign() first)")
        lost_because = "deadline"
        async with anyio.create_task_group() as tg:

            async def renewer() -> None:
                nonlocal lost_because
                while True:
                    await self.clock.sleep(self.settings.renew_s)
                    if await self.renew() is False:
                        lost_because = "taken"
                        tg.cancel_scope.cancel()
                        return

            async def watchdog() -> None:
                while (left := self.deadline_left()) > 0:
                    await self.clock.sleep(left)
                tg.cancel_scope.cancel()

            tg.start_soon(renewer)
            tg.start_soon(watchdog)
        self._valid_until = -math.inf
        self._set(role="follower")
        self._log.warning("leadership.lost", epoch=self.state.epoch, reason=lost_because)
