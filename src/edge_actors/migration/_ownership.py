"""Owner records: which edge serves each workload, under which epoch (layer: migration).

Every workload a migration touches has one :class:`OwnerRecord` in the journal: the edge
that owns it and an *epoch* that only grows. Edges fence every routing command by that
epoch (``edge/_fence.py``): they refuse one lower than the highest they have seen, so a
supervisor or an edge acting on an old view is turned away.

An ownership change is one epoch step in two journaled halves: :meth:`Owners.hand_over`
takes the next epoch and names the edge the workload is being handed to (``handing_to``)
*before* any edge is told; :meth:`Owners.settle` records who owns it once the edges agree
(the handover done, or undone). A record left with ``handing_to`` set (a crash in
between) is settled from what the edges report (the migration's reconcile, the
supervisor's reconciler), never guessed.

:class:`Owners` is a plain class: only the migration supervisor calls it, and it journals
through the supervisor's :class:`~.journal.JournalBackend` before the supervisor replies.
The next epoch is taken by the journal in one atomic statement
(:meth:`~.journal.JournalBackend.hand_over`) and a settle is refused by the journal
itself when a newer epoch is there, so supervisors sharing a PostgreSQL journal can never
hand out the same epoch twice or settle over a newer step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from edge_actors.clock import SYSTEM_CLOCK

from ._errors import MigrationRefusal

if TYPE_CHECKING:
    from edge_actors.clock import Clock

    from .journal import JournalBackend

__all__ = ["OwnerRecord", "Owners", "StaleOwnerEpoch"]


class StaleOwnerEpoch(MigrationRefusal):
    """A settle names an epoch older than the workload's owner record: refused."""

    code: str = "stale_epoch"


class OwnerRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The owner of one workload.

    Attributes:
        workload: the workload (the same name on every edge).
        owner_edge: the edge that serves it.
        epoch: the fencing token of the current ownership step (0: never handed over).
        handing_to: the edge it is being handed to, while a handover is not settled.
        migration_id: the migration that made the latest step.
        updated_at: when (the clock's wall time).
    """

    workload: str
    owner_edge: str
    epoch: int = 0
    handing_to: str | None = None
    migration_id: str = ""
    updated_at: float = 0.0


class Owners:
    """The owner records, journaled (see the module doc).

    Args:
        journal: the supervisor's journal.
        clock: stamps ``updated_at``.
    """

    def __init__(self, journal: JournalBackend, clock: Clock = SYSTEM_CLOCK) -> None:
        self._journal = journal
        self._clock = clock

    async def get(self, workload: str, default_owner: str) -> OwnerRecord:
        """The record of ``workload``; one owned by ``default_owner`` at epoch 0 if none."""
        record = await self._journal.owner(workload)
        return record or OwnerRecord(workload=workload, owner_edge=default_owner)

    async def all(self) -> list[OwnerRecord]:
        """Every owner record, by workload name."""
        return await self._journal.owners()

    async def hand_over(
        self, workload: str, from_edge: str, to_edge: str, migration_id: str
    ) -> OwnerRecord:
        """Start handing ``workload`` from ``from_edge`` to ``to_edge``: the next epoch.

        Returns:
            The journaled record (``owner_edge`` is still ``from_edge``).
        """
        return await self._journal.hand_over(
            workload, from_edge, to_edge, migration_id, self._clock.time()
        )

    async def settle(
        self, workload: str, owner_edge: str, epoch: int, migration_id: str
    ) -> OwnerRecord:
        """Record that ``owner_edge`` owns ``workload`` at ``epoch`` (the handover ended).

        Raises:
            StaleOwnerEpoch: The record has moved past ``epoch`` (nothing changed).
        """
        record = OwnerRecord(
            workload=workload,
            owner_edge=owner_edge,
            epoch=epoch,
            migration_id=migration_id,
            updated_at=self._clock.time(),
        )
        stored = await self._journal.settle_owner(record)
        if stored.epoch > epoch:
            raise StaleOwnerEpoch(
                f"workload {workload!r}: settle at epoch {epoch} refused, the owner record "
                f"is at epoch {stored.epoch} ({stored.owner_edge})"
            )
        return stored
