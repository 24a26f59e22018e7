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

A chunk that a target is already applying when urgent work begins would still run to
its end beside the hold or the activation (a 1,000-record chunk is about ten
milliseconds of one CPU here, mostly with the GIL held: validation and the digest). So a
background copy's apply also stops inside its chunk: its worker thread calls a pause
point (:meth:`UrgentWork.pause_point`) between pieces of the work, which blocks while
urgent work runs, within the same bounds and for at most :data:`GIVE_WAY_MAX_S` per
chunk. In a 100 x 10 MB wide plan an activation's final-delta apply used 1-3 ms of CPU
and took 6 / 20 / 40 ms (p50 / p90 / max): it waited to run. With chunks of 250 records
instead of 1,000 the activations took 8-10 / 17-18 ms (p50 / p90) instead of 13 / 27-31
(``docs/benchmarks.md``, session 11).

A copy's snapshot install ends with durable steps: the file's fsync (tens of milliseconds
for 10 MB here, most of a second per GB) and its move with the directory's sync. An
activation's own small fsyncs on the same file system wait behind such a flush (the
journal commits in order), so these steps run as **durable steps**
(:meth:`UrgentWork.durable_step`): each waits, like a pause point, while urgent work runs
or an activation is *expected*, then is counted until it ends. A cutover's source
announces its activation before it holds anything (:meth:`UrgentWork.expect`, the
``prepare`` call) and the target waits for the durable steps in flight to end
(:meth:`UrgentWork.settle`): the hold begins against a target with no flush in progress,
and none starts before the activation is over.

Owned by the daemon's event loop: entries and expectations are added and removed by the
cutovers' own tasks, waits by the copies' tasks. Pause points and durable steps run in
worker threads: they read what the loop publishes for them (an event, bounds) and count
themselves under one lock, which the loop takes only for an instant.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from contextlib import ExitStack, contextmanager, suppress
from typing import TYPE_CHECKING, Final

import anyio

from edge_actors._urgent_process import urgent_process

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from edge_actors.clock import Clock

    from ._metrics import DaemonMetrics

__all__ = ["UrgentWork"]

