"""Control-lane orders and incarnation exits of an actor cell (layer: actors).

The control lane of a mailbox carries these items, read before any user message: watch
and supervisor notices for ``receive`` (:class:`Deliver`, :class:`Notice`), the actor's
own ``stop()`` (:class:`SelfStop`) and the orders of the system and the supervisor
(:class:`StopOrder`, :class:`RetireOrder`, :class:`RestartOrder`, :class:`KillOrder`).
:class:`Exit` records how one incarnation ended; :func:`stray` decides whether a
``CancelledError`` is a real cancellation or a crash.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Literal

from ._errors import ActorKilled, StrayCancellation

if TYPE_CHECKING:
    from ._actor import Actor

__all__ = [
    "Deliver",
    "Exit",
    "KillOrder",
    "Notice",
    "RestartOrder",
    "RetireOrder",
    "SelfStop",
    "StopOrder",
    "settle",
    "stray",
]


def stray(exc: asyncio.CancelledError, name: str, where: str) -> StrayCancellation:
    """Turn a ``CancelledError`` nobody asked for into a crash error, or re-raise it.

    A cancellation that a cancel scope delivered (anyio cancels a task with
    ``Task.cancel()``, so ``cancelling()`` counts it until the scope exits) is real and
    propagates. One that arrives without a request (``receive`` awaited a future someone
    else cancelled) is an error of the actor's code: it crashes the actor instead of
    silently ending it and cancelling the system's task group.
    """
    task = asyncio.current_task()
    if task is None or task.cancelling():
        raise exc
    error = StrayCancellation(
        f"{where} of actor {name!r} raised CancelledError that no cancel scope caused "
        f"(it awaited something that was cancelled elsewhere)"
    )
    error.__cause__ = exc
    return error


def settle(signal: asyncio.Future[None] | None) -> None:
    """Complete a supervisor's wait signal (if any, and if nobody dropped it meanwhile)."""
    if signal is not None and not signal.done():
        signal.set_result(None)


ExitKind = Literal["crash", "normal", "restart", "retire", "terminate"]


class Exit:
    """How an incarnation ended (``error`` is the crash or the restart cause).

    ``retire``: the supervisor took the instance down for a group restart (the cell then
    waits for its next order); ``brutal``: it was killed, so ``on_stop`` is skipped.
    """

    __slots__ = ("brutal", "delay", "error", "kind", "reason")

    def __init__(
        self,
        kind: ExitKind,
        error: BaseException | None = None,
        *,
        reason: str | None = None,
        delay: float = 0.0,
        brutal: bool = False,
    ) -> None:
        self.kind = kind
        self.error = error
        self.delay = delay
        self.brutal = brutal
        if reason is None:
            if kind == "crash" and error is not None:
                reason = "killed" if isinstance(error, ActorKilled) else f"crashed: {error!r}"
            else:
                reason = "normal"
        self.reason = reason


class Deliver:
    """A message for ``receive`` that bypasses the bounded lane (watch and child notices)."""

    __slots__ = ("message",)

    def __init__(self, message: object) -> None:
        self.message = message


class Notice(Deliver):
    """An engine-internal message (child notices to a supervisor); never a dead letter."""

    __slots__ = ()


class SelfStop:
    """``Actor.stop()`` of ``instance``: a normal exit, ignored by any other instance."""

    __slots__ = ("instance",)

    def __init__(self, instance: Actor[Any]) -> None:
        self.instance = instance


class StopOrder:
    """Stop for good after the current message (``reason`` None: keep the exit's reason)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str | None = "normal") -> None:
        self.reason = reason


class RetireOrder:
    """Retire the instance after the current message (``on_stop``), then await an order.

    ``done`` completes once the instance is gone (at once if there is none); the
    supervisor waits on it, up to the child's ``shutdown``, before it kills the instance.
    """

    __slots__ = ("done",)

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done


class RestartOrder:
    """Restart (after ``delay`` seconds); ``cause`` goes to ``on_restart``.

    ``started`` (if given) completes once ``on_restart`` has returned or failed, or the
    restart was called off: a supervisor restarting a group starts one child at a time.
    """

    __slots__ = ("cause", "delay", "started")

    def __init__(
        self, cause: BaseException, delay: float, started: asyncio.Future[None] | None = None
    ) -> None:
        self.cause = cause
        self.delay = delay
        self.started = started


class KillOrder:
    """Kill while the cell is between incarnations (suspended or backing off)."""

    __slots__ = ()
