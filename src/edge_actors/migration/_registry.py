"""The registry of migrations: records, journaled state changes and snapshots (layer: migration).

A plain class that the migration supervisor actor drives; only that actor calls it, so
it needs no locks. Every change is journaled (through the supervisor's
:class:`~.journal.JournalBackend`, SQLite or PostgreSQL) before the caller replies.
Readers get copies (snapshots), never the records themselves; watchers are woken through
their own channels.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import anyio
import msgspec

from edge_actors._log import get_logger
from edge_actors.clock import SYSTEM_CLOCK
from edge_actors.schema import short

from ._errors import InvalidRequest, UnknownMigration
from ._models import (
    ACTIVE_STATES,
    PHASES,
    RUNNING_STATES,
    TERMINAL_STATES,
    Checkpoint,
    HistoryEvent,
    MigrationMetrics,
    MigrationPlan,
    MigrationProgress,
    MigrationState,
    MigrationStatus,
    MigrationSummary,
    OverallMetrics,
)
from ._strategies import Strategy, get_strategy
from ._transitions import check_transition
from .journal import JournalUnavailable

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectSendStream

    from edge_actors.clock import Clock

    from ._messages import RunTotals, SaveCheckpoint
    from .journal import JournalBackend, JournalEntry

__all__ = ["MigrationRecord", "Registry"]

_JOURNAL_RETRY_FIRST_S = 0.1
_JOURNAL_RETRY_MAX_S = 5.0
"""Backoff while the journal cannot be reached on start (:meth:`Registry.read_journal`)."""


class MigrationRecord:
    """Everything the registry holds about one migration (the supervisor's own state)."""

    def __init__(
        self,
        plan: MigrationPlan,
        status: MigrationStatus,
        metrics: MigrationMetrics,
        checkpoint: Checkpoint | None,
        now: float,
    ) -> None:
        self.plan = plan
        self.strategy: Strategy = get_strategy(plan.strategy)
        self.status = status
        self.metrics = metrics
        self.checkpoint = checkpoint
        self.cp_seq = checkpoint.seq if checkpoint is not None else 0
        self.progress = _restored_progress(plan, status, metrics, checkpoint)
        self.want_run = False
        self.queued_at = now
        self.entered_at = now
        self.watchers: list[MemoryObjectSendStream[None]] = []

    @property
    def migration_id(self) -> str:
        """The migration's id."""
        return self.plan.migration_id


def _restored_progress(
    plan: MigrationPlan,
    status: MigrationStatus,
    metrics: MigrationMetrics,
    checkpoint: Checkpoint | None,
) -> MigrationProgress:
    """The progress of a record before its run reports any (e.g. loaded from the journal).

    Progress is not journaled, but what it reports about finished work is: the
    acknowledged bytes and records are in the metrics, round and stage in the latest
    checkpoint. Without this a paused migration read 0 % after a service restart.
    """
    estimated = plan.estimated_bytes
    p = MigrationProgress(
        migration_id=plan.migration_id,
        state=status.state,
        phase=status.phase,
        records_total=sum(e.records for e in plan.estimates),
        bytes_remaining=estimated,
    )
    if checkpoint is not None:
        p.round, p.stage = checkpoint.round, checkpoint.stage
    if status.state == "completed":
        p.bytes_done, p.records_done = metrics.bytes_raw, metrics.records
        p.bytes_remaining, p.percent, p.eta_s = 0, 100.0, 0.0
    elif metrics.bytes_raw:
        p.bytes_done, p.records_done = metrics.bytes_raw, metrics.records
        p.bytes_remaining = max(0, estimated - metrics.bytes_raw)
        if estimated:  # the same arithmetic as the migration actor's
            p.percent = min(100.0, 100.0 * p.bytes_done / max(1, estimated))
    return p


class Registry:
    """The records of every migration, and their journaled changes.

    Args:
        journal: the supervisor's journal (any backend).
        clock: the time source of timestamps and durations.
    """

    def __init__(self, journal: JournalBackend, clock: Clock = SYSTEM_CLOCK) -> None:
        self.journal = journal
        self.clock = clock
        self.records: dict[str, MigrationRecord] = {}
        self.log = get_logger("migration.registry")

    # -- lookup -------------------------------------------------------------------------

    def get(self, migration_id: object) -> MigrationRecord:
        """The record of ``migration_id``.

        Raises:
            InvalidRequest: ``migration_id`` is not a string.
            UnknownMigration: no such migration.
        """
        if migration_id is not None and not isinstance(migration_id, str):
            raise InvalidRequest(f"migration_id: expected a string, got {short(migration_id)}")
        record = self.records.get(migration_id or "")
        if record is None:
            raise UnknownMigration(f"unknown migration {migration_id!r}")
        return record

    def load(self, entries: list[JournalEntry]) -> list[MigrationRecord]:
        """Add the records loaded from the journal (on start); returns them in plan order."""
        now = self.clock.monotonic()
        loaded = []
        for item in entries:
            record = MigrationRecord(item.plan, item.status, item.metrics, item.checkpoint, now)
            self.records[item.plan.migration_id] = record
            loaded.append(record)
        return loaded

    # -- changes (journaled) ------------------------------------------------------------

    async def register(self, plan: MigrationPlan) -> MigrationStatus:
        """Journal a new plan (state ``planned``).

        Raises:
            InvalidRequest: ``plan`` is not a plan, or its id exists already.
        """
        if not isinstance(plan, MigrationPlan):
            raise InvalidRequest(f"plan: expected a MigrationPlan, got {short(plan)}")
        if plan.migration_id in self.records:
            raise InvalidRequest(f"migration_id: {plan.migration_id!r} already exists")
        status = MigrationStatus(
            migration_id=plan.migration_id,
            state="planned",
            priority=plan.priority,
            strategy=plan.strategy,
            updated_at=self.clock.time(),
        )
        await self.journal.add_plan(plan, status)
        metrics = MigrationMetrics(
            migration_id=plan.migration_id, workload_bytes=plan.estimated_bytes
        )
        record = MigrationRecord(plan, status, metrics, None, self.clock.monotonic())
        self.records[plan.migration_id] = record
        self.log.info("migration.planned", migration_id=plan.migration_id, plan=plan.strategy)
        return self.status(record)

    async def transition(
        self,
        record: MigrationRecord,
        to_state: MigrationState,
        detail: str = "",
        error: str | None = None,
    ) -> None:
        """Validate, apply and journal a state change, then wake the watchers.

        Raises:
            IllegalTransition: the transition table forbids it.
        """
        status = record.status
        check_transition(status.migration_id, status.state, to_state)
        # updated_at orders a migration's statuses (``MigrationService.wait(after=...)``):
        # it must grow with every change even if the wall clock stands still (a test's
        # ManualClock) or steps back.
        now = max(self.clock.time(), math.nextafter(status.updated_at, math.inf))
        mono = self.clock.monotonic()
        self._count_time(record, mono)
        event = HistoryEvent(
            migration_id=status.migration_id,
            at=now,
            from_state=status.state,
            to_state=to_state,
            detail=detail or (error or ""),
        )
        status.state = to_state
        if to_state in PHASES:
            status.phase = to_state
        status.detail = detail
        if error is not None:
            status.error = error
        elif to_state in RUNNING_STATES or to_state == "queued":
            status.error = None
        if to_state not in ("rolling_back", "paused"):
            status.rollback_checkpoint = None
        status.updated_at = now
        record.metrics.state = to_state
        progress = record.progress
        progress.state, progress.phase, progress.detail = to_state, status.phase, detail
        if to_state == "queued":
            record.want_run = True
            record.queued_at = mono
        await self.journal.transition(status, event, record.metrics)
        self.log.info(
            "migration.transition",
            migration_id=status.migration_id,
            from_state=event.from_state,
            to_state=to_state,
            detail=event.detail,
        )
        self.notify(record)

    def _count_time(self, record: MigrationRecord, mono: float) -> None:
        state = record.status.state
        if state in RUNNING_STATES:
            spent = mono - record.entered_at
            durations = record.metrics.phase_durations_s
            durations[state] = durations.get(state, 0.0) + spent
            record.metrics.duration_s += spent
        record.entered_at = mono

    async def event(self, record: MigrationRecord, detail: str) -> None:
        """Journal a history event that is not a state change (``actor restarted``)."""
        state = record.status.state
        event = HistoryEvent(
            migration_id=record.migration_id,
            at=self.clock.time(),
            from_state=state,
            to_state=state,
            detail=detail,
        )
        await self.journal.transition(record.status, event, record.metrics)
        self.notify(record)

    async def set_detail(self, record: MigrationRecord, detail: str) -> None:
        """Journal what the migration is doing now."""
        record.status.detail = detail
        record.progress.detail = detail
        await self.journal.save_status(record.status, record.metrics)
        self.notify(record)

    async def save_checkpoint(self, record: MigrationRecord, message: SaveCheckpoint) -> Checkpoint:
        """Journal a checkpoint (with the metrics at that moment); returns it with its id.

        The time spent in the running phase so far is counted in first, so a supervisor
        that dies after it resumes with the duration the checkpoint's work took.
        """
        self._count_time(record, self.clock.monotonic())
        record.cp_seq += 1
        mid = record.migration_id
        checkpoint = Checkpoint(
            checkpoint_id=f"{mid}-cp{record.cp_seq}",
            migration_id=mid,
            seq=record.cp_seq,
            created_at=self.clock.time(),
            phase=message.phase,
            round=message.round,
            stage=message.stage,
            workloads=message.workloads,
            reason=message.reason,
        )
        await self.journal.add_checkpoint(checkpoint, record.metrics)
        record.checkpoint = checkpoint
        return checkpoint

    async def save_setting(self, key: str, value: object) -> None:
        """Persist one service setting."""
        await self.journal.save_setting(key, value)

    @staticmethod
    def apply_totals(record: MigrationRecord, totals: RunTotals) -> None:
        """Take the figures a run owns from its latest report."""
        metrics = record.metrics
        for field in totals.__struct_fields__:
            setattr(metrics, field, getattr(totals, field))
        metrics.compression_ratio = (
            metrics.bytes_raw / metrics.bytes_wire if metrics.bytes_wire else 1.0
        )

    @staticmethod
    def apply_progress(record: MigrationRecord, progress: MigrationProgress) -> None:
        """Take the run's progress snapshot; state, phase and detail stay the registry's."""
        status = record.status
        record.progress = msgspec.structs.replace(
            progress, state=status.state, phase=status.phase, detail=status.detail
        )

    # -- watchers -----------------------------------------------------------------------

    def subscribe(self, record: MigrationRecord, channel: MemoryObjectSendStream[None]) -> None:
        """Wake ``channel`` after every later change of ``record``."""
        record.watchers.append(channel)

    @staticmethod
    def unsubscribe(record: MigrationRecord, channel: MemoryObjectSendStream[None]) -> None:
        """Forget ``channel``."""
        if channel in record.watchers:
            record.watchers.remove(channel)

    @staticmethod
    def notify(record: MigrationRecord) -> None:
        """Wake every watcher; forget those gone, and all of them after a terminal state."""
        alive = []
        for channel in record.watchers:
            try:
                channel.send_nowait(None)
            except anyio.WouldBlock:  # a wake-up is already pending: enough
                alive.append(channel)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                continue
            else:
                alive.append(channel)
        record.watchers = [] if record.status.state in TERMINAL_STATES else alive

    def close_watchers(self) -> None:
        """Close every watcher's channel (the supervisor is going away): each watcher
        sees the end of its channel and subscribes again."""
        for record in self.records.values():
            for channel in record.watchers:
                channel.close()
            record.watchers = []

    # -- snapshots ----------------------------------------------------------------------

    @staticmethod
    def status(record: MigrationRecord) -> MigrationStatus:
        """A copy of the record's status."""
        return msgspec.structs.replace(record.status)

    @staticmethod
    def progress(record: MigrationRecord) -> MigrationProgress:
        """A copy of the record's latest progress."""
        return msgspec.structs.replace(record.progress)

    def metrics(self, record: MigrationRecord, running: bool) -> MigrationMetrics:
        """A deep copy of the metrics; a running phase's time so far is included."""
        metrics = msgspec.convert(msgspec.to_builtins(record.metrics), MigrationMetrics)
        state = record.status.state
        if running and state in RUNNING_STATES:
            spent = self.clock.monotonic() - record.entered_at
            metrics.duration_s += spent
            metrics.phase_durations_s[state] = metrics.phase_durations_s.get(state, 0) + spent
        return metrics

    def summaries(self) -> list[MigrationSummary]:
        """One summary per migration not in a terminal state."""
        out = []
        for record in self.records.values():
            if record.status.state not in ACTIVE_STATES:
                continue
            plan = record.plan
            out.append(
                MigrationSummary(
                    migration_id=plan.migration_id,
                    state=record.status.state,
                    phase=record.status.phase,
                    strategy=plan.strategy,
                    priority=plan.priority,
                    source_edge=plan.source_edge,
                    target_edge=plan.target_edge,
                    workloads=list(plan.workloads),
                    detail=record.status.detail,
                    percent=record.progress.percent,
                )
            )
        return out

    def statuses(self) -> list[MigrationStatus]:
        """Every migration's status, in plan order."""
        return [self.status(r) for r in self.records.values()]

    def overall(self) -> OverallMetrics:
        """Totals over every migration."""
        out = OverallMetrics(migrations=len(self.records))
        durations = []
        for record in self.records.values():
            m, state = record.metrics, record.status.state
            out.by_state[state] = out.by_state.get(state, 0) + 1
            out.bytes_raw += m.bytes_raw
            out.bytes_wire += m.bytes_wire
            out.rollbacks += m.rollbacks
            out.restarts += m.restarts
            out.max_downtime_ms = max(out.max_downtime_ms, m.max_downtime_ms)
            if state == "completed":
                durations.append(m.duration_s)
        out.completed = out.by_state.get("completed", 0)
        out.failed = out.by_state.get("failed", 0)
        out.rolled_back = out.by_state.get("rolled_back", 0)
        out.compression_ratio = out.bytes_raw / out.bytes_wire if out.bytes_wire else 1.0
        out.mean_duration_s = sum(durations) / len(durations) if durations else 0.0
        return out

    async def checkpoints(self, migration_id: str) -> list[Checkpoint]:
        """The journaled checkpoints of a migration, oldest first."""
        return await self.journal.checkpoints(migration_id)

    async def history(self, migration_id: str | None) -> list[HistoryEvent]:
        """Journaled transitions of one migration (or all), oldest first."""
        return await self.journal.history(migration_id)

    # -- recovery ----------------------------------------------------------------------

    async def read_journal(self) -> tuple[dict[str, object], list[JournalEntry]]:
        """The settings and migrations in the journal, waiting out a journal not reachable.

        A journal server that is down (a PostgreSQL restart, a failover of its own) is
        waited out with capped backoff instead of crashing again at once, which would
        spend the root's restart intensity in a few milliseconds.
        """
        delay = _JOURNAL_RETRY_FIRST_S
        while True:
            try:
                return await self.journal.settings(), await self.journal.load()
            except JournalUnavailable as exc:  # a plain Exception: cancellation passes
                self.log.warning("supervisor.journal_unavailable", error=str(exc), retry_in_s=delay)
                await self.clock.sleep(delay)
                delay = min(delay * 2, _JOURNAL_RETRY_MAX_S)

    async def rollback_due(self, record: MigrationRecord) -> bool:
        """Whether a failed migration still owes the rollback the supervisor starts after
        a failure (``auto_rollback``, restarts exhausted): the process may have died
        between journaling ``failed`` and the rollback run's ``rolling_back``."""
        error = record.status.error or ""
        if error.startswith("rollback failed"):
            return True  # retried until the edges answer, across restarts too
        if not (record.status.auto_rollback or error.startswith("restarts exhausted")):
            return False
        into_failed = [
            e for e in await self.history(record.migration_id)
            if e.to_state == "failed" and e.from_state != "failed"
        ]  # fmt: skip
        return bool(into_failed) and into_failed[-1].from_state != "rolling_back"
