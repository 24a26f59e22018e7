"""``MigrationService``: the typed facade over the migration supervisor (layer: migration).

An async context manager that owns what the engine needs (an actor system unless one is
given, the journal under ``data_dir``, and the supervision tree: a ``migration-root``
supervisor (one_for_all) over ``migration-runs``, whose temporary children are the
migration actors, and the :class:`MigrationSupervisor`) and turns every call
into an ask to the supervisor. It never touches the supervisor instance: a crashed
supervisor is restarted by its root and recovers from the journal, and the service goes on
with the same ref. One service per actor system: it is the shared state every workflow
node, runtime and daemon route goes through.
"""

from __future__ import annotations

import contextlib
import math
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import anyio

from edge_actors.actors import ActorRef, ActorSystem, MailboxFull, SupervisorRef
from edge_actors.clock import SYSTEM_CLOCK
from edge_actors.errors import ConfigError
from edge_actors.schema import Flag, convert, short

from ._messages import (
    Cancel,
    Configure,
    Execute,
    GetActorRef,
    GetCheckpoints,
    GetDefaults,
    GetHistory,
    GetMetrics,
    GetOverall,
    GetPlan,
    GetProgress,
    GetStatus,
    ListActive,
    ListAll,
    Pause,
    Register,
    Resume,
    RollBack,
    Shutdown,
    Subscribe,
    Unsubscribe,
)
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
from ._validation import ValidationReport, validate_plan
from .journal import JournalUrl, open_journal

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from types import TracebackType

    from anyio.streams.memory import MemoryObjectSendStream

    from edge_actors.clock import Clock

    from ._gateway import EdgeGateway
    from ._journal_reads import MigrationReads

__all__ = [
    "ROOT_NAME",
    "RUNS_NAME",
    "SETTLED",
    "SUPERVISOR_NAME",
    "MigrationService",
    "settled",
    "validate_now",
]

SUPERVISOR_NAME = "migration-supervisor"
"""The supervisor actor's name: one per actor system."""

ROOT_NAME = "migration-root"
"""The root of the migration supervision tree (restarts the supervisor from the journal)."""

RUNS_NAME = "migration-runs"
"""The supervisor whose ``temporary`` children are the migration actors (the supervisor
actor, watching them, decides their restarts)."""

_ROOT_MAX_RESTARTS = 3
_ROOT_WITHIN_S = 60.0

_ASK_TIMEOUT_S = 30.0
SETTLED = frozenset(("completed", "failed", "rolled_back", "cancelled", "paused"))
"""States ``execute(wait=True)`` returns in (the migration stopped moving by itself)."""


def _id(value: object, field: str = "migration_id") -> str:
    """Return ``value`` if it is a non-empty string, else ``ConfigError`` naming ``field``."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{field}: expected a non-empty string, got {short(value)}")
    return value


def _optional_id(value: object, field: str = "migration_id") -> str | None:
    return None if value is None else _id(value, field)


def _flag(value: object, field: str) -> bool:
    flag: bool = convert(value, Flag, field=field)
    return flag


def _timeout(value: object, field: str = "timeout") -> float | None:
    """``None`` (no limit) or a finite number of seconds >= 0, else ``ConfigError``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ConfigError(f"{field}: expected seconds >= 0 or None, got {short(value)}")
    return float(value)


def settled(status: MigrationStatus, wanted: set[str], after: MigrationStatus | None) -> bool:
    """Whether ``wait`` may return ``status`` (see :meth:`MigrationService.wait`; a remote
    supervisor's client waits by the same rule)."""
    since = after is None or status.updated_at > after.updated_at
    reached = status.state in wanted and (since or after is None or status.state != after.state)
    failed_since = status.state == "failed" and after is not None and since
    return reached or status.state in TERMINAL_STATES or failed_since


async def validate_now(
    gateway: EdgeGateway,
    reads: MigrationReads,
    migration_id: str,
    test_endpoints: Iterable[str] = (),
) -> ValidationReport:
    """:meth:`MigrationService.validate` over any source of the plan and its checkpoints
    (the service itself, or a supervisor daemon's client).

    Raises:
        UnknownMigration: no such migration.
        ConfigError: a path is not a string starting with ``/``.
    """
    paths = [test_endpoints] if isinstance(test_endpoints, str) else list(test_endpoints)
    for path in paths:
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigError(f"test_endpoints: {short(path)} must be a path starting with '/'")
    plan = await reads.plan_of(migration_id)
    checkpoints = await reads.checkpoints(migration_id)
    journaled = checkpoints[-1].workloads if checkpoints else {}
    return await validate_plan(gateway, plan, journaled, paths)


