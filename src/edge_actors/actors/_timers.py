"""Ask deadlines with one event-loop timer per distinct timeout (layer: actors).

A timer per ``ask`` (``loop.call_later`` + ``cancel``) costs more than the rest of a
round trip, notably on uvloop. Asks with the same timeout expire in the order they were
made, so each distinct timeout gets a FIFO *lane* of ``(deadline, reply)`` and a single
timer armed for the oldest still-pending deadline. Entries whose reply is already done are
pruned from both ends as new asks arrive and when the timer fires, so a lane holds about
as many entries as there are asks in flight; a lane left empty when its timer fires is
removed, so the number of lanes is bounded by the distinct timeouts in flight.

An ask that first waited for mailbox room keeps the lane of its *original* timeout and its
original deadline (:meth:`AskTimers.expire_at`): it is inserted in deadline order, which
is at most a few steps from the end.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

__all__ = ["AskTimers"]


class _Lane:
    __slots__ = ("entries", "handle", "loop", "owner", "time", "timeout")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, timeout: float, owner: dict[float, _Lane]
    ) -> None:
        self.loop = loop
        self.time = loop.time
        self.timeout = timeout
        self.owner = owner
        self.entries: deque[tuple[float, asyncio.Future[Any], str]] = deque()
        self.handle: asyncio.TimerHandle | None = None

    def _prune_ends(self) -> None:
        entries = self.entries
        while entries and entries[-1][1].done():
            entries.pop()
        while entries and entries[0][1].done():
            entries.popleft()

    def add(self, reply: asyncio.Future[Any], name: str) -> None:
        entries = self.entries  # _prune_ends inlined: this runs once per ask
        while entries and entries[-1][1].done():
            entries.pop()
        while entries and entries[0][1].done():
            entries.popleft()
        deadline = self.time() + self.timeout
        entries.append((deadline, reply, name))
        if self.handle is None:
            self.handle = self.loop.call_at(deadline, self.fire)

    def add_at(self, reply: asyncio.Future[Any], name: str, deadline: float) -> None:
        self._prune_ends()
        entries = self.entries
        index = len(entries)
        while index and entries[index - 1][0] > deadline:
            index -= 1
        entries.insert(index, (deadline, reply, name))
        if index == 0 and self.handle is not None:
            self.handle.cancel()
            self.handle = None
        if self.handle is None:
            self.handle = self.loop.call_at(entries[0][0], self.fire)

    def fire(self) -> None:
        self.handle = None
        now = self.loop.time()
        entries = self.entries
        while entries:
            deadline, reply, name = entries[0]
            if reply.done():
                entries.popleft()
            elif deadline <= now:
                entries.popleft()
                reply.set_exception(
                    TimeoutError(f"ask to actor {name!r} got no reply within {self.timeout}s")
                )
            else:
                self.handle = self.loop.call_at(deadline, self.fire)
                return
        if self.owner.get(self.timeout) is self:
            del self.owner[self.timeout]

    def close(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        self.entries.clear()


class AskTimers:
    """Expire ask replies with ``TimeoutError``; one instance per actor system (one loop)."""

    __slots__ = ("_lanes",)

    def __init__(self) -> None:
        self._lanes: dict[float, _Lane] = {}

    @property
    def lanes(self) -> int:
        """How many lanes (distinct timeouts with a pending timer) exist now."""
        return len(self._lanes)

    def _lane(self, timeout: float) -> _Lane:
        lane = self._lanes.get(timeout)
        if lane is None:
            lane = self._lanes[timeout] = _Lane(asyncio.get_running_loop(), timeout, self._lanes)
        return lane

    def expire_after(self, reply: asyncio.Future[Any], timeout: float, name: str) -> None:
        """Fail ``reply`` with ``TimeoutError`` if it is still pending after ``timeout`` s."""
        lane = self._lanes.get(timeout)  # not via _lane(): this runs once per ask
        if lane is None:
            lane = self._lane(timeout)
        lane.add(reply, name)

    def expire_at(
        self, reply: asyncio.Future[Any], deadline: float, timeout: float, name: str
    ) -> None:
        """Like :meth:`expire_after` for an ask made earlier: expire at loop time ``deadline``.

        ``timeout`` is the ask's original timeout (its lane and its error message).
        """
        self._lane(timeout).add_at(reply, name, deadline)

    def close(self) -> None:
        """Cancel every timer (the system is gone; nobody waits on these replies)."""
        for lane in self._lanes.values():
            lane.close()
        self._lanes.clear()
