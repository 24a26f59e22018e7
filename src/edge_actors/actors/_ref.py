"""``ActorRef``: the only handle other code holds on an actor (layer: actors).

A ref stays valid across restarts (the same mailbox serves every instance) and turns into
a dead-letter sink once the actor has stopped for good.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any, Generic

import anyio

from ..errors import ConfigError
from ._actor import MsgT
from ._errors import ActorStopped, AskSelfError, MailboxFull
from ._mailbox import MailboxClosed

if TYPE_CHECKING:
    from ._cell import Cell

__all__ = ["ActorRef"]


class ActorRef(Generic[MsgT]):
    """Address of an actor: send it messages with :meth:`tell`, :meth:`tell_nowait`, :meth:`ask`.

    Refs compare equal when they address the same actor. They must be used from the event
    loop the actor system runs on (from another thread, go through ``LoopThread.run``).
    """

    __slots__ = ("_cell",)

    def __init__(self, cell: Cell[MsgT]) -> None:
        self._cell = cell

    @property
    def name(self) -> str:
        """The actor's unique name within its system."""
        return self._cell.name

    @property
    def is_alive(self) -> bool:
        """``False`` once the actor has stopped for good (a restart keeps it alive)."""
        return not self._cell.terminated

    def __repr__(self) -> str:
        state = "alive" if self.is_alive else "stopped"
        return f"<ActorRef {self._cell.name!r} {state}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActorRef) and other._cell is self._cell

    def __hash__(self) -> int:
        return id(self._cell)

    async def tell(self, message: MsgT) -> None:
        """Send ``message`` without waiting for it to be handled.

        Backpressure: returns at once when the mailbox has room; when it is full, waits
        (never drops) until the actor has taken a message. Cancellation while waiting:
        the message is not sent. A message to a stopped actor (or one that stops while we
        wait) is counted as a dead letter and logged; no error is raised.

        Raises:
            MailboxFull: the actor told itself with its own mailbox full (waiting would
                deadlock).
        """
        cell = self._cell
        mailbox = cell.mailbox
        if mailbox.put_nowait((message, None)):
            return
        if mailbox.closed:
            cell.dead_letter(message)
            return
        if asyncio.current_task() is cell.task:
            raise MailboxFull(f"actor {cell.name!r} told itself with its mailbox full")
        try:
            await mailbox.put((message, None))
        except MailboxClosed:
            cell.dead_letter(message)

    def tell_nowait(self, message: MsgT) -> None:
        """Send ``message`` if the mailbox has room, never waiting.

        A message to a stopped actor is a dead letter (counted, logged), not an error.

        Raises:
            MailboxFull: the mailbox is at capacity (or senders are already waiting).
        """
        cell = self._cell
        mailbox = cell.mailbox
        if mailbox.put_nowait((message, None)):
            return
        if mailbox.closed:
            cell.dead_letter(message)
            return
        raise MailboxFull(f"mailbox of actor {cell.name!r} is full ({mailbox.capacity} messages)")

    async def ask(self, message: MsgT, *, timeout: float | None = 5.0) -> Any:  # noqa: ASYNC109 - the timeout is part of the ask contract (reply slot expiry)
        """Send ``message`` and wait for the value ``receive`` returns for it.

        ``timeout`` bounds the whole exchange (waiting for mailbox room included); ``None``
        waits as long as the actor lives. On timeout or cancellation the reply slot is
        dropped: the message may still be handled later, its reply goes nowhere.

        Raises:
            TimeoutError: no reply within ``timeout`` seconds.
            ActorStopped: the actor is stopped or stopped before replying.
            AskSelfError: an actor asked itself (it would wait for itself forever).
            ConfigError: ``timeout`` is negative, NaN, infinite or not a number.
            Exception: whatever ``receive`` raised for this message (a crash or a
                ``Refusal``), re-raised here.
        """
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 <= timeout < math.inf
        ):
            raise ConfigError(f"timeout: expected seconds >= 0 or None, got {timeout!r}")
        cell = self._cell
        if asyncio.current_task() is cell.task:
            raise AskSelfError(f"actor {cell.name!r} asked itself; use a direct call instead")
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        mailbox = cell.mailbox
        if not mailbox.put_nowait((message, reply)):
            start = loop.time()
            if mailbox.closed:
                cell.dead_letter(message)
                raise ActorStopped(f"actor {cell.name!r} is stopped")
            try:
                with anyio.fail_after(timeout):
                    await mailbox.put((message, reply))
            except MailboxClosed:
                cell.dead_letter(message)
                raise ActorStopped(f"actor {cell.name!r} stopped before replying") from None
            if timeout is not None:
                # the original deadline, in the original timeout's lane (not one per rest)
                cell.timers.expire_at(reply, start + timeout, timeout, cell.name)
            return await reply
        if timeout is not None:
            cell.timers.expire_after(reply, timeout, cell.name)
        return await reply
