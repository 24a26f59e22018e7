"""The bounded actor mailbox with its unbounded control lane (layer: actors).

Two FIFO lanes per actor: the *user* lane is bounded (``capacity``) and gives
backpressure to senders; the *control* lane (stop, restart, kill, watch notices,
supervisor decisions) is unbounded and always read first, so system messages are never
stuck behind a full user mailbox. There is exactly one consumer (the actor's own task).

The hot path is lean on purpose: ``put_nowait`` is an ``append`` plus, only when the
consumer is parked, one future completion; no task, lock or log per message.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

__all__ = ["Envelope", "Mailbox", "MailboxClosed"]

Envelope = tuple[Any, "asyncio.Future[Any] | None"]
"""A user message and the reply future of its ``ask`` (``None`` for a ``tell``)."""


class MailboxClosed(Exception):
    """Internal: the mailbox was closed while a sender waited for room."""


class Mailbox:
    """Bounded user lane + unbounded control lane, single consumer.

    Senders that find the user lane full wait in FIFO order (``put``); a woken sender goes
    back to the head of the queue, so per-sender FIFO holds and no message is dropped.
    """

    __slots__ = ("capacity", "closed", "control", "putters", "user", "waiter")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.user: deque[Envelope] = deque()
        self.control: deque[object] = deque()
        self.putters: deque[asyncio.Future[None]] = deque()
        self.closed = False
        self.waiter: asyncio.Future[None] | None = None

    def put_nowait(self, envelope: Envelope) -> bool:
        """Queue ``envelope`` if there is room and nobody is waiting before us.

        Returns:
            ``True`` when queued, ``False`` when full (or closed); never blocks.
        """
        user = self.user
        if len(user) >= self.capacity or self.putters or self.closed:
            return False
        user.append(envelope)
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)
        return True

    async def put(self, envelope: Envelope) -> None:
        """Queue ``envelope``, waiting for room while the user lane is full.

        Backpressure: waits (FIFO among waiting senders) and never drops. Cancellation:
        the envelope is not queued, and a wake-up this sender already received is passed
        on to the next waiting sender.

        Raises:
            MailboxClosed: the actor terminated while we waited; nothing was queued.
        """
        if self.put_nowait(envelope):
            return
        loop = asyncio.get_running_loop()
        first_try = True
        while True:
            if self.closed:
                raise MailboxClosed
            fut: asyncio.Future[None] = loop.create_future()
            if first_try:
                self.putters.append(fut)
            else:
                self.putters.appendleft(fut)
            first_try = False
            try:
                await fut
            except BaseException:
                if fut in self.putters:
                    self.putters.remove(fut)
                elif not fut.cancelled():
                    self.wake_putter()
                raise
            if self.closed:
                raise MailboxClosed
            if len(self.user) < self.capacity:
                self.user.append(envelope)
                self.wake_consumer()
                if len(self.user) < self.capacity:
                    self.wake_putter()
                return

    def put_control(self, item: object) -> None:
        """Queue a system message on the unbounded control lane (never blocks)."""
        self.control.append(item)
        self.wake_consumer()

    def wake_consumer(self) -> None:
        """Wake the consumer if it is parked in :meth:`wait`."""
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def wake_putter(self) -> None:
        """Wake the first sender waiting for room, if any."""
        putters = self.putters
        while putters:
            fut = putters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    async def wait(self) -> None:
        """Park the consumer until either lane has an item.

        Cancellation: returns nothing and leaves both lanes untouched.
        """
        if self.user or self.control:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiter = fut
        try:
            await fut
        finally:
            self.waiter = None

    async def wait_control(self) -> object:
        """Wait for and pop the next control item, ignoring the user lane."""
        while not self.control:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.waiter = fut
            try:
                await fut
            finally:
                self.waiter = None
        return self.control.popleft()

    def close(self) -> list[Envelope]:
        """Close the mailbox: wake every waiting sender and return the unread messages."""
        self.closed = True
        pending = list(self.user)
        self.user.clear()
        while self.putters:
            fut = self.putters.popleft()
            if not fut.done():
                fut.set_result(None)
        return pending
