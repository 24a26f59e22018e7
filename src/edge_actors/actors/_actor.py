"""The ``Actor`` base class users subclass (layer: actors).

An actor owns its state and handles one message at a time in :meth:`Actor.receive`; the
engine (``_cell.py``) binds ``ref``, ``system`` and ``log`` on each new instance before
``on_start`` / ``on_restart`` runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    import structlog

    from ._ref import ActorRef
    from ._system import ActorSystem

__all__ = ["Actor", "MsgT"]

MsgT = TypeVar("MsgT")


class Actor(ABC, Generic[MsgT]):
    """Base class of every actor; subclass it and implement :meth:`receive`.

    The factory given to ``spawn`` is called with no arguments for the first instance and
    again for every restart, so keep state that must survive a crash outside the instance.

    Attributes:
        ref: this actor's :class:`ActorRef` (the same across restarts).
        system: the :class:`ActorSystem` it runs in.
        log: a structlog logger bound with ``actor=<name>``.
    """

    ref: ActorRef[MsgT]
    system: ActorSystem
    log: structlog.stdlib.BoundLogger
    _stop_requested: bool = False

    @abstractmethod
    async def receive(self, message: MsgT) -> Any:
        """Handle one message; the return value is the reply to ``ask`` (ignored for tell).

        An exception escaping here crashes the actor (the asker receives it and the
        supervisor decides), except a :class:`Refusal`, which is only replied to the asker.
        A subclass without ``receive`` cannot be instantiated (``spawn`` fails with
        :class:`ActorStartError`).
        """

    async def on_start(self) -> None:
        """Called once on the first instance before any message; raising fails ``spawn``."""

    async def on_stop(self) -> None:
        """Called when the instance is retired: orderly stop, crash or before a restart.

        Not called when the stop had to be cancelled (timeout, kill, shutdown deadline).
        """

    async def on_restart(self, error: BaseException) -> None:
        """Called on the NEW instance after a restart, instead of :meth:`on_start`.

        Args:
            error: why the previous instance ended (its exception, or an
                :class:`ActorStopped` when a permanent actor stopped normally).

        The default calls :meth:`on_start`.
        """
        await self.on_start()

    def stop(self) -> None:
        """Order the engine to stop this instance normally, at once.

        The order goes to the front of the control lane: the current handler (``receive``
        or ``on_start`` / ``on_restart``) finishes and its reply is sent, then the instance
        is retired (``on_stop``) before any other message is handled. Called from
        ``on_start``, no message is handled at all. The order belongs to this instance: a
        crash in the same handler wins, and a restarted instance is not stopped by it.

        Under a supervisor this is a *normal exit*: a ``permanent`` child is restarted, a
        ``transient`` or ``temporary`` one stops for good.
        """
        self._stop_requested = True
        ref = getattr(self, "ref", None)
        if ref is not None:  # not bound yet (called in __init__): the engine checks the flag
            ref._cell.stop_instance(self)
