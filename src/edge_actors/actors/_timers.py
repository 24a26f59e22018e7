"""Ask deadlines with one event-loop timer per distinct timeout (layer: actors).

A timer per ``ask`` (``loop.call_later`` + ``cancel``) costs more than the rest of a
round trip, notably on uvloop. Asks with the same timeout expire in the order they were
made, so each distinct timeout gets a FIFO *lane* of ``(deadline, reply)`` and a single
timer armed for the oldest still-pending deadline. Entries whose reply is already done are
pruned from both ends as new asks arrive and when the timer fires, so a lane holds about
as many entries as there are asks in flight.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

__all__ = ["AskTimers"]


class _Lane:
    __slots__ = ("entries", "handle", "loop", "time", "timeout")

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.time = loop.time
        self.timeout = timeout
        self.entries: deque[tuple[float, asyncio.Future[Any], str]] = deque()
        self.handle: asyncio.TimerHandle | None = None

    def add(self, reply: asyncio.Future[Any], name: str) -> None:
        entries = self.entries
        while entries and entries[-1][1].done():
            entries.pop()
        while entries and entries[0][1].done():
            entries.popleft()
        deadline = self.time() + self.timeout
        entries.append((deadline, reply, name))
        if self.handle is None:
            self.handle = self.loop.call_at(deadline, self.fire)

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

    def expire_after(self, reply: asyncio.Future[Any], timeout: float, name: str) -> None:
        """Fail ``reply`` with ``TimeoutError`` if it is still pending after ``timeout`` s."""
        lane = self._lanes.get(timeout)
        if lane is None:
            lane = self._lanes[timeout] = _Lane(asyncio.get_running_loop(), timeout)
        lane.add(reply, name)

    def close(self) -> None:
        """Cancel every timer (the system is gone; nobody waits on these replies)."""
        for lane in self._lanes.values():
            lane.close()
        self._lanes.clear()
