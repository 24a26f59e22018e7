"""OTP-style supervisors: strategies, restart types, intensity, backoff, escalation (layer: actors).

A supervisor is itself an actor (``_Supervisor``) whose messages are notices from its
children, delivered on the control lane so they are never stuck behind user traffic. Its
lasting configuration and child specs live in a :class:`SupervisorCore` that outlives
supervisor instances, so a restarted supervisor starts its children again from the specs.

Group restarts (``one_for_all``, ``rest_for_one``) follow OTP: the children concerned are
retired last started first, each within its ``shutdown`` (then killed), and only then
started again in start order, each new instance's ``on_restart`` completing before the
next starts. The supervisor handles one child exit at a time, so a round is never
interleaved with another.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from .._log import get_logger
from ._actor import Actor
from ._errors import ActorStopped, SupervisorFailed
from ._orders import RestartOrder, RetireOrder, StopOrder

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._cell import Cell
    from ._orders import Exit
    from ._ref import ActorRef
    from ._system import ActorSystem
    from ._types import Backoff, RestartType, SupervisorStrategy

__all__ = ["SupervisorCore", "SupervisorRef", "own_policy"]

M = TypeVar("M")

# How long a supervisor waits for one child to stop before killing it (OTP's
# ``shutdown`` of a worker, 5000 ms by default). A nested supervisor's default is ``None``
# (OTP's ``infinity``): its own children are bounded by their own shutdowns.
CHILD_SHUTDOWN_S = 5.0

# Restart intensity of an actor spawned without a supervisor (its own little policy).
UNSUPERVISED_MAX_RESTARTS = 3
UNSUPERVISED_WITHIN_S = 5.0


def own_policy(cell: Cell[Any], exit_: Exit) -> RestartOrder | StopOrder:
    """Restart policy of an actor without a supervisor (see docs/actors.md)."""
    restart = cell.restart_type
    if restart == "temporary" or (restart == "transient" and exit_.kind == "normal"):
        return StopOrder(None)
    now = time.monotonic()
    restarts = cell.restarts
    while restarts and now - restarts[0] > UNSUPERVISED_WITHIN_S:
        restarts.popleft()
    restarts.append(now)
    if len(restarts) > UNSUPERVISED_MAX_RESTARTS:
        cell.log.error(
            "supervisor.escalated",
            supervisor=None,
            child=cell.name,
            restarts=len(restarts),
            within_s=UNSUPERVISED_WITHIN_S,
            reason=exit_.reason,
        )
        return StopOrder(None)
    return RestartOrder(exit_.error or ActorStopped("stopped normally"), 0.0)


class _ChildSpec:
    """How to (re)start one child, and its current cell."""

    __slots__ = (
        "cell",
        "factory",
        "mailbox_size",
        "name",
        "restart",
        "restarted_upto",
        "shutdown",
        "supervises",
    )

    def __init__(
        self,
        factory: Callable[[], Actor[Any]],
        name: str,
        restart: RestartType,
        mailbox_size: int,
        cell: Cell[Any],
        supervises: SupervisorCore | None,
        shutdown: float | None,
    ) -> None:
        self.factory = factory
        self.shutdown = shutdown
        self.supervises = supervises
        self.name = name
        self.restart: RestartType = restart
        self.mailbox_size = mailbox_size
        self.cell = cell
        self.restarted_upto = 0


class _ChildExited:
    __slots__ = ("cell", "exit", "incarnation")

    def __init__(self, cell: Cell[Any], exit_: Exit, incarnation: int) -> None:
        self.cell = cell
        self.exit = exit_
        self.incarnation = incarnation


class _ChildTerminated:
    __slots__ = ("cell",)

    def __init__(self, cell: Cell[Any]) -> None:
        self.cell = cell


class SupervisorCore:
    """A supervisor's lasting configuration, child specs and restart history."""

    def __init__(
        self,
        system: ActorSystem,
        name: str,
        strategy: SupervisorStrategy,
        max_restarts: int,
        within_s: float,
        backoff: Backoff | None,
    ) -> None:
        self.system = system
        self.name = name
        self.strategy: SupervisorStrategy = strategy
        self.max_restarts = max_restarts
        self.within_s = within_s
        self.backoff = backoff
        self.children: list[_ChildSpec] = []
        self.restarts: deque[float] = deque()
        self.cell: Cell[Any] | None = None
        self.log = get_logger("actors.supervisor", supervisor=name, system=system.name)

    @property
    def is_alive(self) -> bool:
        """Whether the supervisor's actor is running (or being restarted)."""
        return self.cell is not None and not self.cell.terminated

    # --- called by child cells (synchronous) ----------------------------------------------

    def child_exited(self, cell: Cell[Any], exit_: Exit, incarnation: int) -> None:
        """A child crashed or stopped normally and waits for our order."""
        assert self.cell is not None
        self.cell.notify(_ChildExited(cell, exit_, incarnation))

    def child_terminated(self, cell: Cell[Any]) -> None:
        """A child stopped for good (explicit stop); forget its spec."""
        assert self.cell is not None
        self.cell.notify(_ChildTerminated(cell))

    def orphan_children(self) -> None:
        """The supervisor ended abruptly: order every child to stop, without waiting."""
        for spec in reversed(self.children):
            spec.cell.supervisor = None
            spec.cell.order(StopOrder(None))

    # --- run inside the supervisor's actor ------------------------------------------------

    def _find(self, cell: Cell[Any]) -> _ChildSpec | None:
        for spec in self.children:
            if spec.cell is cell:
                return spec
        return None

    async def spawn(
        self,
        factory: Callable[[], Actor[Any]],
        name: str | None,
        restart: RestartType,
        mailbox_size: int,
        shutdown: float | None,
        *,
        supervises: SupervisorCore | None = None,
    ) -> _ChildSpec:
        """Start a child (``supervises``: a nested supervisor) and record its spec."""
        cell = await self.system._spawn_cell(
            factory, name, mailbox_size, restart, self, supervises, shutdown=shutdown
        )
        spec = _ChildSpec(factory, cell.name, restart, mailbox_size, cell, supervises, shutdown)
        if not self.is_alive:  # we died while the child started
            cell.supervisor = None
            await self.system._stop_cell(cell, shutdown)
            raise ActorStopped(f"supervisor {self.name!r} stopped while spawning a child")
        self.children.append(spec)
        return spec

    async def handle_exit(self, notice: _ChildExited) -> None:
        """Apply restart type, intensity, backoff and strategy to one child exit."""
        cell, exit_ = notice.cell, notice.exit
        spec = self._find(cell)
        if spec is None or cell.terminated or spec.restarted_upto >= notice.incarnation:
            return
        if (
            self.system._closing
            or spec.restart == "temporary"
            or (spec.restart == "transient" and exit_.kind == "normal")
        ):
            self.children.remove(spec)
            cell.supervisor = None
            cell.order(StopOrder(None))
            return
        now = time.monotonic()
        restarts = self.restarts
        while restarts and now - restarts[0] > self.within_s:
            restarts.popleft()
        restarts.append(now)
        if len(restarts) > self.max_restarts:
            self.log.error(
                "supervisor.escalated",
                child=cell.name,
                restarts=len(restarts),
                max_restarts=self.max_restarts,
                within_s=self.within_s,
                reason=exit_.reason,
            )
            raise SupervisorFailed(
                f"supervisor {self.name!r}: {len(restarts)} restarts within "
                f"{self.within_s}s (max_restarts={self.max_restarts}); "
                f"last: child {cell.name!r} {exit_.reason}"
            )
        delay = self.backoff.delay(len(restarts) - 1) if self.backoff is not None else 0.0
        cause = exit_.error or ActorStopped(f"actor {cell.name!r} stopped normally")
        if self.strategy == "one_for_one":
            group = [spec]
        elif self.strategy == "one_for_all":
            group = list(self.children)
        else:  # rest_for_one: the failed child and those started after it
            group = self.children[self.children.index(spec) :]
        self.log.info(
            "supervisor.restarting",
            child=cell.name,
            strategy=self.strategy,
            restarting=[s.name for s in group if s is spec or s.restart != "temporary"],
            delay_s=delay,
            reason=exit_.reason,
        )
        for target in group:
            target.restarted_upto = target.cell.incarnation  # its pending exit is handled
        if len(group) == 1:  # nothing to sequence: the child restarts on its own
            cell.order(RestartOrder(cause, delay))
            return
        await self._restart_group(spec, group, cause, delay)

    async def _restart_group(
        self, failed: _ChildSpec, group: list[_ChildSpec], cause: BaseException, delay: float
    ) -> None:
        """Retire ``group`` last started first, then start it again in start order.

        The failed child is retired already. A ``temporary`` sibling is stopped for good
        (OTP). Waits are bounded by each child's ``shutdown`` (then it is killed); starts
        wait for each ``on_restart`` to complete.
        """
        loop = asyncio.get_running_loop()
        for target in reversed(group):
            if target is failed:
                continue
            if target.restart == "temporary":
                self.children.remove(target)
                target.cell.supervisor = None
                await self.system._stop_cell(target.cell, target.shutdown)
                continue
            retired: asyncio.Future[None] = loop.create_future()
            target.cell.order(RetireOrder(retired))
            if not await _wait(retired, target.shutdown):
                target.cell.log.warning("actor.shutdown_timeout", shutdown_s=target.shutdown)
                target.cell.brutal_kill()
                await _wait(retired, None)
        for target in group:
            if target.cell.terminated or (target is not failed and target.restart == "temporary"):
                continue
            started: asyncio.Future[None] = loop.create_future()
            target.cell.order(RestartOrder(cause, delay, started))
            delay = 0.0  # the backoff delays the round once, before its first start
            await _wait(started, None)

    def forget(self, cell: Cell[Any]) -> None:
        """Drop the spec of a child that stopped for good."""
        spec = self._find(cell)
        if spec is not None:
            self.children.remove(spec)

    def stop_starting_children(self) -> None:
        """We were told to stop: end the starts of children still starting (each stops
        for good; a group restart waiting for one of them goes on to our stop)."""
        for spec in self.children:
            if spec.cell.starting:
                spec.cell.order(StopOrder(None))

    async def stop_children(self) -> None:
        """Stop every child, last started first, each within its ``shutdown`` (then killed)."""
        for spec in reversed(self.children):
            spec.cell.supervisor = None
            await self.system._stop_cell(spec.cell, spec.shutdown)

    async def restart_children(self) -> None:
        """Start every non-temporary child again from its spec (after our own restart)."""
        specs = [s for s in self.children if s.restart != "temporary"]
        self.children = []
        self.restarts.clear()
        for spec in specs:
            await self.spawn(
                spec.factory,
                spec.name,
                spec.restart,
                spec.mailbox_size,
                spec.shutdown,
                supervises=spec.supervises,
            )


