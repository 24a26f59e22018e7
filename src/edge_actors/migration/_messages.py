"""Messages of the migration control plane (layer: migration).

Three protocols, each a union of frozen msgspec Structs dispatched with ``match``:

* :data:`Request` — a caller (``MigrationService``) to the migration supervisor. Every
  reply is a value; a refusal is a raised :class:`~._errors.MigrationRefusal`.
* :data:`RunReport` — a migration actor to the supervisor: transitions and checkpoints
  (asks, journaled before the reply), progress snapshots and the end of a run (tells).
  Each names its ``run_id`` (the run, across its actor's restarts): the supervisor ignores, or
  refuses with ``StaleRun``, a report of a run that is not the migration's current one
  (a late message of a run stopped by a restart can never change the registry).
* :data:`Intent` — the supervisor to a running migration actor, on the actor's intent lane:
  pause, preempt, cancel, roll back or shut down. The actor cancels its own phase task and
  carries the intent out; the supervisor only learns the outcome from the actor's reports.

No message carries a mutable object another actor keeps: progress and metrics travel as
snapshots, and a watcher subscribes with its own channel.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

# A runtime import too: msgspec resolves the annotations of Subscribe.
from anyio.streams.memory import MemoryObjectSendStream

# msgspec resolves these annotations at runtime: keep them out of TYPE_CHECKING.
from ._models import (
    Checkpoint,
    MigrationMetrics,
    MigrationPlan,
    MigrationProgress,
    MigrationState,
    MigrationStatus,
    Phase,
    WorkloadCheckpoint,
)

__all__ = [
    "Cancel",
    "Configure",
    "Execute",
    "GetActorRef",
    "GetCheckpoints",
    "GetDefaults",
    "GetHistory",
    "GetMetrics",
    "GetOverall",
    "GetOwner",
    "GetPlan",
    "GetProgress",
    "GetResume",
    "GetStatus",
    "HandOver",
    "Intent",
    "IntentKind",
    "ListActive",
    "ListAll",
    "OwnerReport",
    "Pause",
    "PublishProgress",
    "Register",
    "Request",
    "Resume",
    "ResumePoint",
    "RollBack",
    "Run",
    "RunEnded",
    "RunMode",
    "RunReport",
    "RunTotals",
    "SaveCheckpoint",
    "SetDetail",
    "SettleOwner",
    "Shutdown",
    "Subscribe",
    "Transition",
    "Unsubscribe",
]

IntentKind = Literal["pause", "preempt", "cancel", "rollback", "shutdown"]
RunMode = Literal["migrate", "rollback", "cancel"]


# -- service -> supervisor -----------------------------------------------------------------


class Register(msgspec.Struct, frozen=True):
    """Journal a validated plan; reply: its :class:`MigrationStatus` (``planned``)."""

    plan: MigrationPlan


class Execute(msgspec.Struct, frozen=True):
    """Queue a planned migration for execution; reply: status."""

    migration_id: str
    auto_rollback: bool = False


class Pause(msgspec.Struct, frozen=True):
    """Pause (a running one stops within a chunk); reply: status when accepted."""

    migration_id: str


class Resume(msgspec.Struct, frozen=True):
    """Queue a paused migration again; reply: status."""

    migration_id: str


class Cancel(msgspec.Struct, frozen=True):
    """Abandon a migration not yet cut over; reply: status when accepted."""

    migration_id: str


class RollBack(msgspec.Struct, frozen=True):
    """Roll back to the source (or to ``checkpoint_id``); reply: status when accepted."""

    migration_id: str
    checkpoint_id: str | None = None


class GetStatus(msgspec.Struct, frozen=True):
    """Reply: :class:`MigrationStatus`."""

    migration_id: str


class GetProgress(msgspec.Struct, frozen=True):
    """Reply: :class:`MigrationProgress` (a snapshot)."""

    migration_id: str


class GetMetrics(msgspec.Struct, frozen=True):
    """Reply: :class:`MigrationMetrics` (a snapshot, live durations included)."""

    migration_id: str


class GetOverall(msgspec.Struct, frozen=True):
    """Reply: :class:`OverallMetrics` over every migration."""


class ListActive(msgspec.Struct, frozen=True):
    """Reply: ``list[MigrationSummary]`` of the migrations not in a terminal state."""


class ListAll(msgspec.Struct, frozen=True):
    """Reply: ``list[MigrationStatus]`` of every migration, in plan order."""


class GetHistory(msgspec.Struct, frozen=True):
    """Reply: ``list[HistoryEvent]`` of one migration (or all when ``None``)."""

    migration_id: str | None = None


class GetCheckpoints(msgspec.Struct, frozen=True):
    """Reply: ``list[Checkpoint]`` of a migration, oldest first."""

    migration_id: str


class GetDefaults(msgspec.Struct, frozen=True):
    """Reply: a copy of the :class:`ServiceDefaults`."""


class GetPlan(msgspec.Struct, frozen=True):
    """Reply: the journaled :class:`MigrationPlan`."""

    migration_id: str


class GetActorRef(msgspec.Struct, frozen=True):
    """Reply: the running migration actor's ref or ``None`` (supervision tests kill it)."""

    migration_id: str


