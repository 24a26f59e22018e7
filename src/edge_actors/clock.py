"""Injectable time: wall time, monotonic time and sleep behind one small protocol.

A shared leaf (bottom of the import order). Logic that a test must control (time windows,
leases, checkpoint intervals, the rate limiter's refill, monitoring windows) reads time
through a :class:`Clock` instead of the ``time`` module, so a test can set the hour of day
or let a lease expire without waiting. :data:`SYSTEM_CLOCK` is the default everywhere;
:class:`ManualClock` is the test double (trio's ``MockClock`` is the model): its time moves
only when :meth:`ManualClock.advance` or :meth:`ManualClock.set_time` is called.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import threading
import time
from typing import Protocol, runtime_checkable

import anyio
import anyio.lowlevel

__all__ = ["SYSTEM_CLOCK", "Clock", "ManualClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """The three readings of time the engine uses."""

    def time(self) -> float:
        """Wall-clock time in seconds since the Unix epoch (like ``time.time()``)."""
        ...

    def monotonic(self) -> float:
        """A clock that never goes back, for intervals and deadlines (seconds)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time; cancellable like ``anyio.sleep``."""
        ...


class SystemClock:
    """The real clock: ``time.time()``, ``time.monotonic()`` and ``anyio.sleep``."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK: Clock = SystemClock()
"""The process-wide real clock, the default wherever a ``clock`` parameter is omitted."""


class _Sleeper:
    __slots__ = ("deadline", "future", "loop")

    def __init__(self, deadline: float, loop: asyncio.AbstractEventLoop) -> None:
        self.deadline = deadline
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ManualClock:
    """A clock whose time moves only when told to; sleepers wake when it passes their deadline.

    Wall and monotonic time advance together. :meth:`advance` may be called from any
    thread (the embedded runtime runs the engine on a background loop); sleepers are woken
    on their own event loop.

    Args:
        start: initial wall time, seconds since the epoch or an aware ``datetime``
            (default 2026-01-01T00:00:00Z).
        monotonic_start: initial monotonic reading (default 1000.0).
    """

    def __init__(
        self,
        start: float | dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        *,
        monotonic_start: float = 1000.0,
    ) -> None:
        self._lock = threading.Lock()
        self._offset = _epoch(start) - monotonic_start
        self._mono = float(monotonic_start)
        self._sleepers: list[_Sleeper] = []

    def time(self) -> float:
        with self._lock:
            return self._mono + self._offset

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    async def sleep(self, seconds: float) -> None:
        if math.isnan(seconds):
            raise ValueError("sleep seconds must be a number, got nan")
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        sleeper = _Sleeper(self.monotonic() + seconds, asyncio.get_running_loop())
        with self._lock:
            if sleeper.deadline <= self._mono:
                _wake(sleeper.future)
            else:
                self._sleepers.append(sleeper)
        try:
            await sleeper.future
        finally:
            with self._lock:
                if sleeper in self._sleepers:
                    self._sleepers.remove(sleeper)

    @property
    def sleepers(self) -> int:
        """How many sleeps are waiting on this clock (tests wait for a sleeper to appear)."""
        with self._lock:
            return len(self._sleepers)

    def next_deadline(self) -> float | None:
        """The earliest monotonic deadline of a waiting sleep, or None if none waits."""
        with self._lock:
            return min((s.deadline for s in self._sleepers), default=None)

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and wake every sleep whose deadline has passed."""
        if not seconds >= 0 or math.isinf(seconds):
            raise ValueError(f"advance takes a finite number of seconds >= 0, got {seconds!r}")
        with self._lock:
            self._mono += seconds
            due = [s for s in self._sleepers if s.deadline <= self._mono]
            self._sleepers = [s for s in self._sleepers if s.deadline > self._mono]
        for sleeper in due:
            if sleeper.loop.is_closed():
                continue
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is sleeper.loop:
                _wake(sleeper.future)
            else:
                sleeper.loop.call_soon_threadsafe(_wake, sleeper.future)

    def set_time(self, when: float | dt.datetime) -> None:
        """Move wall time to ``when`` (forward only, so monotonic time stays monotonic)."""
        target = _epoch(when)
        now = self.time()
        if target < now:
            raise ValueError(f"a ManualClock only moves forward: {target} < {now}")
        self.advance(target - now)

    def __repr__(self) -> str:
        return f"ManualClock(time={self.time()!r}, monotonic={self.monotonic()!r})"


def _epoch(when: float | dt.datetime) -> float:
    if isinstance(when, dt.datetime):
        if when.tzinfo is None:
            raise ValueError("a ManualClock needs an aware datetime (with tzinfo)")
        return when.timestamp()
    return float(when)