async def _wait(signal: asyncio.Future[None], timeout: float | None) -> bool:  # noqa: ASYNC109 - a child's shutdown grace, not a caller deadline
    """Wait for a child's signal, at most ``timeout`` seconds; ``True`` if it came.

    Shielded so that a timeout (or our own cancellation) never cancels the signal itself:
    the child settles it later whatever happened here.
    """
    with anyio.move_on_after(timeout):
        await asyncio.shield(signal)
    return signal.done()


class _Supervisor(Actor[object]):
    """The supervisor's actor: handles child notices one at a time."""

    def __init__(self, core: SupervisorCore) -> None:
        self.core = core

    async def receive(self, message: object) -> None:
        if isinstance(message, _ChildExited):
            await self.core.handle_exit(message)
        elif isinstance(message, _ChildTerminated):
            self.core.forget(message.cell)

    async def on_restart(self, error: BaseException) -> None:
        await self.core.restart_children()

    async def on_stop(self) -> None:
        await self.core.stop_children()


class SupervisorRef:
    """Handle on a supervisor: spawn children under it, watch or stop it via :attr:`ref`."""

    __slots__ = ("_core",)

    def __init__(self, core: SupervisorCore) -> None:
        self._core = core

    @property
    def name(self) -> str:
        """The supervisor actor's name."""
        return self._core.name

    @property
    def ref(self) -> ActorRef[object]:
        """The supervisor's own actor ref (for ``watch``, ``stop``, ``kill``)."""
        assert self._core.cell is not None
        return self._core.cell.ref

    @property
    def is_alive(self) -> bool:
        """``False`` once the supervisor has stopped or failed for good."""
        return self._core.is_alive

    @property
    def children(self) -> list[ActorRef[Any]]:
        """Refs of the current children, in start order."""
        return [spec.cell.ref for spec in self._core.children]

    def __repr__(self) -> str:
        return f"<SupervisorRef {self.name!r} {self._core.strategy}>"

    async def spawn_child(
        self,
        factory: Callable[[], Actor[M]],
        *,
        name: str | None = None,
        restart: RestartType = "permanent",
        mailbox_size: int = 1000,
        shutdown: float | None = CHILD_SHUTDOWN_S,
    ) -> ActorRef[M]:
        """Start an actor supervised by this supervisor.

        Args:
            factory: called with no arguments for the first instance and every restart.
            name: unique actor name (generated when ``None``).
            restart: ``permanent`` (default), ``transient`` or ``temporary``.
            mailbox_size: bound of the user mailbox (default 1000).
            shutdown: seconds the child gets to stop (finish its message, run
                ``on_stop``) when the supervisor stops it or retires it for a group
                restart; then it is killed (``on_stop`` skipped). Default 5.0 (OTP's
                5000 ms); ``None`` waits as long as it takes (OTP's ``infinity``).

        Returns:
            The child's ref, valid across its restarts.

        Raises:
            ActorStopped: this supervisor is not running.
            DuplicateActorName, ActorStartError, ConfigError: as ``ActorSystem.spawn``
                (also a bad ``shutdown``).

        Cancellation: if cancelled while the child starts, the child is not recorded.
        """
        core = self._core
        if not core.is_alive:
            raise ActorStopped(f"supervisor {core.name!r} is stopped")
        spec = await core.spawn(factory, name, restart, mailbox_size, shutdown)
        ref: ActorRef[M] = spec.cell.ref
        return ref
