"""The journal interface the migration supervisor uses, whatever the backend (layer: migration).

:class:`JournalBackend` is the async protocol of the supervisor's journal: plans,
statuses, transitions, checkpoints, settings and owner records with their epochs. Two
backends implement it: SQLite (``._sqlite``, the embedded default, one file in the data
directory) and PostgreSQL (``._postgres``, shared by several supervisor processes).
Every method is one short transaction, committed before it returns, so a caller that
got an answer finds the change after a crash of its process.

Cancellation: a write that has started is finished (or rolled back entirely), never left
half done; the caller's cancellation takes effect once the transaction has ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import msgspec

from .._errors import MigrationError
from .._models import Checkpoint, MigrationMetrics, MigrationPlan, MigrationStatus

if TYPE_CHECKING:
    from .._models import HistoryEvent
    from .._ownership import OwnerRecord

__all__ = ["JournalBackend", "JournalEntry", "JournalUnavailable"]


class JournalUnavailable(MigrationError):
    """The journal cannot be reached (at start, or a connection lost mid-run).

    The message names the journal by its redacted URL, never a password. Raised to the
    supervisor, it crashes the supervisor actor, which its root restarts from the journal.
    """

    code: str = "journal_unavailable"


class JournalEntry(msgspec.Struct):
    """A migration as loaded from the journal on start."""

    plan: MigrationPlan
    status: MigrationStatus
    metrics: MigrationMetrics
    checkpoint: Checkpoint | None


class JournalBackend(Protocol):
    """The migration supervisor's journal (see the module doc).

    Attributes:
        location: where the journal is, for messages and logs (a path, or a URL with its
            password redacted).
    """

    location: str

    async def schema_version(self) -> int:
        """The schema version of the open journal."""
        ...

    async def close(self) -> None:
        """Release the journal (a file, a connection pool); later calls fail."""
        ...

    async def add_plan(self, plan: MigrationPlan, status: MigrationStatus) -> None:
        """Journal a new plan with its first status (and its ``planned`` event)."""
        ...

    async def transition(
        self, status: MigrationStatus, event: HistoryEvent, metrics: MigrationMetrics
    ) -> None:
        """Journal a state change: the new status, its event and the metrics."""
        ...

    async def save_status(self, status: MigrationStatus, metrics: MigrationMetrics) -> None:
        """Journal a detail/metrics change that is not a transition."""
        ...

    async def add_checkpoint(self, checkpoint: Checkpoint, metrics: MigrationMetrics) -> None:
        """Journal a checkpoint together with the metrics at that moment."""
        ...

    async def checkpoints(self, migration_id: str) -> list[Checkpoint]:
        """Every checkpoint of a migration, oldest first."""
        ...

    async def history(self, migration_id: str | None = None) -> list[HistoryEvent]:
        """Journaled events of one migration (or all), in the order they were journaled."""
        ...

    async def load(self) -> list[JournalEntry]:
        """Every journaled migration with its latest checkpoint, in plan order."""
        ...

    async def save_owner(self, record: OwnerRecord) -> None:
        """Journal the owner record of one workload (replacing the previous one)."""
        ...

    async def hand_over(
        self, workload: str, from_edge: str, to_edge: str, migration_id: str, at: float
    ) -> OwnerRecord:
        """Take the next epoch of ``workload`` atomically, handing it to ``to_edge``.

        One statement reads and increments the epoch (1 for a workload never journaled),
        so two supervisors allocating at once get distinct, increasing epochs.

        Returns:
            The journaled record (``owner_edge`` is ``from_edge``, ``handing_to`` set).
        """
        ...

    async def settle_owner(self, record: OwnerRecord) -> OwnerRecord:
        """Store ``record`` (``handing_to`` cleared) unless the journal is at a newer epoch.

        Returns:
            The record now in the journal: ``record`` itself, or the newer one that
            refused it (its epoch is then greater than ``record.epoch``).
        """
        ...

    async def owner(self, workload: str) -> OwnerRecord | None:
        """The owner record of ``workload`` (``None``: never journaled)."""
        ...

    async def owners(self) -> list[OwnerRecord]:
        """Every owner record, by workload name."""
        ...

    async def save_setting(self, key: str, value: object) -> None:
        """Persist one service setting (``configure``)."""
        ...

    async def settings(self) -> dict[str, object]:
        """The persisted service settings."""
        ...
