"""The routing table and write holds: what a cutover flips (edge layer).

:class:`RoutingTable` keeps each workload's status (``active`` / ``incoming`` / ``moved``
plus ``moved_to``) in a small JSON file under the data directory, replaced atomically on
every change, so routing survives a restart. :class:`WriteGate` admits a workload's data
writes: it counts the ones in flight and, while a hold is in place, queues new ones in
arrival order until :meth:`WriteGate.release` lets them through one by one.
"""

from __future__ import annotations

import collections
import os
import threading
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

import anyio
import msgspec

from edge_actors._private_files import open_private
from edge_actors.clock import SYSTEM_CLOCK

from ._errors import EdgeError
from ._models import WorkloadStatus
from ._refusals import HeldQueueFull, Refusal

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from edge_actors.clock import Clock

__all__ = [
    "GateClosed",
    "HeldBytes",
    "Route",
    "RoutingTable",
    "StateFile",
    "WriteGate",
    "read_state_file",
    "write_state_file",
]

_T = TypeVar("_T")


def read_state_file(path: Path, kind: type[_T], what: str) -> _T | None:
    """Decode the JSON state file ``path`` as ``kind`` (``None`` when it does not exist).

    Raises:
        EdgeError: The file exists but cannot be read or decoded (named as ``what``).
    """
    if not path.exists():
        return None
    try:
        return msgspec.json.decode(path.read_bytes(), type=kind)
    except (OSError, msgspec.DecodeError) as exc:
        raise EdgeError(f"{what} {str(path)!r} is unreadable: {exc}") from None


def write_state_file(path: Path, value: object) -> None:
    """Replace the JSON state file ``path`` with ``value``, durably (fsync, then rename)."""
    _replace_durably(path, msgspec.json.encode(value))


def _replace_durably(path: Path, body: bytes) -> None:
    tmp = path.with_suffix(".json.tmp")
    with os.fdopen(open_private(tmp), "wb") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class StateFile:
    """A JSON state file replaced durably, from the loop or from worker threads, in order.

    Every write encodes its snapshot of the whole state on the caller's thread (the loop,
    which owns the state) and takes a sequence number; the file is replaced under a lock,
    and a snapshot older than the one already on disk is skipped (the newer one contains
    its change). So :meth:`write_async` can fsync off the loop while other writes go on,
    and the file never goes back to an older state.

    Writes that wait for the lock are committed as a group: the one that gets it replaces
    the file with the *newest* snapshot taken so far, which contains every waiting
    write's change, and the others then find theirs on disk and return. Concurrent
    activations on a target (a wide plan cuts over up to ``parallel_transfers`` workloads
    at once) thus wait for at most two fsyncs (the one in progress and one more), not one
    per activation in a row.

    Args:
        path: The file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seq = 0
        self._newest: tuple[int, bytes] = (0, b"")
        self._on_disk = 0
        self.replaced = 0
        """How many times the file was replaced (a group of writes counts once)."""

    def write(self, value: object) -> None:
        """Replace the file with ``value`` durably, on this thread (blocks for the fsync)."""
        self._store(self._snapshot(value))

    async def write_async(self, value: object) -> None:
        """Replace the file with ``value`` durably; the fsync runs in a worker thread.

        Cancellation: waits for the write to finish (it is not abandoned halfway).
        """
        await anyio.to_thread.run_sync(self._store, self._snapshot(value))

    def _snapshot(self, value: object) -> int:
        self._seq += 1
        self._newest = (self._seq, msgspec.json.encode(value))
        return self._seq

    def _store(self, seq: int) -> None:
        with self._lock:
            if seq <= self._on_disk:
                return
            newest, body = self._newest  # one read: the loop replaces the tuple whole
            _replace_durably(self.path, body)
            self._on_disk = newest
            self.replaced += 1


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


class _RoutingFile(msgspec.Struct):
    version: int
    routes: dict[str, Route]


class RoutingTable:
    """Routing status per workload, persisted as ``<data_dir>/routing.json``.

    A workload with a store but no entry is ``active``. Writes are synchronous (a few
    hundred bytes, ``fsync`` then ``os.replace``): status changes are rare and must be
    durable before the change is acknowledged.
    """

    def __init__(self, path: Path) -> None:
        self._file = StateFile(path)
        self._routes: dict[str, Route] = {}
        data = read_state_file(path, _RoutingFile, "routing table")
        if data is not None:
            self._routes = dict(data.routes)

    def get(self, name: str) -> Route | None:
        """Return the route of ``name``, or ``None`` when the table has no entry."""
        return self._routes.get(name)

    def items(self) -> list[tuple[str, Route]]:
        """Return every ``(name, route)`` entry, sorted by name."""
        return sorted(self._routes.items())

    def set(self, name: str, route: Route) -> None:
        """Set and persist the route of ``name``."""
        self._routes[name] = route
        self._save()

    def put(self, name: str, route: Route) -> None:
        """Set the route of ``name`` in memory only: :meth:`save` makes it durable.

        For a cutover's flip, which releases its hold first and persists after (the
        ``retiring_to`` mark already covers a crash in between: ``_cutover``).
        """
        self._routes[name] = route

    async def save(self) -> None:
        """Persist the table as it is now; the fsync runs in a worker thread."""
        await self._file.write_async(self._body())

    def save_now(self) -> None:
        """Persist the table as it is now, on this thread (blocks for the fsync)."""
        self._save()

    def forget(self, name: str) -> bool:
        """Forget ``name`` in memory only (:meth:`save` makes it durable); whether it had
        an entry."""
        return self._routes.pop(name, None) is not None

    def remove(self, name: str) -> None:
        """Forget ``name`` (it becomes ``active`` if a store exists) and persist."""
        if self._routes.pop(name, None) is not None:
            self._save()

    def _save(self) -> None:
        self._file.write(self._body())

    def _body(self) -> _RoutingFile:
        return _RoutingFile(version=1, routes=self._routes)


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

    def release(self) -> tuple[int, float]:
        """End the hold and let the queued writes go, one at a time, in arrival order.

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

    def _wake_next(self) -> None:
        if self._held_since is not None or not self._queue:
            return
        waiter = self._queue.popleft()
        self._relay = waiter
        # In flight from the grant on, not from when its task resumes: a hold taken in
        # between must wait for it (else it answers an LSN the write then exceeds).
        self._begin_inflight()
        waiter.go.set()
