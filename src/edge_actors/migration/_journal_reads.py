"""The read side of the migration service, answered from the journal alone (layer: migration).

A supervisor replica that is not the leader runs no supervisor actor, yet answers reads
(status, progress, metrics, history, checkpoints, lists) for operators and the CLI. It
loads the journal the leader writes into a throw-away :class:`~._registry.Registry` for
each read and asks it the same questions the supervisor would, so a follower's answer is
the leader's journaled state (progress as restored from the journal: acknowledged bytes
and the latest checkpoint's round, not the live transfer position).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ._registry import Registry

if TYPE_CHECKING:
    from edge_actors.clock import Clock

    from ._models import (
        Checkpoint,
        HistoryEvent,
        MigrationMetrics,
        MigrationPlan,
        MigrationProgress,
        MigrationStatus,
        MigrationSummary,
        OverallMetrics,
    )
    from .journal import JournalBackend

__all__ = ["JournalReads", "MigrationReads"]


class JournalReads:
    """``MigrationService``'s read methods over a journal (see the module doc).

    Args:
        journal: the journal the leader writes (opened by the caller).
        clock: the registry's time source (stamps nothing here).
    """

    def __init__(self, journal: JournalBackend, clock: Clock) -> None:
        self.journal = journal
        self.clock = clock

    async def _registry(self) -> Registry:
        registry = Registry(self.journal, self.clock)
        registry.load(await self.journal.load())
        return registry

    async def status(self, migration_id: str) -> MigrationStatus:
        """The journaled status (``UnknownMigration`` if none)."""
        registry = await self._registry()
        return registry.status(registry.get(migration_id))

    async def progress(self, migration_id: str) -> MigrationProgress:
        """The progress restored from the journal (``UnknownMigration`` if none)."""
        registry = await self._registry()
        return registry.progress(registry.get(migration_id))

    async def metrics(self, migration_id: str | None = None) -> MigrationMetrics | OverallMetrics:
        """The journaled figures of one migration, or the totals over all."""
        registry = await self._registry()
        if migration_id is None:
            return registry.overall()
        return registry.metrics(registry.get(migration_id), running=False)

    async def active(self) -> list[MigrationSummary]:
        """Migrations not in a terminal state."""
        return (await self._registry()).summaries()

    async def statuses(self) -> list[MigrationStatus]:
        """Every migration's status, in plan order."""
        return (await self._registry()).statuses()

    async def history(self, migration_id: str | None = None) -> list[HistoryEvent]:
        """Journaled transitions of one migration (or all), oldest first."""
        registry = await self._registry()
        if migration_id is not None:
            registry.get(migration_id)
        return await registry.history(migration_id)

    async def checkpoints(self, migration_id: str) -> list[Checkpoint]:
        """Journaled checkpoints of a migration, oldest first."""
        registry = await self._registry()
        registry.get(migration_id)
        return await registry.checkpoints(migration_id)

    async def plan_of(self, migration_id: str) -> MigrationPlan:
        """The journaled plan (``UnknownMigration`` if none)."""
        return (await self._registry()).get(migration_id).plan


class MigrationReads(Protocol):
    """What both a running :class:`~._service.MigrationService` and :class:`JournalReads`
    answer: the read routes of the admin API use either."""

    async def status(self, migration_id: str) -> MigrationStatus: ...

    async def progress(self, migration_id: str) -> MigrationProgress: ...

    async def metrics(
        self, migration_id: str | None = None
    ) -> MigrationMetrics | OverallMetrics: ...

    async def active(self) -> list[MigrationSummary]: ...

    async def statuses(self) -> list[MigrationStatus]: ...

    async def history(self, migration_id: str | None = None) -> list[HistoryEvent]: ...

    async def checkpoints(self, migration_id: str) -> list[Checkpoint]: ...

    async def plan_of(self, migration_id: str) -> MigrationPlan: ...
