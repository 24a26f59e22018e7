"""Priority scheduling of migration runs (layer: migration).

A plain class with no I/O: given the records and which of them run, it decides which
waiting migrations start and which running one an ``emergency`` preempts. The migration
supervisor actor carries the decisions out (starting runs, sending ``preempt`` intents).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ._registry import MigrationRecord

__all__ = ["PREEMPTIBLE_STATES", "Preempt", "Scheduler", "Start"]

PREEMPTIBLE_STATES = frozenset(("planning", "pre_sync", "sync"))
"""States a running migration may be paused (or preempted) in."""


class Start(msgspec.Struct, frozen=True):
    """Start the run of ``migration_id``."""

    migration_id: str


class Preempt(msgspec.Struct, frozen=True):
    """Stop ``victim`` (it goes back to ``queued``) to make room for ``by``."""

    victim: str
    by: str


class Scheduler:
    """Decides starts and preemptions under ``max_concurrent`` by priority.

    Waiting migrations start highest priority first, then oldest ``queued``; a strategy
    that ``preempts`` takes the slot of the lowest-priority running migration that may be
    paused, has no intent pending and has a lower priority.
    """

    def decide(
        self,
        records: Iterable[MigrationRecord],
        max_concurrent: int,
        *,
        running: Callable[[MigrationRecord], bool],
        migrating: Callable[[MigrationRecord], bool],
        stopping: Callable[[MigrationRecord], bool],
    ) -> list[Start | Preempt]:
        """The decisions for this moment, in the order to carry them out.

        Args:
            records: every migration.
            max_concurrent: how many migrate runs may be active at once.
            running: whether a record has a run now.
            migrating: whether that run migrates (rollback and cancel runs take no slot).
            stopping: whether that run was already told to stop (an intent is pending).
        """
        records = list(records)
        busy = [r for r in records if running(r) and migrating(r)]
        free = max_concurrent - len(busy)
        waiting = sorted(
            (r for r in records if r.want_run and not running(r)),
            key=lambda r: (-r.plan.priority, r.queued_at),
        )
        decisions: list[Start | Preempt] = []
        for record in waiting:
            if free > 0:
                free -= 1
                decisions.append(Start(record.migration_id))
                continue
            if not record.strategy.preempts:
                continue
            victims = [
                r for r in busy
                if not r.strategy.preempts and r.status.state in PREEMPTIBLE_STATES
                and not stopping(r) and r.plan.priority < record.plan.priority
            ]  # fmt: skip
            if not victims:
                continue
            victim = min(victims, key=lambda r: (r.plan.priority, -r.queued_at))
            busy.remove(victim)
            decisions.append(Preempt(victim.migration_id, record.migration_id))
            decisions.append(Start(record.migration_id))
        return decisions
