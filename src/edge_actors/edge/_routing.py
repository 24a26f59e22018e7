"""The routing table and write holds: what a cutover flips (edge layer).

:class:`RoutingTable` keeps each workload's status (``active`` / ``incoming`` / ``moved``
plus ``moved_to``) in the edge's state log under the data directory, durable on every
change (:mod:`._state_log`, :mod:`._edge_state`), so routing survives a restart.
:class:`WriteGate` admits a workload's data writes: it counts the ones in flight and,
while a hold is in place, queues new ones in arrival order until
:meth:`WriteGate.release` lets them through: one by one, or all in one loop turn when
they are forwarded to a new edge.
"""

from __future__ import annotations

import collections
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import msgspec

from edge_actors.clock import SYSTEM_CLOCK

from ._models import WorkloadStatus
from ._refusals import HeldQueueFull, Refusal

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from edge_actors.clock import Clock

    from ._state_log import StateLog, StateTable

__all__ = [
    "GateClosed",
    "HeldBytes",
    "Route",
    "RoutingTable",
    "WriteGate",
]


class GateClosed(Refusal):
    """The daemon is shutting down: a write waiting on a hold was turned away."""

    code = "shutting_down"


class Route(msgspec.Struct, frozen=True):
    """The routing status of one workload; ``moved_to`` is set exactly when ``moved``.

    ``migration_id`` binds the copy here to one migration: the one it was created
    ``incoming`` for, or the one that moved it away (the source side of that migration's
    rollback). Peer streams must name it (:mod:`._peer_api`). It survives status changes
    (activation, an undo back to ``incoming``) until another migration takes the copy
    over or it is dropped.
    """

    status: WorkloadStatus
    moved_to: str | None = None
    migration_id: str | None = None


class RoutingTable:
    """Routing status per workload, persisted as the ``routes`` table of the edge's state
    log (``edge.state`` and ``edge.log``: :mod:`._edge_state`).

    A workload with a store but no entry is ``active``. Writes are durable before they
    return (:class:`~._state_log.StateLog`): a status change is acknowledged only once
    it would survive a power loss, and a write costs what changed, not the whole table.

    Args:
        table: Where the routes are kept.
    """

    def __init__(self, table: StateTable[Route]) -> None:
        self._routes = table

    @property
    def state(self) -> StateLog:
        """The state log the table is kept in (a save writes all of its tables)."""
        return self._routes.log

    def get(self, name: str) -> Route | None:
        """Return the route of ``name``, or ``None`` when the table has no entry."""
        return self._routes.get(name)

    def items(self) -> list[tuple[str, Route]]:
        """Return every ``(name, route)`` entry, sorted by name."""
        return sorted(self._routes.items())

    def put(self, name: str, route: Route) -> None:
        """Set the route of ``name`` in memory only: :meth:`save` makes it durable.

        For a cutover's flip, which releases its hold first and persists after (the
        ``retiring_to`` mark already covers a crash in between: ``_cutover``).
        """
        self._routes.set(name, route)

    async def save(self) -> None:
        """Persist the table as it is now; the fsync runs in a worker thread."""
        await self._routes.save()

    def forget(self, name: str) -> bool:
        """Forget ``name`` in memory only (:meth:`save` makes it durable); whether it had
        an entry."""
        return self._routes.pop(name) is not None

    async def remove(self, name: str) -> None:
        """Forget ``name`` (it becomes ``active`` if a store exists) and persist (the fsync
        runs in a worker thread).

        Raises:
            StateNotDurable: Not written; the entry in memory is put back as it was
                (unless set again meanwhile).
        """
        before = self._routes.pop(name)
        if before is None:
            return
        try:
            await self._routes.save()
        except BaseException:
            if self._routes.get(name) is None:
                self._routes.set(name, before)  # written by the next save, after the removal
            raise