class MigrationService:
    """Plans, runs and observes migrations; every call is an ask to the supervisor.

    Args:
        gateway: how to reach the edges (``edge_actors.edge.HttpEdgeGateway``).
        data_dir: where ``migrations.sqlite`` lives (the default journal).
        journal: the journal instead of ``data_dir``'s: a path or ``sqlite:///PATH`` (a
            SQLite file) or a ``postgresql://`` URL (see ``journal/_url.py``).
        journal_password: the PostgreSQL password (else the URL's, else ``PGPASSWORD``).
        system: an actor system to run in (entered by the caller); a private one is
            created and owned when ``None``.
        defaults: defaults for later plans (``configure`` changes them, persisted).
        restart: restart intensity of migration actors.
        time_zone: zone of ``time_window`` constraints without one (default UTC).
        clock: the time source of the supervisor and the migration actors (time windows,
            checkpoint intervals, pacing, timestamps); ``SYSTEM_CLOCK`` by default.
        reconcile_interval_s: time between the reconciler's passes (``_reconciler.py``),
            which drive the edges back to the owner records; one pass runs on start.
        leader: set by a supervisor replica elected leader (its name and leadership
            epoch): each migration's history then names the leader that drove it.

    Use as ``async with MigrationService(gateway, data_dir) as service:``; leaving stops
    running migrations at a chunk boundary without changing their journaled state, so the
    next service on the same journal resumes them.

    Raises (on entering):
        ConfigError: a malformed ``journal``.
        JournalUnavailable: the PostgreSQL journal cannot be reached (URL redacted).
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
        clock: Clock = SYSTEM_CLOCK,
        reconcile_interval_s: float = 30.0,
        journal: str | JournalUrl | None = None,
        journal_password: str | None = None,
        leader: str | None = None,
    ) -> None:
        self.gateway = gateway
        self.journal = journal
        self._journal_password = journal_password
        self.leader = leader
        self.reconcile_interval_s = reconcile_interval_s
        self.clock = clock
        self.data_dir = Path(data_dir)
        self._system = system
        self._own_system = system is None
        self._defaults = defaults or ServiceDefaults()
        self._restart = restart or RestartPolicy()
        self.time_zone = time_zone
        self._stack: AsyncExitStack | None = None
        self._root: SupervisorRef | None = None
        self._runs: SupervisorRef | None = None
        self._ref: ActorRef[Any] | None = None
        self.journal_location: str | None = None
        """Where the open journal is (a path, or a URL with its password redacted)."""

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            # The journal first: one that cannot be reached fails the start with its own
            # error, not wrapped in the actor system's task group.
            journal = await open_journal(
                self.journal, data_dir=self.data_dir, password=self._journal_password
            )
            stack.push_async_callback(journal.close)
            self.journal_location = journal.location
            if self._system is None:
                self._system = await stack.enter_async_context(ActorSystem("migration"))
            system = self._system

            # one_for_all: a crashed supervisor takes its runs with it (they are stopped
            # first) and recovers them from the journal when both are started again.
            root = await system.spawn_supervisor(
                name=ROOT_NAME,
                strategy="one_for_all",
                max_restarts=_ROOT_MAX_RESTARTS,
                within_s=_ROOT_WITHIN_S,
            )
            self._root = root
            stack.push_async_callback(self._stop_supervisor)
            runs = await system.spawn_supervisor(name=RUNS_NAME, parent=root)
            self._runs = runs

            def factory() -> MigrationSupervisor:
                return MigrationSupervisor(
                    journal,
                    self.gateway,
                    self._defaults,
                    self._restart,
                    self.clock,
                    runs=runs,
                    reconcile_interval_s=self.reconcile_interval_s,
                    leader=self.leader,
                )

            self._ref = await root.spawn_child(
                factory, name=SUPERVISOR_NAME, restart="permanent", mailbox_size=10_000
            )
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
        root, ref, system = self._root, self._ref, self._system
        if root is None or system is None:
            return
        with anyio.CancelScope(shield=True):
            if ref is not None and ref.is_alive:
                with contextlib.suppress(MailboxFull):  # stopping stops every run anyway
                    ref.tell_nowait(Shutdown())
            if root.is_alive:
                await system.stop(root.ref, timeout=10.0)

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
        defaults: ServiceDefaults = await self._ask(GetDefaults())
        plan = await build_plan(
            request, self.gateway, defaults, time_zone=self.time_zone, clock=self.clock
        )
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
            return await self.wait(migration_id, SETTLED, timeout=timeout)
        return status

    async def pause(
        self,
        migration_id: str,
        *,
        timeout: float | None = 30.0,  # noqa: ASYNC109 - a deadline for waiting on the outcome is part of the API
    ) -> MigrationStatus:
        """Stop the running transfer within one chunk, checkpoint and journal ``paused``."""
        migration_id, timeout = _id(migration_id), _timeout(timeout)
        status: MigrationStatus = await self._ask(Pause(migration_id))
        if status.state == "paused":
            return status
        # A run that fails while the pause is being carried out ends ``failed``, not paused.
        return await self.wait(
            migration_id, {"paused", "failed"} | TERMINAL_STATES, timeout=timeout
        )

    async def resume(self, migration_id: str) -> MigrationStatus:
        """Continue a paused migration from its last acked LSNs (queued until a slot)."""
        result: MigrationStatus = await self._ask(Resume(_id(migration_id)))
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
        status: MigrationStatus = await self._ask(RollBack(migration_id, checkpoint_id))
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
        status: MigrationStatus = await self._ask(Cancel(migration_id))
        if status.state == "cancelled":
            return status
        return await self.wait(migration_id, TERMINAL_STATES | {"failed"}, timeout=timeout)

    async def status(self, migration_id: str) -> MigrationStatus:
        """Current state, phase, detail and error of one migration."""
        result: MigrationStatus = await self._ask(GetStatus(_id(migration_id)))
        return result

    async def progress(self, migration_id: str) -> MigrationProgress:
        """Live progress (refreshed from the transfer stream at least every 100 ms)."""
        result: MigrationProgress = await self._ask(GetProgress(_id(migration_id)))
        return result

    async def metrics(self, migration_id: str | None = None) -> MigrationMetrics | OverallMetrics:
        """Figures of one migration, or totals over all when ``migration_id`` is ``None``."""
        if migration_id is None:
            overall: OverallMetrics = await self._ask(GetOverall())
            return overall
        result: MigrationMetrics = await self._ask(GetMetrics(_id(migration_id)))
        return result

    async def active(self) -> list[MigrationSummary]:
        """Migrations not in a terminal state (planned, queued, running, paused)."""
        result: list[MigrationSummary] = await self._ask(ListActive())
        return result

    async def statuses(self) -> list[MigrationStatus]:
        """Every known migration's status, in plan order."""
        result: list[MigrationStatus] = await self._ask(ListAll())
        return result

    async def history(self, migration_id: str | None = None) -> list[HistoryEvent]:
        """Journaled transitions of one migration (or all), oldest first."""
        result: list[HistoryEvent] = await self._ask(GetHistory(_optional_id(migration_id)))
        return result

    async def checkpoints(self, migration_id: str) -> list[Checkpoint]:
        """Journaled checkpoints of a migration, oldest first."""
        result: list[Checkpoint] = await self._ask(GetCheckpoints(_id(migration_id)))
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
                raise ConfigError(f"states: expected state names, got {short(state)}")
        # The supervisor wakes our channel after each change (one pending wake-up is
        # enough: we read the status afresh after it), so a slow waiter never blocks it.
        # A restarted supervisor closes the channels of its predecessor's watchers: we
        # then subscribe again (the new instance has recovered from the journal).
        with anyio.fail_after(timeout):
            while True:
                wake, woken = anyio.create_memory_object_stream[None](1)
                with wake, woken:
                    status: MigrationStatus = await self._ask(Subscribe(migration_id, wake))
                    try:
                        while True:
                            if settled(status, wanted, after):
                                return status
                            await woken.receive()
                            status = await self._ask(GetStatus(migration_id))
                    except anyio.EndOfStream:
                        continue
                    finally:
                        self._forget(migration_id, wake)

    def _forget(self, migration_id: str, wake: MemoryObjectSendStream[None]) -> None:
        """Unsubscribe without waiting (also on cancellation); a full mailbox only delays
        it: the supervisor drops a closed channel at its next change anyway."""
        if self._ref is None:
            return
        try:
            self._ref.tell_nowait(Unsubscribe(migration_id, wake))
        except MailboxFull:
            return

    async def plan_of(self, migration_id: str) -> MigrationPlan:
        """The journaled plan of ``migration_id`` (any migration the journal knows).

        Raises:
            UnknownMigration: no such migration.
        """
        result: MigrationPlan = await self._ask(GetPlan(_id(migration_id)))
        return result

    async def validate(
        self, migration_id: str, test_endpoints: Iterable[str] = ()
    ) -> ValidationReport:
        """Compare both sides of every workload now and probe ``test_endpoints``.

        The same checks as the migration's validation phase (``_validation.py``): live
        content digests of source and target (or, once the source copy is released, the
        digests the migration compared at cutover), and each path probed on the target
        (a path with ``{workload}`` once per workload).

        Raises:
            UnknownMigration: no such migration.
            ConfigError: a path is not a string starting with ``/``.
        """
        return await validate_now(self.gateway, self, _id(migration_id), test_endpoints)

    async def actor_ref(self, migration_id: str) -> ActorRef[Any] | None:
        """The running migration actor of ``migration_id`` (for supervision tests)."""
        result: ActorRef[Any] | None = await self._ask(GetActorRef(_id(migration_id)))
        return result
