"""Copied waves of a pipelined stage, on their way to its cutovers (layer: migration).

A pipelined stage (``_phases.py``) runs two tasks of one migration run: one copies waves
of workloads, the other cuts copied workloads over. :class:`WaveHandoff` is what they
share, in the run's task group only: the copy task :meth:`~WaveHandoff.put` s each copied
wave, the cutover task :meth:`~WaveHandoff.take` s every wave waiting into its pool and
reports how many workloads its pool still has. The copy task waits while that pool is
full (``limit`` workloads), so copies never run far ahead of cutovers: a copied workload
that waits long for its cutover only grows its gap, and the run's memory stays that of a
few waves. While the pool has workloads to cut over, copies run at most ``copies_beside``
at once (:meth:`~WaveHandoff.copy_slot`), so every hold shares the source and the target
with fewer copies; with nothing to cut over, ``copies`` run. The cutover task can also
hold new copies back (:meth:`~WaveHandoff.quiet`)
while cutovers keep being undone: no new copy starts, and the cutover task waits for the
copies in flight (:meth:`~WaveHandoff.until_no_copy`), so its next cutover runs on a
source and a target that copy nothing else.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from edge_actors.clock import Clock

__all__ = ["WaveHandoff"]


class WaveHandoff:
    """Waves from a pipelined stage's copy task to its cutover task (see the module doc).

    Args:
        limit: workloads the cutover pool may hold (waiting or being cut over) before
            the copy task waits to hand over the next wave.
        copies: copies at once while the pool is empty.
        copies_beside: copies at once while the pool has workloads (at least 1).
    """

    def __init__(self, limit: int, copies: int = 1, copies_beside: int = 1) -> None:
        self._limit = limit
        self._copies = copies
        self._copies_beside = max(1, min(copies, copies_beside))
        self._copy_slots = anyio.CapacityLimiter(copies)
        self._waves: list[list[str]] = []
        self._pool = 0
        self._changed = anyio.Event()
        self._quiet = False
        self._copying = 0
        self.closed = False
        """No more waves come (the copy task is done)."""

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def put(self, wave: list[str]) -> None:
        """Hand over a copied wave, once the cutover pool has room for it."""
        while self._waves or self._pool >= self._limit:
            await self._changed.wait()
        self._waves.append(list(wave))
        self._notify()

    def close(self) -> None:
        """No more waves (wakes a cutover task waiting for one)."""
        self.closed = True
        self._notify()

    def take(self) -> list[str]:
        """Every workload handed over and not taken yet, in order."""
        taken = [w for wave in self._waves for w in wave]
        if taken:
            self._waves.clear()
            self._notify()
        return taken

    def report(self, pool: int) -> None:
        """The cutover task's pool now holds ``pool`` workloads."""
        if pool != self._pool:
            self._pool = pool
            # Copies already running keep their slots: the new limit applies to the next.
            self._copy_slots.total_tokens = self._copies_beside if pool else self._copies
            self._notify()

    @asynccontextmanager
    async def copy_slot(self) -> AsyncIterator[None]:
        """Run one copy: once the cutover task lets copies start and one of the copy
        slots (as many as the pool allows now) is free."""
        while True:
            await self.copy_allowed()
            async with self._copy_slots:
                if self._quiet:
                    continue  # held back while it waited for the slot
                self._copying += 1
                try:
                    yield
                finally:
                    self._copying -= 1
                    self._notify()
                return

    def quiet(self, on: bool) -> None:
        """Hold new copies back (``True``) or let them start again (``False``)."""
        if on != self._quiet:
            self._quiet = on
            self._notify()

    async def copy_allowed(self) -> None:
        """Wait while the cutover task holds new copies back."""
        while self._quiet:
            await self._changed.wait()

    async def until_no_copy(self) -> None:
        """Wait until no copy runs (with :meth:`quiet` on, none starts meanwhile)."""
        while self._copying:
            await self._changed.wait()

    @property
    def drained(self) -> bool:
        """Closed, and every wave taken."""
        return self.closed and not self._waves

    async def wait(self, clock: Clock, timeout_s: float | None = None) -> None:
        """Wait until a wave is handed over or the handoff closes, or ``timeout_s`` passes
        on ``clock`` (``None``: no timeout)."""
        if self._waves or self.closed:
            return
        changed = self._changed
        async with anyio.create_task_group() as tg:

            async def until_changed() -> None:
                await changed.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(until_changed)
            if timeout_s is not None:
                await clock.sleep(max(0.0, timeout_s))
                tg.cancel_scope.cancel()