class Subscribe(msgspec.Struct, frozen=True):
    """Watch a migration: the supervisor sends ``None`` on ``channel`` after each change.

    Reply: the current status. The channel should hold one item: a wake-up that finds it
    full is already pending, so a slow watcher never blocks the supervisor. The supervisor
    drops the channel when it is closed or after a terminal state.
    """

    migration_id: str
    channel: MemoryObjectSendStream[None]


class Unsubscribe(msgspec.Struct, frozen=True):
    """Stop watching (the watcher's channel is forgotten); reply: ``None``."""

    migration_id: str
    channel: MemoryObjectSendStream[None]


class Configure(msgspec.Struct, frozen=True):
    """Change service defaults; reply: the new :class:`ServiceDefaults`."""

    values: dict[str, Any]


class Shutdown(msgspec.Struct, frozen=True):
    """Stop every running migration's run (the journal keeps them resumable)."""


Request = (
    Register | Execute | Pause | Resume | Cancel | RollBack | GetStatus | GetProgress
    | GetMetrics | GetOverall | ListActive | ListAll | GetHistory | GetCheckpoints
    | GetDefaults | GetPlan | GetActorRef | Subscribe | Unsubscribe | Configure | Shutdown
)  # fmt: skip
"""Everything a caller may send to the migration supervisor."""


# -- migration actor -> supervisor ---------------------------------------------------------


class RunTotals(msgspec.Struct, frozen=True, kw_only=True):
    """The figures a run owns (transfer counters), as of the report that carries them.

    The supervisor owns state, durations and restarts; the run owns what it measures and
    sends the whole set (not deltas), so a lost report is repaired by the next one.
    """

    bytes_raw: int = 0
    bytes_wire: int = 0
    records: int = 0
    rounds: int = 0
    pauses: int = 0
    rollbacks: int = 0
    downtime_ms: dict[str, float] = msgspec.field(default_factory=dict)
    max_downtime_ms: float = 0.0
    downtime_worst_ms: float = 0.0
    downtime_total_ms: float = 0.0
    cutover_attempts: int = 0
    holds_over_max_downtime: int = 0
    expected_downtime_ms: dict[str, float] = msgspec.field(default_factory=dict)
    throughput_bps: float = 0.0
    peak_transfers: int = 0
    cutover_brakes: int = 0

    @classmethod
    def of(cls, metrics: MigrationMetrics) -> RunTotals:
        """The run-owned part of ``metrics`` (the dicts copied: nothing shared)."""
        return cls(
            bytes_raw=metrics.bytes_raw,
            bytes_wire=metrics.bytes_wire,
            records=metrics.records,
            rounds=metrics.rounds,
            pauses=metrics.pauses,
            rollbacks=metrics.rollbacks,
            downtime_ms=dict(metrics.downtime_ms),
            max_downtime_ms=metrics.max_downtime_ms,
            downtime_worst_ms=metrics.downtime_worst_ms,
            downtime_total_ms=metrics.downtime_total_ms,
            cutover_attempts=metrics.cutover_attempts,
            holds_over_max_downtime=metrics.holds_over_max_downtime,
            expected_downtime_ms=dict(metrics.expected_downtime_ms),
            throughput_bps=metrics.throughput_bps,
            peak_transfers=metrics.peak_transfers,
            cutover_brakes=metrics.cutover_brakes,
        )


class Transition(msgspec.Struct, frozen=True):
    """Change the migration's state (validated and journaled); reply: the new status."""

    migration_id: str
    to_state: MigrationState
    detail: str = ""
    error: str | None = None
    totals: RunTotals | None = None
    run_id: str = ""


