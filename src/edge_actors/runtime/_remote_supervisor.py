"""The migration operations of a supervisor daemon, over HTTP (layer: runtime).

With ``EDGE_ACTORS_SUPERVISOR`` (or :attr:`EnvironmentConfig.supervisor`) naming any
supervisor replica (``edge-actors daemon --supervisor``, leader or follower), the
environment embeds no supervisor: :class:`RemoteSupervisor` gives the migration node the
same operations as :class:`~edge_actors.migration.MigrationService` (the
:class:`MigrationOps` protocol both satisfy) and sends each one through a
:class:`~edge_actors.edge.MigrationClient`. A follower answers reads from the journal and
forwards commands to the leader, so the elected leader alone drives migrations.

What the daemon's routes do not do themselves is done here, as the embedded service does
it: ``execute(wait=True)`` and ``rollback(wait=True)`` poll the status until the same
rule (:func:`~edge_actors.migration._service.settled`) says the wait is over;
``configure`` keeps plan defaults for this runtime's later plans (``max_concurrent`` is the
daemon's own setting, refused here); ``validate`` compares the edges' digests itself,
which needs their addresses (``EDGE_ACTORS_TOPOLOGY``).

Errors: the daemon's error codes come back as the embedded path's classes
(``migration_not_found`` -> :class:`~edge_actors.migration.UnknownMigration`, ...) with
the daemon's message, so a node's ``{"status": "error"}`` reads the same either way. A
``503`` (no leader during a failover, the journal unreachable) and a refused connection
are retried for up to ``retry_s``; a lost answer to a command is not (it may have been
applied): :class:`SupervisorUnreachable`.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

import aiohttp
import msgspec

from edge_actors._closing import AsyncClosing
from edge_actors._log import get_logger
from edge_actors.clock import SYSTEM_CLOCK
from edge_actors.edge import AdminUnauthorized, EdgeHTTPError, MigrationClient
from edge_actors.errors import ConfigError, EdgeActorsError
from edge_actors.migration import (
    IllegalTransition,
    InsufficientCapacity,
    MigrationError,
    ServiceDefaults,
    UnknownCheckpoint,
    UnknownEdgeName,
    UnknownMigration,
    WorkloadNotOnEdge,
)
from edge_actors.migration._journal_reads import MigrationReads
from edge_actors.migration._service import SETTLED, settled, validate_now
from edge_actors.migration._settings import parse_settings
from edge_actors.migration.journal import JournalUnavailable

if TYPE_CHECKING:
    import ssl
    from collections.abc import Awaitable, Callable, Iterable, Mapping

    from edge_actors.clock import Clock
    from edge_actors.migration import (
        Checkpoint,
        EdgeGateway,
        HistoryEvent,
        MigrationMetrics,
        MigrationPlan,
        MigrationProgress,
        MigrationStatus,
        MigrationSummary,
        OverallMetrics,
    )
    from edge_actors.migration._validation import ValidationReport

__all__ = ["MigrationOps", "RemoteSupervisor", "SupervisorUnreachable"]

T = TypeVar("T")

_log = get_logger("runtime.remote_supervisor")

_REQUEST_TIMEOUT_S = 150.0
"""Per request: a forwarded pause or cancel waits on the leader for its outcome (up to
60 s there, 120 s through a follower's proxy)."""

_BY_CODE: dict[str, type[EdgeActorsError]] = {
    "invalid_plan": ConfigError,
    "invalid_body": ConfigError,
    "migration_not_found": UnknownMigration,
    "checkpoint_not_found": UnknownCheckpoint,
    "edge_not_found": UnknownEdgeName,
    "workload_not_found": WorkloadNotOnEdge,
    "illegal_transition": IllegalTransition,
    "insufficient_capacity": InsufficientCapacity,
    "journal_unavailable": JournalUnavailable,
    "migration_error": MigrationError,
}
"""The daemon's error codes (``edge/_migration_routes.py``) -> the embedded path's classes."""


class SupervisorUnreachable(EdgeActorsError):
    """The supervisor daemon did not answer (down, unreachable, or its answer was lost).

    A command whose answer was lost may have been applied: read the migration's status.
    """


class MigrationOps(MigrationReads, Protocol):
    """The migration operations the workflow nodes use: a :class:`MigrationService`
    (embedded supervisor) or a :class:`RemoteSupervisor` (a supervisor daemon).

    The reads are :class:`MigrationReads`' (what a follower replica answers too).
    """

    journal_location: str | None

    async def plan(self, request: Mapping[str, Any]) -> MigrationPlan: ...

    async def execute(
        self,
        migration_id: str,
        *,
        auto_rollback: bool = False,
        wait: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 - the services' own API
    ) -> MigrationStatus: ...

    async def pause(
        self,
        migration_id: str,
        *,
        timeout: float | None = 30.0,  # noqa: ASYNC109 - the services' own API
    ) -> MigrationStatus: ...

    async def resume(self, migration_id: str) -> MigrationStatus: ...

    async def rollback(
        self,
        migration_id: str,
        checkpoint_id: str | None = None,
        *,
        wait: bool = True,
        timeout: float | None = 120.0,  # noqa: ASYNC109 - the services' own API
    ) -> MigrationStatus: ...

    async def cancel(
        self,
        migration_id: str,
        *,
        timeout: float | None = 60.0,  # noqa: ASYNC109 - the services' own API
    ) -> MigrationStatus: ...

    async def configure(self, **values: Any) -> ServiceDefaults: ...

    async def validate(
        self, migration_id: str, test_endpoints: Iterable[str] = ()
    ) -> ValidationReport: ...


def _typed(exc: EdgeHTTPError) -> EdgeActorsError:
    """The embedded path's error for the daemon's answer ``exc`` (its message kept).

    Built without the class's own constructor (some take the refused transition's parts):
    the daemon sent the message, not the parts, so only the message is carried.
    """
    kind = _BY_CODE.get(exc.code)
    if kind is None:
        if exc.status == 400:
            kind = ConfigError
        else:
            return exc
    error = kind.__new__(kind)
    Exception.__init__(error, exc.message)
    return error


class RemoteSupervisor(AsyncClosing):
    """The migration operations of the supervisor daemon at ``url`` (see the module doc).

    Args:
        url: any supervisor replica's base URL (``http(s)://host:port``).
        token: the cluster (admin) token.
        clock: the time polls and retries wait on.
        gateway: reaches the edges for :meth:`validate` (``None``: no topology here).
        ssl_context: TLS context for an ``https`` daemon with a private CA.
        retry_s: how long a ``503`` or a refused connection is retried.
        poll_s: time between two status reads while waiting for an outcome.

    Use as ``async with RemoteSupervisor(url, token) as ops:``; entering asks the daemon's
    role once, so a wrong URL or credential fails at once with a message saying which.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        clock: Clock = SYSTEM_CLOCK,
        gateway: EdgeGateway | None = None,
        ssl_context: ssl.SSLContext | None = None,
        retry_s: float = 15.0,
        poll_s: float = 0.25,
    ) -> None:
        self.url = url.rstrip("/")
        self.clock = clock
        self.gateway = gateway
        self.retry_s = retry_s
        self.poll_s = poll_s
        self.journal_location: str | None = f"supervisor daemon {self.url}"
        self._client = MigrationClient(
            self.url, token, timeout=_REQUEST_TIMEOUT_S, ssl_context=ssl_context
        )
        self._plan_defaults: dict[str, Any] = {}
        self._defaults = ServiceDefaults()

    async def __aenter__(self) -> Self:
        try:
            role = await self._read(self._client.supervisor)
        except BaseException:
            await self.aclose()
            raise
        _log.info(
            "remote_supervisor.connected",
            url=self.url,
            role=role.role,
            epoch=role.epoch,
            leader=role.leader,
        )
        return self

    async def aclose(self) -> None:
        """Close the client's session."""
        await self._client.aclose()

    # -- calls --------------------------------------------------------------------------

    async def _read(self, call: Callable[[], Awaitable[T]]) -> T:
        return await self._send(call, command=False)

    async def _command(self, call: Callable[[], Awaitable[T]]) -> T:
        return await self._send(call, command=True)

    async def _send(self, call: Callable[[], Awaitable[T]], *, command: bool) -> T:
        """``call()``, retried while the daemon answers 503 or refuses the connection (and,
        for a read, while an answer is lost), up to ``retry_s``; errors typed."""
        deadline = self.clock.monotonic() + self.retry_s
        delay = 0.05
        while True:
            try:
                return await call()
            except AdminUnauthorized as exc:
                raise ConfigError(
                    f"supervisor {self.url} refused the admin credential ({exc.message}); set "
                    "EDGE_ACTORS_CLUSTER_TOKEN or EDGE_ACTORS_CLUSTER_TOKEN_FILE to its "
                    "cluster token"
                ) from None
            except EdgeHTTPError as exc:
                if exc.status != 503 or self.clock.monotonic() >= deadline:
                    raise _typed(exc) from None
                why: str = exc.message
            except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError) as exc:
                # Not connected: nothing was sent. Disconnected: the answer may be lost.
                sent = isinstance(exc, aiohttp.ServerDisconnectedError)
                if (command and sent) or self.clock.monotonic() >= deadline:
                    raise self._unreachable(exc) from None
                why = repr(exc)
            except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
                if command or self.clock.monotonic() >= deadline:
                    raise self._unreachable(exc) from None
                why = repr(exc)
            _log.info("remote_supervisor.retry", url=self.url, why=why, delay_s=delay)
            await self.clock.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _unreachable(self, exc: BaseException) -> SupervisorUnreachable:
        return SupervisorUnreachable(
            f"supervisor {self.url} did not answer ({type(exc).__name__}: {exc}); "
            "a command may or may not have been applied: read the migration's status"
        )

    # -- commands -----------------------------------------------------------------------

    async def plan(self, request: Mapping[str, Any]) -> MigrationPlan:
        """Plan on the daemon (forwarded to the leader); this runtime's ``configure``d
        defaults fill the keys the request leaves out."""
        if not isinstance(request, dict):
            request = msgspec.to_builtins(request)
        body = {**self._plan_defaults, **{k: v for k, v in request.items() if v is not None}}
        return await self._command(lambda: self._client.plan(body))

    async def execute(
        self,
        migration_id: str,
        *,
        auto_rollback: bool = False,
        wait: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 - the services' own API
    ) -> MigrationStatus:
        """Queue it on the daemon; with ``wait``, poll until it settled (as the embedded)."""
        status = await self._command(
            lambda: self._client.execute(migration_id, auto_rollback=auto_rollback)
        )
        if wait:
            return await self.wait(migration_id, SETTLED, timeout=timeout)
        return status

    async def pause(
        self,
        migration_id: str,
        *,
        timeout: float | None = 30.0,  # noqa: ASYNC109 - the services' own API
    ) -> MigrationStatus:
        """The daemon answers once ``paused`` (or ``failed`` meanwhile)."""
        return await self._command(lambda: self._client.pause(migration_id))

    async def resume(self, migration_id: str) -> MigrationStatus:
        """Continue from the last acked LSNs (queued until a slot on the leader)."""
        return await self._command(lambda: self._client.resume(migration_id))

    async def rollback(
        self,
        migration_id: str,
        checkpoint_id: str | None = None,
        *,
        wait: bool = True,
        timeout: float | None = 120.0,  # noqa: ASYNC109 - the services' own API
    ) -> MigrationStatus:
        """Start the rollback on the daemon; with ``wait``, poll for its outcome."""
        status = await self._command(lambda: self._client.rollback(migration_id, checkpoint_id))
        if not wait:
            return status
        outcome = "rolled_back" if checkpoint_id is None else "paused"
        return await self.wait(migration_id, {outcome}, timeout=timeout, after=status)

    async def cancel(
        self,
        migration_id: str,
        *,
        timeout: float | None = 60.0,  # noqa: ASYNC109 - the services' own API
    ) -> MigrationStatus:
        """Abandon a migration not cut over (the daemon answers with the outcome)."""
        return await self._command(lambda: self._client.cancel(migration_id))

    async def configure(self, **values: Any) -> ServiceDefaults:
        """Keep plan defaults for this runtime's later plans (the daemon's own defaults
        are its configuration).

        Raises:
            ConfigError: ``max_concurrent`` (the daemon's setting), or an unknown key or a
                malformed value (as the embedded service says it).
        """
        if values.get("max_concurrent") is not None:
            raise ConfigError(
                f"max_concurrent: migrations run on the supervisor daemon {self.url}; set it "
                "in that daemon's configuration"
            )
        parsed = parse_settings(values)
        self._defaults = msgspec.structs.replace(self._defaults, **parsed)
        for key, value in values.items():
            if value is None:
                self._plan_defaults.pop(key, None)
            elif key != "max_concurrent":
                self._plan_defaults[key] = value
        return msgspec.structs.replace(self._defaults)

    # -- reads --------------------------------------------------------------------------

    async def status(self, migration_id: str) -> MigrationStatus:
        """Current state, phase, detail and error."""
        return await self._read(lambda: self._client.status(migration_id))

    async def progress(self, migration_id: str) -> MigrationProgress:
        """Progress (a follower's: as journaled, a leader's: live)."""
        return await self._read(lambda: self._client.progress(migration_id))

    async def metrics(self, migration_id: str | None = None) -> MigrationMetrics | OverallMetrics:
        """Figures of one migration, or totals over all when ``migration_id`` is ``None``."""
        if migration_id is None:
            return await self._read(self._client.overall_metrics)
        return await self._read(lambda: self._client.metrics(migration_id))

    async def active(self) -> list[MigrationSummary]:
        """Migrations not in a terminal state."""
        return await self._read(self._client.active)

    async def statuses(self) -> list[MigrationStatus]:
        """Every migration's status, in plan order."""
        return await self._read(self._client.statuses)

    async def history(self, migration_id: str | None = None) -> list[HistoryEvent]:
        """Journaled transitions of one migration (or of every one), oldest first."""
        if migration_id is not None:
            return await self._read(lambda: self._client.history(migration_id))
        events: list[HistoryEvent] = []
        for status in await self.statuses():
            events.extend(
                await self._read(functools.partial(self._client.history, status.migration_id))
            )
        events.sort(key=lambda event: event.at)
        return events

    async def checkpoints(self, migration_id: str) -> list[Checkpoint]:
        """Journaled checkpoints, oldest first."""
        return await self._read(lambda: self._client.checkpoints(migration_id))

    async def plan_of(self, migration_id: str) -> MigrationPlan:
        """The journaled plan."""
        return await self._read(lambda: self._client.plan_of(migration_id))

    async def wait(
        self,
        migration_id: str,
        states: Iterable[str],
        timeout: float | None = None,  # noqa: ASYNC109 - the services' own API
        *,
        after: MigrationStatus | None = None,
    ) -> MigrationStatus:
        """Poll the status until :meth:`MigrationService.wait`'s rule says it is over.

        Raises:
            TimeoutError: not reached within ``timeout`` seconds (clock time).
        """
        wanted = {states} if isinstance(states, str) else set(states)
        limit = math.inf if timeout is None else self.clock.monotonic() + timeout
        while True:
            status = await self.status(migration_id)
            if settled(status, wanted, after):
                return status
            if self.clock.monotonic() >= limit:
                raise TimeoutError(
                    f"migration {migration_id} did not reach {sorted(wanted)} within "
                    f"{timeout:g} s (it is {status.state})"
                )
            await self.clock.sleep(self.poll_s)

    async def validate(
        self, migration_id: str, test_endpoints: Iterable[str] = ()
    ) -> ValidationReport:
        """Compare both sides' digests now and probe ``test_endpoints`` (needs the edges'
        addresses: a topology in this environment).

        Raises:
            ConfigError: no topology here, or a path not starting with ``/``.
        """
        if self.gateway is None:
            raise ConfigError(
                "validate_functionality: this runtime reaches migrations through the "
                f"supervisor daemon {self.url} and does not know the edges' addresses; set "
                "EDGE_ACTORS_TOPOLOGY to the topology file"
            )
        return await validate_now(self.gateway, self, migration_id, test_endpoints)