GIVE_WAY_MAX_S: Final = 0.1
"""The longest one background apply (one chunk) blocks at its pause points in all
(:meth:`UrgentWork.pause_point`), whatever the entries' bounds."""
_LEAST_BLOCK_S: Final = 0.001  # a chunk with less of its budget left does not block again
DURABLE_WAIT_MAX_S: Final = 0.25
"""The longest one durable step waits for urgent work or an expected activation to end
before it runs anyway (:meth:`UrgentWork.durable_step`)."""


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
        # For worker threads (pause points): set while nothing urgent runs, and the latest
        # bound of the registered entries; both written by the loop only.
        self._calm = threading.Event()
        self._calm.set()
        self._until = 0.0
        # Activations announced by a cutover's source, by workload: their bounds, and the
        # latest of them for worker threads. The lock also guards the count of durable
        # steps in flight; waiting threads are woken on it when work ends.
        self._quiet = threading.Condition()
        self._expected: dict[str, float] = {}
        self._expected_until = 0.0
        self._durable_steps = 0
        self._settle_waiters: list[Callable[[], None]] = []

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
        self._until = max(self._entries.values())
        self._calm.clear()
        process = ExitStack()
        process.enter_context(urgent_process(self._clock))

        def end() -> None:
            process.close()
            if self._entries.pop(key, None) is None:
                return
            if self._entries:
                self._until = max(self._entries.values())
            else:
                self._calm.set()
                self._ended.set()
                self._begun = anyio.Event()
                with self._quiet:
                    self._quiet.notify_all()

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

    def pause_point(self) -> Callable[[], None]:
        """A pause point for one background apply (one chunk), to call from its worker
        thread between pieces of the work (module doc).

        Each call returns at once while nothing urgent runs; otherwise it blocks until
        the work ends or its latest bound passes. All calls of one pause point together
        block for at most :data:`GIVE_WAY_MAX_S`, so a chunk is never held long, even by
        urgent work that waits for that chunk's own store. Pauses are counted as
        :meth:`wait_turn` counts them. Never call one on the loop: it would block the
        urgent work it waits for.
        """
        budget = [GIVE_WAY_MAX_S]

        def give_way() -> None:
            if budget[0] > _LEAST_BLOCK_S and (
                not self._calm.is_set() or self._expected_until > self._clock.monotonic()
            ):
                with self._quiet:
                    budget[0] -= self._block(budget[0])

        return give_way

    @contextmanager
    def durable_step(self) -> Iterator[None]:
        """Run the ``with`` block (a worker thread's fsync or file move) as a durable step.

        First waits while urgent work runs or an activation is expected here, at most
        :data:`DURABLE_WAIT_MAX_S` and never past their bounds (counted as a pause); then
        counts the step as in flight until the block ends, so :meth:`settle` waits for it.
        Never call it on the loop: it would block the work it waits for.
        """
        with self._quiet:
            self._block(DURABLE_WAIT_MAX_S)
            self._durable_steps += 1
        try:
            yield
        finally:
            with self._quiet:
                self._durable_steps -= 1
                waiters = self._settle_waiters if self._durable_steps == 0 else []
                if waiters:
                    self._settle_waiters = []
            for settled in waiters:
                settled()

    @property
    def durable_steps(self) -> int:
        """Durable steps in flight right now (:meth:`durable_step`)."""
        return self._durable_steps

    def expect(self, workload: str, until: float) -> None:
        """Announce an activation of ``workload`` due here before ``until`` (the edge's
        clock): from now until :meth:`expected_done` or ``until``, durable steps wait and
        background applies pause at their pause points, as for urgent work."""
        now = self._clock.monotonic()
        with self._quiet:
            self._expected = {w: t for w, t in self._expected.items() if t > now}
            self._expected[workload] = until
            self._expected_until = max(self._expected.values())

    def expects(self, workload: str) -> bool:
        """Whether an activation of ``workload`` is expected here now (:meth:`expect`)."""
        return self._expected.get(workload, 0.0) > self._clock.monotonic()

    def expected_done(self, workload: str) -> None:
        """The expected activation of ``workload`` is over (ran, or will not come)."""
        with self._quiet:
            if self._expected.pop(workload, None) is None:
                return
            self._expected_until = max(self._expected.values(), default=0.0)
            self._quiet.notify_all()

    async def settle(self, most_s: float) -> int:
        """Wait until no durable step is in flight, at most ``most_s`` of the clock.

        Call it after :meth:`expect`: no new step begins meanwhile, so the wait ends when
        the steps already running end.

        Returns:
            The durable steps still in flight (0 unless the bound was reached).

        Cancellation: cancellable.
        """
        if self._durable_steps == 0:
            return 0
        loop = asyncio.get_running_loop()
        done = anyio.Event()

        def settled() -> None:
            with suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(done.set)

        with self._quiet:
            if self._durable_steps == 0:
                return 0
            self._settle_waiters.append(settled)
        try:
            await self._wait_for(done, most_s)
        finally:
            with self._quiet, suppress(ValueError):  # already called
                self._settle_waiters.remove(settled)
        return self._durable_steps

    def _busy_until(self) -> float:
        """Until when worker threads give way (the edge's clock; in the past: they go on):
        the latest bound of the urgent work running and of the activations expected."""
        busy = 0.0 if self._calm.is_set() else self._until
        return max(busy, self._expected_until)

    def _block(self, most_s: float) -> float:
        """Block this worker thread (``self._quiet`` held) while urgent work runs or an
        activation is expected, at most ``most_s`` and until their latest bound; return
        the real seconds it blocked."""
        if self._busy_until() <= self._clock.monotonic():
            return 0.0
        self._pauses.inc()
        began, started = self._clock.monotonic(), time.monotonic()
        try:
            while True:
                left = self._busy_until() - self._clock.monotonic()
                most = most_s - (time.monotonic() - started)
                if left <= 0 or most <= 0:
                    break
                self._quiet.wait(min(left, most))
        finally:
            self._paused_s.inc(max(0.0, self._clock.monotonic() - began))
        return time.monotonic() - started

    async def _wait_ended(self, seconds: float) -> None:
        """Wait for the current urgent work to end, at most ``seconds`` of the clock."""
        await self._wait_for(self._ended, seconds)

    async def _wait_for(self, event: anyio.Event, seconds: float) -> None:
        """Wait for ``event``, at most ``seconds`` of the clock."""
        async with anyio.create_task_group() as tg:

            async def bound() -> None:
                await self._clock.sleep(seconds)
                tg.cancel_scope.cancel()

            tg.start_soon(bound)
            await event.wait()
            tg.cancel_scope.cancel()
