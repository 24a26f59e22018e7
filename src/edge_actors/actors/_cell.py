"""The runtime of one actor: its task, incarnations, crash handling, termination (layer: actors).

A ``Cell`` owns the mailbox (which survives restarts), runs one task in the system's task
group for the actor's whole life, and inside it one *incarnation* per instance made by the
factory. An incarnation ends in one of five ways (:class:`Exit`, see ``_orders.py``): a
crash, a normal self-stop, a restart order, a retire order (a group restart: the cell then
waits for the supervisor's start order) or a stop order. Crashes and normal exits are
decided by the supervisor (or, without one, by ``own_policy``); the cell waits for that
decision on the control lane, so user messages keep queueing (and survive) while it is
suspended.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any, Generic, cast

import anyio

from .._log import get_logger
from ._actor import Actor, MsgT
from ._errors import ActorKilled, ActorStartError, ActorStopped, Refusal
from ._mailbox import Mailbox
from ._orders import (
    Deliver,
    Exit,
    KillOrder,
    Notice,
    RestartOrder,
    RetireOrder,
    SelfStop,
    StopOrder,
    settle,
    stray,
)
from ._ref import ActorRef
from ._supervisor import own_policy
from ._types import RestartType, Terminated

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskStatus

    from ._supervisor import SupervisorCore
    from ._system import ActorSystem

__all__ = ["Cell"]

# Messages handled between two user messages before the actor yields to the event loop,
# so an actor that keeps telling itself cannot starve every other task.
_FAIR_BATCH = 256


class Cell(Generic[MsgT]):
    """Runtime state of one actor; everything here runs on the system's event loop."""

    def __init__(
        self,
        system: ActorSystem,
        factory: Callable[[], Actor[MsgT]],
        name: str,
        mailbox_size: int,
        restart: RestartType,
        supervisor: SupervisorCore | None,
        shutdown: float | None = 5.0,
    ) -> None:
        self.system = system
        self.shutdown = shutdown
        self.factory = factory
        self.name = name
        self.restart_type: RestartType = restart
        self.supervisor = supervisor
        self.mailbox = Mailbox(mailbox_size)
        self.timers = system._timers
        self.ref: ActorRef[MsgT] = ActorRef(self)
        self.log = get_logger("actors", actor=name, system=system.name)
        self.task: asyncio.Task[Any] | None = None
        self.terminated = False
        self.reason = "normal"
        self.incarnation = 0
        self.done = anyio.Event()
        self.watchers: set[Cell[Any]] = set()
        self.watching: set[Cell[Any]] = set()
        self.supervises: SupervisorCore | None = None
        self._instance: Actor[MsgT] | None = None
        self._reply: asyncio.Future[Any] | None = None
        self._scope: anyio.CancelScope | None = None
        self._life: anyio.CancelScope | None = None
        self._stopping: anyio.CancelScope | None = None
        self._starting: anyio.CancelScope | None = None  # around on_start / on_restart
        self._stopped_starting = False
        self._kill_pending = False
        self._brutal = False
        self._started: asyncio.Future[None] | None = None
        self.restarts: deque[float] = deque()  # own_policy's restart times (no supervisor)

    # --- orders from outside (all synchronous, safe from any task of the loop) ------------

    def deliver(self, message: object) -> None:
        """Put ``message`` for ``receive`` on the control lane (or count a dead letter)."""
        if self.terminated:
            self.dead_letter(message)
        else:
            self.mailbox.put_control(Deliver(message))

    def notify(self, notice: object) -> None:
        """Like :meth:`deliver` for engine-internal notices: dropped once terminated."""
        if not self.terminated:
            self.mailbox.put_control(Notice(notice))

    def order(self, item: object) -> None:
        """Put a system order on the control lane; ignored once terminated.

        A stop order that finds the instance still in ``on_start`` / ``on_restart`` ends
        that hook at once: the instance has served nothing, so there is no current message
        to finish (an actor waiting out an outage in its start would otherwise hold its
        stop for the whole grace period). A supervisor told to stop passes that on to its
        children still starting: it may be waiting for their starts (a group restart),
        and it would stop them next anyway."""
        if self.terminated:
            _settle_order(item)
            return
        self.mailbox.put_control(item)
        if not isinstance(item, StopOrder):
            return
        if self._starting is not None:
            self._stopped_starting = True
            self._starting.cancel()
        if self.supervises is not None:
            self.supervises.stop_starting_children()

    @property
    def starting(self) -> bool:
        """Whether the instance is in ``on_start`` / ``on_restart``."""
        return self._starting is not None

    def stop_instance(self, instance: Actor[Any]) -> None:
        """``instance`` called ``stop()``: order its normal exit ahead of everything else."""
        if not self.terminated and instance is self._instance:
            self.mailbox.control.appendleft(SelfStop(instance))
            self.mailbox.wake_consumer()

    def kill(self) -> None:
        """Crash the actor with :class:`ActorKilled` now (interrupting ``receive``)."""
        if self.terminated:
            return
        if self._scope is not None:
            self._kill_pending = True
            self._scope.cancel()
        else:
            self.mailbox.put_control(KillOrder())

    def brutal_kill(self) -> None:
        """End the current instance now, skipping (or interrupting) ``on_stop``.

        For a child that outlived its ``shutdown`` while being retired for a group
        restart: the cell stays alive and waits for the supervisor's next order. The ask
        being handled gets :class:`ActorKilled`.
        """
        if self.terminated:
            return
        if self._scope is not None:
            self._brutal = True
            self._scope.cancel()
        if self._stopping is not None:
            self._stopping.cancel()

    def force(self, reason: str = "killed") -> None:
        """End the actor at once, skipping ``on_stop`` (a stop that ran out of time)."""
        if not self.terminated and self._life is not None:
            self.reason = reason
            self._life.cancel()

    def dead_letter(self, message: object) -> None:
        """Count and log a message that reached this actor after it stopped."""
        self.system._count_dead_letter()
        self.log.info("actor.dead_letter", message_type=type(message).__name__)

    # --- the actor's task -----------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None]) -> None:
        """Body of the actor's task: reports the start, then lives until the end.

        A failed start is raised (before ``task_status.started``), so anyio raises it in
        the spawner's ``TaskGroup.start`` and the system's task group is not affected.

        Raises:
            ActorStartError: the factory or ``on_start`` raised (chained), or the actor
                was killed or stopped while starting.
        """
        self.task = asyncio.current_task()
        started = False
        failure: BaseException | None = None

        def report(outcome: BaseException | None) -> None:
            nonlocal started, failure
            if outcome is None:
                started = True
                task_status.started()
            else:
                failure = outcome

        try:
            with anyio.CancelScope() as life:
                self._life = life
                await self._live(report)
        finally:
            self._life = None
            self._finish(announce=started)
        if not started:
            cause = failure or ActorStopped(f"actor {self.name!r} stopped while starting")
            raise ActorStartError(f"actor {self.name!r} failed to start: {cause!r}") from cause

    async def _live(self, report: Callable[[BaseException | None], None]) -> None:
        cause: BaseException | None = None
        first = True
        while True:
            exit_ = await self._incarnate(first, cause, report)
            if exit_ is None:
                return
            first = False
            await self._retire(brutal=exit_.brutal)
            if exit_.kind == "terminate":
                self.reason = exit_.reason
                return
            order: RestartOrder | StopOrder
            if exit_.kind == "restart":
                order = RestartOrder(exit_.error or ActorStopped("restart"), exit_.delay)
            elif exit_.kind == "retire":  # a group restart: the supervisor decides when
                order = await self._await_order()
            else:
                self._log_exit(exit_)
                order = await self._decide(exit_)
            if isinstance(order, StopOrder):
                self.reason = order.reason or exit_.reason
                return
            self._started = order.started
            if order.delay > 0 and not await self._back_off(order.delay):
                return
            cause = order.cause
            self.log.info(
                "actor.restarted",
                cause=repr(cause),
                delay_s=order.delay,
                incarnation=self.incarnation + 1,
            )

    async def _incarnate(
        self,
        first: bool,
        cause: BaseException | None,
        report: Callable[[BaseException | None], None],
    ) -> Exit | None:
        """Make a new instance, start it and serve messages; ``None`` when spawn failed."""
        self.incarnation += 1
        self._kill_pending = False
        self._brutal = False
        self._stopped_starting = False
        self._reply = None
        exit_: Exit | None = None
        with anyio.CancelScope() as scope:
            self._scope = scope
            try:
                instance = self.factory()
                if not isinstance(instance, Actor):
                    raise TypeError(
                        f"factory of actor {self.name!r} returned "
                        f"{type(instance).__name__}, not an Actor"
                    )
                instance.ref = self.ref
                instance.system = self.system
                instance.log = self.log
                self._instance = instance
                if instance._stop_requested:  # stop() called in __init__
                    self.stop_instance(instance)
                with anyio.CancelScope() as starting:
                    self._starting = starting
                    try:
                        if first:
                            await instance.on_start()
                        else:
                            await instance.on_restart(cause or ActorStopped("restart"))
                    finally:
                        self._starting = None
            except Exception as exc:
                if first:
                    report(exc)
                    return None
                exit_ = Exit("crash", exc)
            except asyncio.CancelledError as exc:
                error = stray(exc, self.name, "on_start" if first else "on_restart")
                if first:
                    report(error)
                    return None
                exit_ = Exit("crash", error)
            else:
                if self._stopped_starting:  # a stop order ended the start: nothing to finish
                    self._instance = None  # so no on_stop runs for it
                    if first:
                        report(ActorStopped(f"actor {self.name!r} stopped while starting"))
                        return None
                    return Exit("terminate", reason="normal")
                if first:
                    report(None)
                    first = False  # started: a kill from here on is a crash
                else:
                    settle(self._started)
                exit_ = await self._serve(instance)
            finally:
                settle(self._started)  # started, failed to, or cancelled: never hang on it
                self._started = None
        self._scope = None
        if self._brutal:  # outlived its shutdown while being retired
            self._fail_current(ActorKilled(f"actor {self.name!r} was killed"))
            return Exit("retire", brutal=True)
        if self._kill_pending or exit_ is None:
            killed = ActorKilled(f"actor {self.name!r} was killed")
            if first and exit_ is None:
                report(killed)
                return None
            self._fail_current(killed)
            exit_ = Exit("crash", killed)
        return exit_

    async def _serve(self, instance: Actor[MsgT]) -> Exit:
        """The hot loop: control lane first, then one user message at a time."""
        mailbox = self.mailbox
        user = mailbox.user
        control = mailbox.control
        putters = mailbox.putters
        receive = instance.receive
        create_future = asyncio.get_running_loop().create_future
        handled = 0
        while True:
            if control:
                item = control.popleft()
                if isinstance(item, Deliver):
                    self._reply = None
                    try:
                        await receive(cast("MsgT", item.message))
                    except Refusal:
                        pass
                    except Exception as exc:
                        return Exit("crash", exc)
                    except asyncio.CancelledError as exc:
                        return Exit("crash", stray(exc, self.name, "receive"))
                elif isinstance(item, SelfStop):
                    if item.instance is instance:
                        return Exit("normal")
                elif isinstance(item, StopOrder):
                    return Exit("terminate", reason=item.reason or "normal")
                elif isinstance(item, RetireOrder):
                    self.mailbox.control.appendleft(item)  # settled once retired
                    return Exit("retire")
                elif isinstance(item, RestartOrder):
                    settle(item.started)  # restarting in place: nobody waits for this one
                    return Exit("restart", item.cause, delay=item.delay)
                elif isinstance(item, KillOrder):
                    return Exit("crash", ActorKilled(f"actor {self.name!r} was killed"))
            elif user:
                message, reply = user.popleft()
                if putters:
                    mailbox.wake_putter()
                self._reply = reply
                try:
                    result = await receive(message)
                except Refusal as exc:
                    if reply is not None and not reply.done():
                        reply.set_exception(exc)
                except Exception as exc:
                    if reply is not None and not reply.done():
                        reply.set_exception(exc)
                    return Exit("crash", exc)
                except asyncio.CancelledError as exc:
                    error = stray(exc, self.name, "receive")
                    if reply is not None and not reply.done():
                        reply.set_exception(error)
                    return Exit("crash", error)
                else:
                    if reply is not None and not reply.done():
                        reply.set_result(result)
                handled += 1
                if handled >= _FAIR_BATCH:
                    handled = 0
                    await asyncio.sleep(0)  # a yield point, not a delay (see _FAIR_BATCH)
            else:
                # Park until a sender or an order wakes us (Mailbox.wait, inlined: hot path).
                waiter: asyncio.Future[None] = create_future()
                mailbox.waiter = waiter
                try:
                    await waiter
                finally:
                    mailbox.waiter = None
                continue

    async def _retire(self, *, brutal: bool) -> None:
        """Run ``on_stop`` of the current instance (unless ``brutal``); errors are logged.

        ``brutal_kill`` cancels a hook that outlives the child's ``shutdown``.
        """
        instance, self._instance = self._instance, None
        if instance is None or brutal:
            return
        with anyio.CancelScope() as scope:
            self._stopping = scope
            try:
                await instance.on_stop()
            except Exception as exc:
                self.log.warning("actor.on_stop_failed", error=repr(exc))
            except asyncio.CancelledError as exc:
                error = stray(exc, self.name, "on_stop")
                self.log.warning("actor.on_stop_failed", error=repr(error))
            finally:
                self._stopping = None

    def _log_exit(self, exit_: Exit) -> None:
        if exit_.kind != "crash":
            return
        if isinstance(exit_.error, ActorKilled):  # ordered from outside: not a fault
            self.log.info("actor.killed", incarnation=self.incarnation)
        else:
            self.log.warning("actor.crashed", error=repr(exit_.error), incarnation=self.incarnation)

    async def _decide(self, exit_: Exit) -> RestartOrder | StopOrder:
        """Get the verdict on a crash or normal exit: supervisor's, or the own policy's."""
        if self.system._closing:
            return StopOrder(None)
        supervisor = self.supervisor
        if supervisor is not None and supervisor.is_alive:
            supervisor.child_exited(self, exit_, self.incarnation)
            return await self._await_order()
        return own_policy(self, exit_)

    async def _await_order(self) -> RestartOrder | StopOrder:
        """Wait on the control lane for the supervisor's order; keep notices for later."""
        kept: list[object] = []
        try:
            while True:
                item = await self.mailbox.wait_control()
                if isinstance(item, RestartOrder | StopOrder):
                    return item
                if isinstance(item, KillOrder):
                    return StopOrder("killed")
                if isinstance(item, RetireOrder):
                    settle(item.done)  # no instance: retired already
                elif not isinstance(item, SelfStop):  # a retired instance's order is void
                    kept.append(item)
        finally:
            self.mailbox.control.extendleft(reversed(kept))

    async def _back_off(self, delay: float) -> bool:
        """Wait ``delay`` seconds before a restart; ``False`` if told to stop meanwhile.

        Notices for ``receive`` arriving meanwhile are kept for the next instance. A retire
        order (a group restart started meanwhile) calls this restart off: the cell waits
        for the supervisor's next order instead.
        """
        kept: list[object] = []
        try:
            with anyio.move_on_after(delay):
                while True:
                    item = await self.mailbox.wait_control()
                    if isinstance(item, StopOrder | KillOrder):
                        self.reason = "killed" if isinstance(item, KillOrder) else "normal"
                        return False
                    if isinstance(item, RetireOrder):
                        settle(item.done)
                        settle(self._started)
                        self._started = None
                        order = await self._await_order()
                        if isinstance(order, StopOrder):
                            self.reason = order.reason or "normal"
                            return False
                        self._started = order.started
                        return True  # restart now, at the supervisor's order
                    if not isinstance(item, RestartOrder | SelfStop):  # restarting anyway
                        kept.append(item)
            return True
        finally:
            self.mailbox.control.extendleft(reversed(kept))

    def _fail_current(self, error: BaseException) -> None:
        """Fail the ask of the message being handled, if it still waits."""
        reply = self._reply
        if reply is not None and not reply.done():
            reply.set_exception(error)

    def _finish(self, *, announce: bool) -> None:
        """Terminal clean-up (synchronous, runs even when cancelled)."""
        self.terminated = True
        self._instance = None
        pending = self.mailbox.close()
        for message, reply in pending:
            if reply is not None and not reply.done():
                reply.set_exception(ActorStopped(f"actor {self.name!r} stopped before replying"))
            self.dead_letter(message)
        self._fail_current(ActorStopped(f"actor {self.name!r} stopped before replying"))
        settle(self._started)
        for item in self.mailbox.control:
            if isinstance(item, Deliver) and not isinstance(item, Notice):
                self.dead_letter(item.message)
            _settle_order(item)
        self.mailbox.control.clear()
        self.system._unregister(self)
        for target in self.watching:
            target.watchers.discard(self)
        self.watching.clear()
        if self.supervises is not None:
            self.supervises.orphan_children()
        if announce:
            notice = Terminated(ref_name=self.name, reason=self.reason)
            for watcher in self.watchers:
                watcher.watching.discard(self)
                watcher.deliver(notice)
            self.watchers.clear()
            supervisor = self.supervisor
            if supervisor is not None and supervisor.is_alive:
                supervisor.child_terminated(self)
            self.log.info("actor.stopped", reason=self.reason)
        self.done.set()


def _settle_order(item: object) -> None:
    """An order that will never be carried out: release whoever waits on it."""
    if isinstance(item, RetireOrder):
        settle(item.done)
    elif isinstance(item, RestartOrder):
        settle(item.started)
