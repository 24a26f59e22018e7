"""``ActorSystem``: spawns, names, stops, watches and shuts down actors (layer: actors).

Every actor runs as one task in the system's anyio task group, so once ``async with
ActorSystem()`` has exited no task of the system is left pending. The system runs on the
asyncio backend (uvloop included); see ``LoopThread`` to drive it from synchronous code.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Self, TypeVar

import anyio

from edge_actors.schema import short

from .._log import get_logger
from ..errors import ConfigError
from ._cell import Cell
from ._errors import DuplicateActorName, SystemClosed
from ._orders import StopOrder
from ._supervisor import CHILD_SHUTDOWN_S, SupervisorCore, SupervisorRef, _Supervisor
from ._timers import AskTimers
from ._types import RESTART_TYPES, STRATEGIES, Backoff, RestartType, SupervisorStrategy, Terminated

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from types import TracebackType

    from anyio.abc import TaskGroup

    from ._actor import Actor
    from ._ref import ActorRef

__all__ = ["ActorSystem", "open_actor_system"]

M = TypeVar("M")


def _check_shutdown(shutdown: object) -> None:
    """``None`` (wait as long as it takes) or a finite number of seconds >= 0."""
    if shutdown is None:
        return
    if (
        isinstance(shutdown, bool)
        or not isinstance(shutdown, int | float)
        or not 0 <= shutdown < math.inf
    ):
        raise ConfigError(
            f"shutdown must be None or a finite number of seconds >= 0, got {short(shutdown)}"
        )


def _check_name(name: object) -> None:
    """``None`` (generated) or a non-empty printable string of at most 200 characters."""
    if name is None:
        return
    if not isinstance(name, str) or not name or len(name) > 200 or not name.isprintable():
        raise ConfigError(
            f"name must be a non-empty printable string of at most 200 characters, "
            f"got {short(name)}"
        )


class ActorSystem:
    """A named set of actors sharing one task group; use as ``async with ActorSystem():``.

    Leaving the ``async with`` block calls :meth:`shutdown` (shielded from cancellation,
    bounded by its timeout) and then waits for the task group, which is empty by then.
    """

    def __init__(self, name: str = "edge-actors") -> None:
        self.name = name
        self._cells: dict[str, Cell[Any]] = {}
        self._tg: TaskGroup | None = None
        self._closing = False
        self._dead_letters = 0
        self._ids = itertools.count(1)
        self._timers = AskTimers()
        self.log = get_logger("actors.system", system=name)

    async def __aenter__(self) -> Self:
        if self._tg is not None or self._closing:
            raise SystemClosed(f"actor system {self.name!r} cannot be entered twice")
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        self.log.info("system.started")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        tg = self._tg
        assert tg is not None, "ActorSystem.__aexit__ without __aenter__"
        try:
            with anyio.CancelScope(shield=True):
                await self.shutdown()
        finally:
            self._tg = None
            result = await tg.__aexit__(exc_type, exc, tb)
            self._timers.close()
        return result

    # --- introspection --------------------------------------------------------------------

    @property
    def dead_letters(self) -> int:
        """How many messages were sent to actors that had already stopped."""
        return self._dead_letters

    def lookup(self, name: str) -> ActorRef[Any] | None:
        """Return the ref of the live actor called ``name``, or ``None``."""
        cell = self._cells.get(name)
        return cell.ref if cell is not None else None

    def names(self) -> list[str]:
        """Names of the live actors, in spawn order."""
        return list(self._cells)

    # --- spawning -------------------------------------------------------------------------

    async def spawn(
        self,
        factory: Callable[[], Actor[M]],
        *,
        name: str | None = None,
        mailbox_size: int = 1000,
        restart: RestartType | None = None,
        supervisor: SupervisorRef | None = None,
        shutdown: float | None = CHILD_SHUTDOWN_S,
    ) -> ActorRef[M]:
        """Start an actor and return its ref once ``on_start`` has completed.

        Args:
            factory: called with no arguments for the first instance and every restart
                (an ``Actor`` subclass itself is fine).
            name: unique name; generated from the factory's name when ``None``.
            mailbox_size: capacity of the bounded user mailbox (default 1000, at least 1).
            restart: restart type; ``None`` means ``"temporary"`` without a supervisor (a
                crash stops the actor) and ``"permanent"`` under one.
            supervisor: spawn as that supervisor's child (same as ``spawn_child``).
            shutdown: seconds the actor gets to stop (finish its message, run
                ``on_stop``) when its supervisor or the system's shutdown stops it; then
                it is killed. Default 5.0; ``None`` waits as long as it takes.

        Raises:
            DuplicateActorName: a live actor already has ``name``.
            ActorStartError: the factory or ``on_start`` raised (chained).
            ConfigError: bad ``mailbox_size`` or ``restart``.
            SystemClosed: the system is not running or is shutting down.

        Cancellation: cancelling while ``on_start`` runs cancels the start as well.
        """
        if supervisor is not None:
            return await supervisor.spawn_child(
                factory,
                name=name,
                restart=restart or "permanent",
                mailbox_size=mailbox_size,
                shutdown=shutdown,
            )
        cell: Cell[M] = await self._spawn_cell(
            factory, name, mailbox_size, restart or "temporary", None, shutdown=shutdown
        )
        return cell.ref

    async def spawn_supervisor(
        self,
        *,
        name: str | None = None,
        strategy: SupervisorStrategy = "one_for_one",
        max_restarts: int = 3,
        within_s: float = 5.0,
        backoff: Backoff | None = None,
        parent: SupervisorRef | None = None,
        shutdown: float | None = None,
    ) -> SupervisorRef:
        """Start a supervisor (OTP semantics, see docs/actors.md).

        Args:
            name: unique name (generated when ``None``).
            strategy: ``"one_for_one"`` (default), ``"one_for_all"`` or
                ``"rest_for_one"``.
            max_restarts: restarts allowed within ``within_s``; one more makes the
                supervisor stop its children and fail (default 3).
            within_s: the intensity window in seconds (default 5.0).
            backoff: delay between restarts; ``None`` (default) restarts at once.
            parent: supervise this supervisor (a ``permanent`` child of ``parent``); at
                the top (``None``) a failure stops it for good, logged and watchable.
            shutdown: seconds the supervisor gets to stop (its children first) before it
                is killed; ``None`` (default, OTP's ``infinity``) waits as long as it
                takes, each child being bounded by its own ``shutdown``.

        Raises:
            ConfigError: bad strategy, ``max_restarts`` or ``within_s``.
            DuplicateActorName, SystemClosed: as :meth:`spawn`.
        """
        if not isinstance(strategy, str) or strategy not in STRATEGIES:
            raise ConfigError(
                f"strategy must be one of {sorted(STRATEGIES)}, got {short(strategy)}"
            )
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) or max_restarts < 0:
            raise ConfigError(f"max_restarts must be an integer >= 0, got {short(max_restarts)}")
        if (
            isinstance(within_s, bool)
            or not isinstance(within_s, int | float)
            or not 0 < within_s < math.inf
        ):
            raise ConfigError(f"within_s must be a finite number > 0, got {short(within_s)}")
        if backoff is not None and not isinstance(backoff, Backoff):
            raise ConfigError(f"backoff must be a Backoff or None, got {short(backoff)}")
        _check_name(name)
        if name is None:
            name = f"supervisor-{next(self._ids)}"
        core = SupervisorCore(self, name, strategy, max_restarts, within_s, backoff)

        def factory() -> _Supervisor:
            return _Supervisor(core)

        if parent is not None:
            await parent._core.spawn(factory, name, "permanent", 1000, shutdown, supervises=core)
        else:
            await self._spawn_cell(factory, name, 1000, "temporary", None, core, shutdown=shutdown)
        return SupervisorRef(core)

    async def _spawn_cell(
        self,
        factory: Callable[[], Actor[M]],
        name: str | None,
        mailbox_size: int,
        restart: RestartType,
        supervisor: SupervisorCore | None,
        supervises: SupervisorCore | None = None,
        *,
        shutdown: float | None = CHILD_SHUTDOWN_S,
    ) -> Cell[M]:
        tg = self._tg
        if tg is None or self._closing:
            raise SystemClosed(f"actor system {self.name!r} is not running")
        if not callable(factory):
            raise ConfigError(
                f"factory must be callable (an Actor subclass or a function returning an "
                f"Actor), got {short(factory)}"
            )
        _check_name(name)
        if isinstance(mailbox_size, bool) or not isinstance(mailbox_size, int) or mailbox_size < 1:
            raise ConfigError(f"mailbox_size must be an integer >= 1, got {short(mailbox_size)}")
        _check_shutdown(shutdown)
        if not isinstance(restart, str) or restart not in RESTART_TYPES:
            raise ConfigError(
                f"restart must be one of {sorted(RESTART_TYPES)}, got {short(restart)}"
            )
        if name is None:
            base = getattr(factory, "__name__", "actor").lower()
            name = f"{base}-{next(self._ids)}"
        if name in self._cells:
            raise DuplicateActorName(f"an actor named {name!r} already runs in {self.name!r}")
        cell = Cell(self, factory, name, mailbox_size, restart, supervisor, shutdown)
        if supervises is not None:
            supervises.cell = cell
            cell.supervises = supervises
        self._cells[name] = cell
        await tg.start(cell.run, name=f"actor:{name}")  # raises ActorStartError
        cell.log.info(
            "actor.spawned",
            restart=restart,
            supervisor=supervisor.name if supervisor is not None else None,
            mailbox_size=mailbox_size,
        )
        return cell

    def _unregister(self, cell: Cell[Any]) -> None:
        if self._cells.get(cell.name) is cell:
            del self._cells[cell.name]

    def _count_dead_letter(self) -> None:
        self._dead_letters += 1

    # --- stopping -------------------------------------------------------------------------

    async def stop(self, ref: ActorRef[Any], *, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - grace period before cancelling, not a caller deadline
        """Stop an actor for good: it finishes its current message, runs ``on_stop``.

        Messages still queued become dead letters (their askers get ``ActorStopped``).
        Watchers get ``Terminated(reason="normal")``; a supervised actor stopped this way is
        not restarted (its supervisor forgets it). Returns once the actor has stopped; if it
        takes longer than ``timeout`` it is cancelled (reason ``"killed"``). Called by the
        actor on itself, it only orders the stop (it cannot wait for itself).
        """
        await self._stop_cell(ref._cell, timeout)

    async def _stop_cell(self, cell: Cell[Any], timeout: float | None) -> None:  # noqa: ASYNC109 - grace period
        if cell.terminated:
            return
        cell.order(StopOrder(None))
        if cell.task is not None and cell.task is asyncio.current_task():
            return
        with anyio.move_on_after(timeout):
            await cell.done.wait()
        if not cell.done.is_set():
            cell.force("killed")
            await cell.done.wait()

    async def kill(self, ref: ActorRef[Any]) -> None:
        """Crash an actor from outside with ``ActorKilled`` (interrupts ``receive``).

        Goes through supervision like any crash; the asker of the interrupted message gets
        ``ActorKilled``. Returns once the kill is ordered; the actor's own task handles it.
        A stopped actor is left alone.
        """
        ref._cell.kill()

    async def watch(self, watcher: ActorRef[Any], target: ActorRef[Any]) -> None:
        """Deliver ``Terminated(target.name, reason)`` to ``watcher`` when ``target`` stops.

        Restarts are not terminations. Watching an actor that has already stopped delivers
        the notice at once. Notices use the control lane, so a full mailbox cannot lose them.
        """
        watcher_cell, target_cell = watcher._cell, target._cell
        if target_cell.terminated:
            watcher_cell.deliver(Terminated(ref_name=target_cell.name, reason=target_cell.reason))
            return
        target_cell.watchers.add(watcher_cell)
        watcher_cell.watching.add(target_cell)

    async def unwatch(self, watcher: ActorRef[Any], target: ActorRef[Any]) -> None:
        """Stop watching ``target`` (no notice will be delivered)."""
        target._cell.watchers.discard(watcher._cell)
        watcher._cell.watching.discard(target._cell)

    async def shutdown(self, *, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - grace period before cancelling
        """Stop every actor in order: children before parents, last started first.

        Supervisors restart nothing from here on and no actor can be spawned. Top-level
        actors (those without a live supervisor) are stopped one at a time, last spawned
        first; a supervisor stops its own children (last started first) before it ends.
        Each actor gets its ``shutdown`` seconds, then is killed (``on_stop`` skipped)
        and the next one is stopped. Whatever still runs after ``timeout`` seconds in
        all is cancelled. Idempotent.
        """
        if self._closing:
            return
        self._closing = True
        cells = list(self._cells.values())
        with anyio.move_on_after(timeout):
            for cell in reversed(cells):
                supervisor = cell.supervisor
                if supervisor is None or not supervisor.is_alive:
                    await self._stop_cell(cell, cell.shutdown)
            for cell in reversed(cells):  # what a failed supervisor left behind
                await self._stop_cell(cell, cell.shutdown)
        left = [cell for cell in cells if not cell.done.is_set()]
        for cell in left:
            cell.force("killed")
        with anyio.move_on_after(timeout):
            for cell in left:
                await cell.done.wait()
        if any(not cell.done.is_set() for cell in left) and self._tg is not None:
            self._tg.cancel_scope.cancel()
        self.log.info("system.stopped", forced=len(left), dead_letters=self._dead_letters)


@asynccontextmanager
async def open_actor_system(name: str = "edge-actors") -> AsyncIterator[ActorSystem]:
    """Open an :class:`ActorSystem` for the duration of an ``async with`` block.

    ``async with open_actor_system() as system:`` is the anyio-style spelling of
    ``async with ActorSystem() as system:`` (both stay supported): on leaving the block
    every actor is stopped in order (:meth:`ActorSystem.shutdown`) and no task of the
    system is left pending.

    Args:
        name: the system's name (logged with every event of its actors).
    """
    async with ActorSystem(name) as system:
        yield system
