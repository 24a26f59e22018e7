"""Holds first: background copies on an edge give way while urgent work runs (edge layer).

:class:`UrgentWork` counts this edge's urgent work: a cutover's hold on the source (from
the hold to the release) and a cutover's activation on the target. It is the
:class:`~edge_actors.transfer.CopyYield` every *background* outgoing transfer of the edge
is given (the transfer layer only knows that protocol): at each chunk boundary a copy
awaits :meth:`UrgentWork.wait_turn`, which returns at once while nothing urgent runs and
otherwise pauses the copy until the urgent work ends. The cutover's own final delta is
not a background copy (it gets ``NEVER_YIELD``), so it never waits on its own hold.

Every entry carries a bound (``until``, on the edge's clock): a wait ends when the last
entry ends or when every entry still registered has outlived its bound, so urgent work
that is never ended (a bug, a stuck call) slows copies down for at most that long and
never stalls them. Pauses are counted in the metrics (``edge_transfer_yield_pauses``,
``edge_transfer_yield_seconds``) so a run shows that they happened.

While an entry is registered the process is set up for urgent work
(:func:`~edge_actors._urgent_process.urgent_process`): its cyclic garbage collector is off
(a full collection holds the GIL for tens of milliseconds, which a hold or an activation
cannot afford) and the GIL's switch interval is short (the cutover's threads and loop
get the GIL back from the copies' threads within half a millisecond rather than five).

Owned by the daemon's event loop (no locks): entries are added and removed by the
cutover's own task, waits by the copies' tasks.
"""

from __future__ import annotations

import itertools
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

import anyio

from edge_actors._urgent_process import urgent_process

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from edge_actors.clock import Clock

    from ._metrics import DaemonMetrics

__all__ = ["UrgentWork"]


class UrgentWork:
    """The urgent work running on one edge, and the gate background copies wait at.

    Args:
        edge: The edge name (metric labels).
        metrics: The daemon's metrics (copy pauses and seconds paused).
        clock: The clock entries' bounds and paused seconds are read on (the daemon's).
    """

    def __init__(self, edge: str, metrics: DaemonMetrics, clock: Clock) -> None:
        self._edge = edge
        self._clock = clock
        self._pauses = metrics.yield_pauses.labels(edge)
        self._paused_s = metrics.yield_seconds.labels(edge)
        self._entries: dict[int, float] = {}
        self._ids = itertools.count()
        self._ended = anyio.Event()
        self._ended.set()
        self._begun = anyio.Event()

    @property
    def active(self) -> int:
        """Urgent work registered right now (entries past their bound included)."""
        return len(self._entries)

    @contextmanager
    def running(self, until: float) -> Iterator[Callable[[], None]]:
        """Register urgent work for the ``with`` block; copies wait at most until ``until``.

        The garbage collector stays off and the GIL's switch interval short until the
        work ends (module doc).

        Args:
            until: The latest time (``clock.monotonic()``) copies wait for this work,
                should it not end before (a hold's deadline, its lease).

        Yields:
            A function that ends the work early (idempotent; the block's end calls it).
        """
        key = next(self._ids)
        if not self._entries:
            self._ended = anyio.Event()
            self._begun.set()
        self._entries[key] = until
        process = ExitStack()
        process.enter_context(urgent_process(self._clock))

        def end() -> None:
            process.close()
            if self._entries.pop(key, None) is not None and not self._entries:
                self._ended.set()
                self._begun = anyio.Event()

        try:
            yield end
        finally:
            end()

    async def begun(self) -> None:
        """Return once some urgent work is registered (at once if some is now).

        Cancellation: cancellable.
        """
        await self._begun.wait()

    async def wait_turn(self) -> None:
        """Return when no urgent work runs, or when all of it outlived its bound.

        Returns at once (no checkpoint) when nothing urgent is registered, so a copy pays
        nothing while the edge has no cutover. Counts one pause and its seconds otherwise.

        Cancellation: cancellable; the pause's seconds are still counted.
        """
        if not self._entries:
            return
        began = self._clock.monotonic()
        if max(self._entries.values()) <= began:
            return
        self._pauses.inc()
        try:
            while self._entries:
                left = max(self._entries.values()) - self._clock.monotonic()
                if left <= 0:
                    return
                await self._wait_ended(left)
        finally:
            self._paused_s.inc(max(0.0, self._clock.monotonic() - began))

    async def _wait_ended(self, seconds: float) -> None:
        """Wait for the current urgent work to end, at most ``seconds`` of the clock."""
        ended = self._ended
        async with anyio.create_task_group() as tg:

            async def bound() -> None:
                await self._clock.sleep(seconds)
                tg.cancel_scope.cancel()

            tg.start_soon(bound)
            await ended.wait()
            tg.cancel_scope.cancel()