class SetDetail(msgspec.Struct, frozen=True):
    """Update what the migration is doing (``waiting for time window ...``); reply: None."""

    migration_id: str
    detail: str
    run_id: str = ""


class SaveCheckpoint(msgspec.Struct, frozen=True):
    """Journal a checkpoint; reply: the :class:`Checkpoint` with its id."""

    migration_id: str
    phase: Phase
    round: int
    stage: int
    workloads: dict[str, WorkloadCheckpoint]
    reason: str
    totals: RunTotals
    run_id: str = ""


class PublishProgress(msgspec.Struct, frozen=True):
    """The run's latest progress snapshot (a tell; the newest replaces the older)."""

    migration_id: str
    progress: MigrationProgress
    totals: RunTotals
    run_id: str = ""


class GetResume(msgspec.Struct, frozen=True):
    """Ask where to start; reply: :class:`ResumePoint`."""

    migration_id: str
    run_id: str = ""


class ResumePoint(msgspec.Struct, frozen=True):
    """Current status, latest checkpoint, what to run and an intent already taken.

    Attributes:
        status: the migration's status.
        checkpoint: the latest checkpoint (``None`` before the first).
        rollback_to: the checkpoint a rollback returns to (``None``: to the source).
        mode: what the run does.
        intent: an intent the previous incarnation took but did not finish (a crash in
            the middle of a cancel): the restarted run carries it out first.
        intent_seq: sequence number of the last intent sent to this run so far: every
            intent up to it is accounted for (``intent``, taken effect, or superseded);
            the run carries out only later ones from its lane.
        metrics: a copy of the metrics (a restarted run counts on from them).
        progress: a copy of the latest progress.
    """

    status: MigrationStatus
    checkpoint: Checkpoint | None
    rollback_to: Checkpoint | None
    metrics: MigrationMetrics
    progress: MigrationProgress
    mode: RunMode = "migrate"
    intent: Intent | None = None
    intent_seq: int = 0


class RunEnded(msgspec.Struct, frozen=True):
    """Ask: the run reached an outcome having handled intents up to ``intent_seq``.

    Reply ``True``: the run is over (its slot is free). ``False``: an intent was sent
    after ``intent_seq``; it is on the lane and the run carries it out before asking again.
    """

    migration_id: str
    intent_seq: int
    totals: RunTotals
    run_id: str = ""


class GetOwner(msgspec.Struct, frozen=True):
    """Ask for a workload's owner record; reply: :class:`~._ownership.OwnerRecord`
    (owned by ``default_owner`` at epoch 0 when none is journaled)."""

    migration_id: str
    workload: str
    default_owner: str
    run_id: str = ""


class HandOver(msgspec.Struct, frozen=True):
    """Start handing a workload from one edge to another: the next epoch, journaled
    before any edge is told; reply: the :class:`~._ownership.OwnerRecord`."""

    migration_id: str
    workload: str
    from_edge: str
    to_edge: str
    run_id: str = ""


class SettleOwner(msgspec.Struct, frozen=True):
    """Record ``owner_edge`` as the workload's owner at ``epoch`` (the handover ended, done
    or undone); reply: the :class:`~._ownership.OwnerRecord`."""

    migration_id: str
    workload: str
    owner_edge: str
    epoch: int
    run_id: str = ""


OwnerReport = GetOwner | HandOver | SettleOwner
"""A migration actor's asks about owner records."""

RunReport = (
    Transition | SetDetail | SaveCheckpoint | PublishProgress | GetResume | RunEnded | OwnerReport
)
"""Everything a migration actor sends to the supervisor."""


# -- supervisor -> migration actor ---------------------------------------------------------


class Run(msgspec.Struct, frozen=True):
    """Mailbox message to the migration actor: run (or resume) from the latest checkpoint."""


class Intent(msgspec.Struct, frozen=True):
    """On the intent lane: stop the running phase and do ``kind``.

    Attributes:
        seq: increasing per run; ``RunEnded`` reports the last one handled.
        kind: what to do.
        checkpoint_id: a rollback's target checkpoint (``None``: back to the source).
        detail: the status detail to journal (``preempted by ...``).
    """

    seq: int
    kind: IntentKind
    checkpoint_id: str | None = None
    detail: str = ""
