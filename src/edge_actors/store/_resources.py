"""What the stores of one registry share: descriptors, page cache, threads (store layer).

A :class:`~edge_actors.store.StoreRegistry` makes one :class:`StoreResources` for all of
its stores, so the cost of a store that is not being used is a few hundred bytes of
Python objects: no thread, no connection, no cache. The housekeeping that closes idle
connections also gives the C heap's free memory back to the system when the process grew
(:class:`~._heap.HeapTrimmer`): what the stores' worker threads freed would otherwise stay
in their malloc arenas. A store opened on its own
(:meth:`WorkloadStore.open <edge_actors.store.WorkloadStore.open>` without
``resources=``) makes a small private one and closes it with the store.
"""

from __future__ import annotations

import anyio

from edge_actors.clock import SYSTEM_CLOCK, Clock

from ._budget import (
    DEFAULT_CACHE_MIB,
    DEFAULT_IDLE_CLOSE_S,
    DEFAULT_MAX_IDLE,
    FdBudget,
    default_fd_budget,
)
from ._checkpointer import DEFAULT_THREADS, CheckpointService
from ._heap import HeapTrimmer

__all__ = ["DEFAULT_IO_THREADS", "StoreResources"]

DEFAULT_IO_THREADS = 16
"""Most worker threads running store reads and writes at once, for all stores together."""


class StoreResources:
    """The descriptor and cache budget, checkpoint threads and I/O thread limit of stores.

    Args:
        fd_budget: Descriptors all store connections may hold together; ``None`` for
            :func:`~._budget.default_fd_budget` (half of ``RLIMIT_NOFILE`` less 128, capped).
        cache_mib: Page cache of all store connections together, in MiB.
        checkpoint_threads: Threads running WAL checkpoints for every store.
        io_threads: Most reads and writes running at once in worker threads.
        idle_close_s: Connections idle this long are closed (checked about once a
            second by a checkpoint thread); ``None``: only to make room.
        max_idle: Idle connections kept open at most (the least recently used beyond it
            are closed at the same check); ``None``: as many as the descriptors allow.
        clock: Decides when WAL checkpoints are due, how long a connection was idle and
            when the heap may be trimmed again.

    Raises:
        StoreError: A budget is below its minimum.
    """

    def __init__(
        self,
        *,
        fd_budget: int | None = None,
        cache_mib: int = DEFAULT_CACHE_MIB,
        checkpoint_threads: int = DEFAULT_THREADS,
        io_threads: int = DEFAULT_IO_THREADS,
        idle_close_s: float | None = DEFAULT_IDLE_CLOSE_S,
        max_idle: int | None = DEFAULT_MAX_IDLE,
        clock: Clock = SYSTEM_CLOCK,
        name: str = "store",
    ) -> None:
        self.checkpoints = CheckpointService(checkpoint_threads, clock=clock, name=name)
        self.budget = FdBudget(
            default_fd_budget() if fd_budget is None else fd_budget,
            cache_mib * 1024,
            idle_close_s=idle_close_s,
            max_idle=max_idle,
            clock=clock,
            on_first_park=self.checkpoints.ensure_running,
        )
        self.heap = HeapTrimmer(clock=clock)
        self.checkpoints.set_housekeeping(self._housekeep)
        self.clock = clock
        self._io_threads = io_threads
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        """The limiter every store read and write runs its worker thread under."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._io_threads)
        return self._limiter

    def _housekeep(self) -> None:
        """Close long-idle connections, shrink idle caches, then trim the heap if it grew."""
        self.budget.housekeep()
        self.heap.maybe_trim()

    def close(self) -> None:
        """Stop the checkpoint threads (after their current checkpoint). Blocking."""
        self.checkpoints.close()
