"""Transfer slots: how many transfers run at once per link and per plan (layer: migration).

A wide plan (many workloads) must not start one transfer per workload at once: every
transfer costs the source a window of encoded chunks and the target a receiver, and
concurrent final deltas stretch each other's write holds. Two limits apply:

* per link (``source -> target``), shared by every migration of one service:
  :class:`LinkSlots`, sized by the ``link_transfers`` service setting (default
  :data:`DEFAULT_LINK_TRANSFERS`);
* per plan: the ``parallel_transfers`` constraint (default
  :data:`DEFAULT_PARALLEL_TRANSFERS`), enforced by how many transfer workers a plan runs
  and how many cutovers it groups.

:class:`TransferGate` is one run's view: it takes a link slot around each transfer (a
cutover takes it before its hold starts, so no hold waits for a slot) and counts the
run's transfers in flight and their peak (``MigrationMetrics.peak_transfers``).

The slots are anyio capacity limiters on the service's event loop: a synchronization
primitive shared like the edges' per-link token bucket, not state another actor writes.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio

from edge_actors.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = [
    "DEFAULT_LINK_TRANSFERS",
    "DEFAULT_PARALLEL_TRANSFERS",
    "MAX_TRANSFERS",
    "LinkSlots",
    "TransferGate",
    "check_transfers",
]

DEFAULT_PARALLEL_TRANSFERS = 2
"""Transfers one plan runs at once when its constraints give no ``parallel_transfers``.

Session 21 (at ``e5ac100``, 100 x 10 MB, ``benchmarks/wide_plan.py``, 5 runs with 2
alternated with 5 with 3, both orders per run): wide / queued 0.909-0.969 with 2 (mean
0.934) against 0.878-1.025 with 3 (mean 0.969, two runs over 1.0); the wide sides took
8.7-10.4 s either way, but with 3 the target spent more system time per byte (the page-cache
copy of a third snapshot file received at once), writes over 60 ms were 8.5 per wide side
against 2.8, the writer's worst write 75-122 ms against 44-82, the longest hold 15.6-28.1 ms
against 11.2-22.6, and 4 cutovers were undone against none. The queued plans it is
measured against run two copies at once (the service's ``max_concurrent``); on these 2
vCPUs a third copy of the same plan adds contention, not throughput. A plan on larger
machines can ask for more.

Session 15 had chosen 3: a whole copy of 4 MiB or more now travels as the store's snapshot file
(SQLite's backup API, verified on the target mostly in C), so a copy costs a target a
fraction of the Python work it did, and a wide plan's time is its copies' fixed steps
(export, install and its fsyncs, round trips) more than their bytes. Measured (100 x 10
MB, ``benchmarks/wide_plan.py``, both orders per run, at ``6673877``): wide / queued
0.787-1.040 with 2 (3 runs, 6 pairs), 0.759-0.895 with 3 (2 runs, 4 pairs, no cutover
undone, longest hold 31.9 ms), 0.706-0.917 with 4 (3 runs, 6 pairs, 12 cutovers undone and
retried, longest hold 44.3 ms). Before that, when copies were record chunks applied under
the target's GIL, two was the best value. Measured (100 x 10 MB wide plan against the same
workloads as queued plans, ``benchmarks/wide_plan.py``): in session 7, wide / queued time
0.84-1.07 with 3 (7 runs), 0.94-1.02 with 2 (3 runs), 0.95-1.08 with 4 (10 runs); in
session 13 (pipelined plans, alternated, both orders), 0.847-1.035 with 2 and 0.822-1.081
with 3 (4 pairs each, the same mean), but with 2 the activations took 7.0-9.2 ms at the
median against 7.9-12.2, 1 cutover was undone against 10, and the longest holds were
23.1-34.3 ms against 24.7-34.0."""
DEFAULT_LINK_TRANSFERS = 4
"""Transfers all migrations of a service run at once on one link, by default."""
MAX_TRANSFERS = 64
"""The largest value either limit accepts."""


def check_transfers(value: object, field: str) -> int:
    """Validate a transfer limit: an integer in ``1..MAX_TRANSFERS``.

    Raises:
        ConfigError: anything else, naming ``field`` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TRANSFERS:
        raise ConfigError(f"{field}: expected an integer 1..{MAX_TRANSFERS}, got {value!r}")
    return value


class LinkSlots:
    """Transfer slots per ``(source, target)`` link, shared by a service's migrations.

    Args:
        per_link: transfers at once on each link (``1..MAX_TRANSFERS``).

    Raises:
        ConfigError: ``per_link`` out of range.
    """

    def __init__(self, per_link: int = DEFAULT_LINK_TRANSFERS) -> None:
        self._per_link = check_transfers(per_link, "link_transfers")
        self._links: dict[tuple[str, str], anyio.CapacityLimiter] = {}

    @property
    def per_link(self) -> int:
        """The current limit per link."""
        return self._per_link

    def resize(self, per_link: int) -> None:
        """Change the limit of every link (running transfers keep their slots).

        Raises:
            ConfigError: ``per_link`` out of range.
        """
        self._per_link = check_transfers(per_link, "link_transfers")
        for limiter in self._links.values():
            limiter.total_tokens = per_link

    def link(self, source: str, target: str) -> anyio.CapacityLimiter:
        """The limiter of the ``source -> target`` link (created on first use)."""
        limiter = self._links.get((source, target))
        if limiter is None:
            limiter = self._links[(source, target)] = anyio.CapacityLimiter(self._per_link)
        return limiter


class TransferGate:
    """One run's transfer slots on its link, with its in-flight count and peak.

    Args:
        link: the link's shared limiter (:meth:`LinkSlots.link`).
        per_plan: the plan's ``parallel_transfers``.
    """

    def __init__(self, link: anyio.CapacityLimiter, per_plan: int) -> None:
        self.link = link
        self.per_plan = per_plan
        self.running = 0
        self.peak = 0
        self._plan: anyio.CapacityLimiter | None = None

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the plan's slots and one link slot for the block (waits while
        either is full).

        Cancellation while waiting takes no slot; the slots are returned on any exit.
        """
        if self._plan is None:
            self._plan = anyio.CapacityLimiter(self.per_plan)
        async with self._plan, self.link:
            self.running += 1
            self.peak = max(self.peak, self.running)
            try:
                yield
            finally:
                self.running -= 1