class HeldBytes:
    """The bytes of writes waiting on holds, over every gate of one edge, and their bound.

    Args:
        limit: Most bytes of queued writes at once (``max_held_bytes``).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int, workload: str) -> None:
        """Count ``size`` more queued bytes.

        Raises:
            HeldQueueFull: They would exceed :attr:`limit` (nothing counted).
        """
        if self.used + size > self.limit:
            raise HeldQueueFull(
                f"write to {workload!r} not queued: writes waiting on holds already take "
                f"{self.used} of {self.limit} bytes (max_held_bytes); retry after the hold"
            )
        self.used += size

    def give(self, size: int) -> None:
        """Stop counting ``size`` queued bytes (the write ran, left or was turned away)."""
        self.used -= size


class _Waiter:
    __slots__ = ("closed", "go")

    def __init__(self) -> None:
        self.go = anyio.Event()
        self.closed = False


class WriteGate:
    """Admission of one workload's writes: in-flight count, hold and ordered release.

    Released writes run one at a time in arrival order: each one, when it finishes, lets
    the next queued one go (a relay), so releasing needs no task of its own. Writes that
    arrive while the queue drains join its end. Not thread-safe: the daemon's loop only.

    Attributes:
        hold_id: Changes on every hold, renewal and release (tells leases apart).
        lease: The cancel scope of the current hold's lease task, if any.

    Args:
        name: The workload.
        clock: Times the hold (``held_ms`` of :meth:`release`).
        held_bytes: Bounds the bytes of queued writes (shared by an edge's gates);
            ``None``: unbounded.
    """

    def __init__(
        self, name: str, clock: Clock = SYSTEM_CLOCK, held_bytes: HeldBytes | None = None
    ) -> None:
        self.name = name
        self._held_bytes = held_bytes
        self.hold_id = 0
        self.lease: anyio.CancelScope | None = None
        self._clock = clock
        self._inflight = 0
        self._idle = anyio.Event()
        self._idle.set()
        self._held_since: float | None = None
        self._queue: collections.deque[_Waiter] = collections.deque()
        self._relay: _Waiter | None = None  # the released write now running
        self._closed = False

    @property
    def held(self) -> bool:
        """Whether a hold is in place."""
        return self._held_since is not None

    @property
    def held_since(self) -> float | None:
        """When the current hold began (the clock's monotonic time), or ``None``."""
        return self._held_since

    @property
    def inflight(self) -> int:
        """Writes admitted and not yet finished."""
        return self._inflight

    @property
    def queued(self) -> int:
        """Writes waiting for a release (or for their turn after one)."""
        return len(self._queue)

    @asynccontextmanager
    async def admit(self, size: int = 0) -> AsyncIterator[bool]:
        """Admit one write of ``size`` bytes for the duration of the ``async with`` body.

        While a hold is in place, or released writes are still draining, the caller
        waits at the end of the queue; after a release the queued writes run one at a
        time, in arrival order. Yields whether the write had to wait. A queued write's
        ``size`` counts against the edge's :class:`HeldBytes` until it has run.

        Cancellation: a write cancelled while queued leaves the queue and never runs; one
        cancelled after its turn came passes the turn on.

        Raises:
            GateClosed: The gate was closed (daemon shutdown) before the write ran.
            HeldQueueFull: The write would wait, and the queued bytes are at their bound.
        """
        waiter: _Waiter | None = None
        counted = 0
        if self._closed:
            raise GateClosed(f"edge is shutting down; write to {self.name!r} not taken")
        if self._held_since is not None or self._queue or self._relay is not None:
            if self._held_bytes is not None:
                self._held_bytes.take(size, self.name)
                counted = size
            waiter = _Waiter()
            self._queue.append(waiter)
            try:
                await waiter.go.wait()
            except BaseException:
                self._uncount(counted)
                if waiter.go.is_set():
                    if not waiter.closed:
                        self._end_inflight()  # counted when its turn was granted
                    self._pass_turn(waiter)
                else:
                    self._queue.remove(waiter)
                raise
            if waiter.closed:
                self._uncount(counted)
                raise GateClosed(f"edge is shutting down; held write to {self.name!r} dropped")
        else:
            self._begin_inflight()
        try:
            yield waiter is not None
        finally:
            self._uncount(counted)
            self._end_inflight()
            if waiter is not None:
                self._pass_turn(waiter)

    def _uncount(self, size: int) -> None:
        if size and self._held_bytes is not None:
            self._held_bytes.give(size)

    def _begin_inflight(self) -> None:
        self._inflight += 1
        if self._inflight == 1:
            self._idle = anyio.Event()

    def _end_inflight(self) -> None:
        self._inflight -= 1
        if self._inflight == 0:
            self._idle.set()

    def begin_hold(self) -> int:
        """Start holding new writes (or renew a hold in place); return the hold's id.

        Holding a held gate keeps the original start time and gives a new id (the daemon
        uses the id to tell a renewed lease from an expired one).
        """
        if self._held_since is None:
            self._held_since = self._clock.monotonic()
        self.hold_id += 1
        return self.hold_id

    async def wait_idle(self) -> None:
        """Wait until every admitted write has finished (none are in flight).

        Cancellation: nothing changes; the hold, if any, stays in place.
        """
        while self._inflight:
            await self._idle.wait()

    def release(self, *, all_at_once: bool = False) -> tuple[int, float]:
        """End the hold and let the queued writes go, one at a time, in arrival order.

        ``all_at_once``: let every queued write go in the same loop turn, in arrival
        order, instead (a release to a new edge: each only queues itself for the
        forward, in the order it resumes, and the forward carries them in one batch).
        One at a time, ten held writes took ten turns of a busy loop to reach the
        forward (2 ms in ``peers.py``). A write released so counts as in flight from
        the release, as one given its turn does.

        Returns:
            ``(held_writes, held_ms)``: writes queued at this moment and how long the hold
            lasted, in milliseconds. ``(0, 0.0)`` when not held.
        """
        if self._held_since is None:
            return 0, 0.0
        held_ms = (self._clock.monotonic() - self._held_since) * 1000.0
        count = len(self._queue)
        self._held_since = None
        self.hold_id += 1
        if self._relay is None:
            if all_at_once:
                self._wake_all()
            else:
                self._wake_next()
        return count, held_ms

    def close(self) -> None:
        """Turn away every queued and future write with :class:`GateClosed` (shutdown)."""
        self._closed = True
        while self._queue:
            waiter = self._queue.popleft()
            waiter.closed = True
            waiter.go.set()

    def _pass_turn(self, waiter: _Waiter) -> None:
        if self._relay is waiter:
            self._relay = None
            self._wake_next()

    def _wake_all(self) -> None:
        while self._queue:
            waiter = self._queue.popleft()
            self._begin_inflight()
            waiter.go.set()

    def _wake_next(self) -> None:
        if self._held_since is not None or not self._queue:
            return
        waiter = self._queue.popleft()
        self._relay = waiter
        # In flight from the grant on, not from when its task resumes: a hold taken in
        # between must wait for it (else it answers an LSN the write then exceeds).
        self._begin_inflight()
        waiter.go.set()
