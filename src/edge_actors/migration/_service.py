"""``MigrationService``: the typed facade over the migration supervisor (layer: migration).

An async context manager that owns what the engine needs (an actor system unless one is
given, the journal under ``data_dir``, the supervisor actor) and turns every call into
an ask to the supervisor. One service per actor system: it is the shared state every
workflow node, runtime and daemon route goes through.
"""

from __future__ import annotations

import math
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import anyio

from edge_actors.actors import ActorRef, ActorSystem
from edge_actors.errors import ConfigError

from ._journal import Journal
from ._messages import Configure, Control, Execute, Query, Register, Shutdown
from ._models import (
    TERMINAL_STATES,
    Checkpoint,
    HistoryEvent,
    MigrationMetrics,
    MigrationPlan,
    MigrationProgress,
    MigrationStatus,
    MigrationSummary,
    OverallMetrics,
    PlanRequest,
    ServiceDefaults,
)
from ._planning import build_plan
from ._supervisor import MigrationSupervisor, RestartPolicy

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from types import TracebackType

    from ._gateway import EdgeGateway

__all__ = ["SUPERVISOR_NAME", "MigrationService"]

SUPERVISOR_NAME = "migration-supervisor"
"""The supervisor actor's name: one per actor system."""

_ASK_TIMEOUT_S = 30.0
_SETTLED = frozenset(("completed", "failed", "rolled_back", "cancelled", "paused"))


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _id(value: object, field: str = "migration_id") -> str:
    """Return ``value`` if it is a non-empty string, else ``ConfigError`` naming ``field``."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{field}: expected a non-empty string, got {_short(value)}")
    return value


def _optional_id(value: object, field: str = "migration_id") -> str | None:
    return None if value is None else _id(value, field)


def _flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{field}: expected true or false, got {_short(value)}")
    return value


def _timeout(value: object, field: str = "timeout") -> float | None:
    """``None`` (no limit) or a finite number of seconds >= 0, else ``ConfigError``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ConfigError(f"{field}: expected seconds >= 0 or None, got {_short(value)}")
    return float(value)


