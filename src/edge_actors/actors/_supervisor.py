"""OTP-style supervisors: strategies, restart types, intensity, backoff, escalation (layer: actors).

A supervisor is itself an actor (``_Supervisor``) whose messages are notices from its
children, delivered on the control lane so they are never stuck behind user traffic. Its
lasting configuration and child specs live in a :class:`SupervisorCore` that outlives
supervisor instances, so a restarted supervisor starts its children again from the specs.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any, TypeVar

from .._log import get_logger
from ._actor import Actor
from ._errors import ActorStopped, SupervisorFailed

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._cell import Cell, Exit
    from ._ref import ActorRef
    from ._system import ActorSystem
    from ._types import Backoff, RestartType, SupervisorStrategy

__all__ = ["SupervisorCore", "SupervisorRef"]

M = TypeVar("M")

# How long a supervisor waits for one child to stop before cancelling it (OTP's
# ``shutdown`` of a worker, 5000 ms by default).
CHILD_SHUTDOWN_S = 5.0


class _ChildSpec:
    """How to (re)start one child, and its current cell."""

    __slots__ = (
        "cell",
        "factory",
        "mailbox_size",
        "name",
        "restart",
        "restarted_upto",
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
    ) -> None:
        self.factory = factory
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
            spec.cell.order(_stop_order(None))

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
        *,
        supervises: SupervisorCore | None = None,
    ) -> _ChildSpec:
        """Start a child (``supervises``: a nested supervisor) and record its spec."""
        cell = await self.system._spawn_cell(factory, name, mailbox_size, restart, self, supervises)
        spec = _ChildSpec(factory, cell.name, restart, mailbox_size, cell, supervises)
        if not self.is_alive:  # we died while the child started
            cell.supervisor = None
            await self.system._stop_cell(cell, CHILD_SHUTDOWN_S)
            raise ActorStopped(f"supervisor {self.name!r} stopped while spawning a child")
        self.children.append(spec)
        return spec

    async def handle_exit(self, notice: _ChildExited) -> None:
        """Apply restart type, intensity, backoff and strategy to one child exit."""
        from ._cell import RestartOrder

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
            cell.order(_stop_order(None))
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
        targets = [spec] if self.strategy == "one_for_one" else list(self.children)
        self.log.info(
            "supervisor.restarting",
            child=cell.name,
            strategy=self.strategy,
            restarting=[s.name for s in targets],
            delay_s=delay,
            reason=exit_.reason,
        )
        for target in targets:
            if target is not spec and target.restart == "temporary":
                continue
            target.restarted_upto = target.cell.incarnation
            target.cell.order(RestartOrder(cause, delay))

    def forget(self, cell: Cell[Any]) -> None:
        """Drop the spec of a child that stopped for good."""
        spec = self._find(cell)
        if spec is not None:
            self.children.remove(spec)

    async def stop_children(self) -> None:
        """Stop every child, last started first, each within ``CHILD_SHUTDOWN_S``."""
        for spec in reversed(self.children):
            spec.cell.supervisor = None
            await self.system._stop_cell(spec.cell, CHILD_SHUTDOWN_S)

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
                supervises=spec.supervises,
            )


def _stop_order(reason: str | None) -> object:
    from ._cell import StopOrder

    return StopOrder(reason)


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
    ) -> ActorRef[M]:
        """Start an actor supervised by this supervisor.

        Args:
            factory: called with no arguments for the first instance and every restart.
            name: unique actor name (generated when ``None``).
            restart: ``permanent`` (default), ``transient`` or ``temporary``.
            mailbox_size: bound of the user mailbox (default 1000).

        Returns:
            The child's ref, valid across its restarts.

        Raises:
            ActorStopped: this supervisor is not running.
            DuplicateActorName, ActorStartError, ConfigError: as ``ActorSystem.spawn``.

        Cancellation: if cancelled while the child starts, the child is not recorded.
        """
        core = self._core
        if not core.is_alive:
            raise ActorStopped(f"supervisor {core.name!r} is stopped")
        spec = await core.spawn(factory, name, restart, mailbox_size)
        ref: ActorRef[M] = spec.cell.ref
        return ref