class MigrationService:
    """Plans, runs and observes migrations; every call is an ask to the supervisor.

    Args:
        gateway: how to reach the edges (``edge_actors.edge.HttpEdgeGateway``).
        data_dir: where ``migrations.sqlite`` lives.
        system: an actor system to run in (entered by the caller); a private one is
            created and owned when ``None``.
        defaults: defaults for later plans (``configure`` changes them, persisted).
        restart: restart intensity of migration actors.
        time_zone: zone of ``time_window`` constraints without one (default UTC).

    Use as ``async with MigrationService(gateway, data_dir) as service:``; leaving stops
    running migrations at a chunk boundary without changing their journaled state, so the
    next service on the same ``data_dir`` resumes them.
    """

    def __init__(
        self,
        gateway: EdgeGateway,
        data_dir: str | Path,
        *,
        system: ActorSystem | None = None,
        defaults: ServiceDefaults | None = None,
        restart: RestartPolicy | None = None,
        time_zone: str = "UTC",
    ) -> None:
        self.gateway = gateway
        self.data_dir = Path(data_dir)
        self._system = system
        self._own_system = system is None
        self._defaults = defaults or ServiceDefaults()
        self._restart = restart or RestartPolicy()
        self.time_zone = time_zone
        self._stack: AsyncExitStack | None = None
        self._supervisor: MigrationSupervisor | None = None
        self._ref: ActorRef[object] | None = None

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            if self._system is None:
                self._system = await stack.enter_async_context(ActorSystem("migration"))
            journal = Journal(self.data_dir)
            stack.callback(journal.close)
            system = self._system

            def factory() -> MigrationSupervisor:
                actor = MigrationSupervisor(journal, self.gateway, self._defaults, self._restart)
                self._supervisor = actor
                return actor

            self._ref = await system.spawn(factory, name=SUPERVISOR_NAME, mailbox_size=10_000)
            stack.push_async_callback(self._stop_supervisor)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)

    async def _stop_supervisor(self) -> None:
        ref, system = self._ref, self._system
        if ref is None or system is None:
            return
        with anyio.CancelScope(shield=True):
            if ref.is_alive:
                ref.tell_nowait(Shutdown())
                await system.stop(ref, timeout=10.0)

    @property
    def system(self) -> ActorSystem:
        """The actor system the supervisor runs in."""
        if self._system is None:
            raise RuntimeError("MigrationService is not started")
        return self._system

    async def _ask(self, message: object) -> Any:
        if self._ref is None:
            raise RuntimeError("MigrationService is not started (use 'async with')")
        return await self._ref.ask(message, timeout=_ASK_TIMEOUT_S)

    # -- operations ---------------------------------------------------------------------

    async def plan(self, request: PlanRequest | Mapping[str, Any]) -> MigrationPlan:
        """Validate a plan against the edges and journal it (state ``planned``).

        Raises:
            ConfigError: a malformed parameter or constraint, naming the key and value.
            UnknownEdgeName, WorkloadNotOnEdge, InsufficientCapacity: see ``build_plan``.
        """
        defaults: ServiceDefaults = await self._ask(Query("defaults"))
        plan = await build_plan(request, self.gateway, defaults, time_zone=self.time_zone)
        await self._ask(Register(plan))
        return plan

    async def execute(
        self,
        migration_id: str,
        *,
        auto_rollback: bool = False,
        wait: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 - a deadline for waiting on the outcome is part of the API
    ) -> MigrationStatus:
        """Queue a planned migration; it runs when a slot is free (by priority).

        Args:
            migration_id: the plan's id.
            auto_rollback: roll back automatically if it fails.
            wait: return only once it settled (completed, failed, paused, ...).
            timeout: seconds to wait at most (``TimeoutError`` after).

        Raises:
            IllegalTransition: it is not ``planned``.
        """
        migration_id = _id(migration_id)
        _flag(auto_rollback, "auto_rollback")
        _flag(wait, "wait")
        timeout = _timeout(timeout)
        status: MigrationStatus = await self._ask(Execute(migration_id, auto_rollback))
        if wait:
            return await self.wait(migration_id, _SETTLED, timeout=timeout)
        return status

    async def pause(
        self,
        migration_id: str,
        *,
        timeout: float | None = 30.0,  # noqa: ASYNC109 - a deadline for waiting on the outcome is part of the API
    ) -> MigrationStatus:
        """Stop the running transfer within one chunk, checkpoint and journal ``paused``."""
        migration_id, timeout = _id(migration_id), _timeout(timeout)
        status: MigrationStatus = await self._ask(Control(migration_id, "pause"))
        if status.state == "paused":
            return status
        # A run that fails while the pause is being carried out ends ``failed``, not paused.
        return await self.wait(
            migration_id, {"paused", "failed"} | TERMINAL_STATES, timeout=timeout
        )

    async def resume(self, migration_id: str) -> MigrationStatus:
        """Continue a paused migration from its last acked LSNs (queued until a slot)."""
        result: MigrationStatus = await self._ask(Control(_id(migration_id), "resume"))
        return result

    async def rollback(
        self,
        migration_id: str,
        checkpoint_id: str | None = None,
        *,
        wait: bool = True,
        timeout: float | None = 120.0,  # noqa: ASYNC109 - a deadline for waiting on the outcome is part of the API
    ) -> MigrationStatus:
        """Restore routing to the source; the target's later writes are synced back first.

        Without ``checkpoint_id`` the target's copy is dropped and the migration ends
        ``rolled_back``. With one (it must belong to this migration), the migration returns
        to that checkpoint: routing at the source, the target keeps its copy as
        ``incoming`` and the state is ``paused``; ``resume`` continues from the
        checkpoint's acked LSNs.

        Raises:
            UnknownCheckpoint: the checkpoint is not one of this migration's.
            IllegalTransition: nothing to roll back from this state.
        """
        migration_id, timeout = _id(migration_id), _timeout(timeout)
        checkpoint_id = _optional_id(checkpoint_id, "checkpoint_id")
        _flag(wait, "wait")
        status: MigrationStatus = await self._ask(Control(migration_id, "rollback", checkpoint_id))
        if not wait:
            return status
        outcome = "rolled_back" if checkpoint_id is None else "paused"
        return await self.wait(migration_id, {outcome}, timeout=timeout, after=status)

    async def cancel(
        self,
        migration_id: str,
        *,
        timeout: float | None = 60.0,  # noqa: ASYNC109 - a deadline for waiting on the outcome is part of the API
    ) -> MigrationStatus:
        """Abandon a migration not yet cut over; the target's partial copy is dropped."""
        migration_id, timeout = _id(migration_id), _timeout(timeout)
        status: MigrationStatus = await self._ask(Control(migration_id, "cancel"))
        if status.state == "cancelled":
            return status
        return await self.wait(migration_id, TERMINAL_STATES | {"failed"}, timeout=timeout)

    async def status(self, migration_id: str) -> MigrationStatus:
        """Current state, phase, detail and error of one migration."""
        result: MigrationStatus = await self._ask(Query("status", _id(migration_id)))
        return result

    async def progress(self, migration_id: str) -> MigrationProgress:
        """Live progress (refreshed from the transfer stream at least every 100 ms)."""
        result: MigrationProgress = await self._ask(Query("progress", _id(migration_id)))
        return result

    async def metrics(self, migration_id: str | None = None) -> MigrationMetrics | OverallMetrics:
        """Figures of one migration, or totals over all when ``migration_id`` is ``None``."""
        if migration_id is None:
            overall: OverallMetrics = await self._ask(Query("overall"))
            return overall
        result: MigrationMetrics = await self._ask(Query("metrics", _id(migration_id)))
        return result

    async def active(self) -> list[MigrationSummary]:
        """Migrations not in a terminal state (planned, queued, running, paused)."""
        result: list[MigrationSummary] = await self._ask(Query("active"))
        return result

    async def statuses(self) -> list[MigrationStatus]:
        """Every known migration's status, in plan order."""
        result: list[MigrationStatus] = await self._ask(Query("all"))
        return result

    async def history(self, migration_id: str | None = None) -> list[HistoryEvent]:
        """Journaled transitions of one migration (or all), oldest first."""
        result: list[HistoryEvent] = await self._ask(Query("history", _optional_id(migration_id)))
        return result

    async def checkpoints(self, migration_id: str) -> list[Checkpoint]:
        """Journaled checkpoints of a migration, oldest first."""
        result: list[Checkpoint] = await self._ask(Query("checkpoints", _id(migration_id)))
        return result

    async def configure(self, **values: Any) -> ServiceDefaults:
        """Change defaults for later plans (the guide's ``start_migrator``); persisted.

        Keys: ``checkpoint_interval``, ``bandwidth_limit_mbps``, ``sync_batch_size``,
        ``enable_compression``, ``max_concurrent``.

        Raises:
            ConfigError: an unknown key or malformed value.
        """
        result: ServiceDefaults = await self._ask(Configure(values))
        return result

    async def wait(
        self,
        migration_id: str,
        states: Iterable[str],
        timeout: float | None = None,  # noqa: ASYNC109 - a deadline for waiting on the outcome is part of the API
        *,
        after: MigrationStatus | None = None,
    ) -> MigrationStatus:
        """Wait until the migration is in one of ``states`` and return its status.

        A terminal state outside ``states`` also returns (it can never change again), and
        so does ``failed`` reached after ``after`` (a status taken earlier). With ``after``,
        a state of ``states`` the migration was already in at ``after`` counts only once
        it is entered again later (a rollback of a ``paused`` migration waits for the
        rollback's outcome, not for the ``paused`` it started from).

        Raises:
            TimeoutError: not reached within ``timeout`` seconds.
        """
        migration_id, timeout = _id(migration_id), _timeout(timeout)
        if isinstance(states, str):
            states = (states,)
        wanted = set(states)
        for state in wanted:
            if not isinstance(state, str):
                raise ConfigError(f"states: expected state names, got {_short(state)}")
        with anyio.fail_after(timeout):
            while True:
                status, changed = await self._ask(Query("watch", migration_id))
                since = after is None or status.updated_at > after.updated_at
                reached = status.state in wanted and (
                    since or after is None or status.state != after.state
                )
                failed_since = status.state == "failed" and after is not None and since
                if reached or status.state in TERMINAL_STATES or failed_since:
                    result: MigrationStatus = status
                    return result
                await changed.wait()

    def actor_ref(self, migration_id: str) -> ActorRef[Any] | None:
        """The running migration actor of ``migration_id`` (for supervision tests)."""
        if self._supervisor is None:
            return None
        ref: ActorRef[Any] | None = self._supervisor.actor_ref(migration_id)
        return ref
