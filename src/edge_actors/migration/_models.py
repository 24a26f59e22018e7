"""Plans, checkpoints, progress, metrics and history of migrations (layer: migration).

Every value the engine journals or returns is a msgspec Struct here, so the journal,
the daemon's admin routes and the workflow nodes share one encoding (JSON via
``msgspec.to_builtins``).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from edge_actors.schema import (
    BandwidthValue,
    BatchSize,
    ConstraintsValue,
    DurationValue,
    EdgeName,
    Flag,
    MigrationId,
    Priority,
    StrategyName,
    TestEndpoints,
    Workloads,
)

from ._constraints import Constraints
from ._slots import DEFAULT_LINK_TRANSFERS, check_transfers

__all__ = [
    "ACTIVE_STATES",
    "RUNNING_STATES",
    "TERMINAL_STATES",
    "Checkpoint",
    "HistoryEvent",
    "MigrationMetrics",
    "MigrationPlan",
    "MigrationProgress",
    "MigrationState",
    "MigrationStatus",
    "MigrationSummary",
    "OverallMetrics",
    "Phase",
    "PlanRequest",
    "ServiceDefaults",
    "StrategyName",
    "WorkloadCheckpoint",
    "WorkloadEstimate",
]

Phase = Literal["planning", "pre_sync", "sync", "cutover", "validation", "cleanup"]
"""The running phases, in order (staged loops sync -> cutover -> validation per stage)."""

MigrationState = Literal[
    "planned",
    "queued",
    "planning",
    "pre_sync",
    "sync",
    "cutover",
    "validation",
    "cleanup",
    "completed",
    "paused",
    "failed",
    "rolling_back",
    "rolled_back",
    "cancelled",
]

PHASES: tuple[Phase, ...] = ("planning", "pre_sync", "sync", "cutover", "validation", "cleanup")
RUNNING_STATES: frozenset[str] = frozenset(PHASES)
TERMINAL_STATES: frozenset[str] = frozenset(("completed", "rolled_back", "cancelled"))
ACTIVE_STATES: frozenset[str] = frozenset(("planned", "queued", "paused", "rolling_back", *PHASES))

Routing = Literal["source", "target"]


class ServiceDefaults(msgspec.Struct, kw_only=True):
    """Defaults for later plans (the guide's ``start_migrator`` parameters).

    Attributes:
        checkpoint_interval_s: seconds between checkpoints while syncing (guide: 60).
        bandwidth_limit_mbps: link limit for plans that give none (``None``: unlimited).
        sync_batch_size: records per transfer chunk (guide: 1000).
        enable_compression: zstd-compress chunks (guide: on).
        max_concurrent: migrations executing at once; more are queued (default 2).
        link_transfers: transfers running at once on one ``source -> target`` link, all
            migrations together (default 4; a plan's ``parallel_transfers`` caps its own).
    """

    checkpoint_interval_s: float = 60.0
    bandwidth_limit_mbps: float | None = None
    sync_batch_size: int = 1000
    enable_compression: bool = True
    max_concurrent: int = 2
    link_transfers: int = DEFAULT_LINK_TRANSFERS

    def __post_init__(self) -> None:
        check_transfers(self.link_transfers, "link_transfers")


class PlanRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a caller asks to migrate, as the guide writes it (units still as text).

    The one definition of the plan's shape: each field's type (``edge_actors.schema``)
    is the rule every boundary converts with; ``check_plan_values`` adds the rules that
    span fields or need ``units`` / ``parse_constraints``.

    Attributes:
        source_edge: edge the workloads are on.
        target_edge: edge they move to.
        workloads: workload names, in stage order for ``staged``.
        strategy: ``live`` (default), ``staged``, ``bulk``, ``incremental``, ``emergency``.
        priority: 1..10, higher runs first (default 5; emergency 10).
        constraints: ``time_window``, ``bandwidth``, ``max_downtime``, ``sync_interval``,
            ``delta_threshold``, ``skip_validation``, ``force_migration``,
            ``validation_required``, ``max_rounds``, ``parallel_transfers``,
            ``cutover_attempts``.
        bandwidth_limit_mbps: link limit in megabits/s (service default when ``None``).
        enable_compression: zstd chunks (service default when ``None``).
        sync_batch_size: records per chunk (service default when ``None``).
        checkpoint_interval: seconds or ``"30s"`` (service default when ``None``).
        test_endpoints: paths probed on the target during validation (``/api/health``).
        migration_id: chosen id (default: generated).
    """

    source_edge: EdgeName
    target_edge: EdgeName
    workloads: Workloads
    strategy: StrategyName = "live"
    priority: Priority | None = None
    constraints: ConstraintsValue = msgspec.field(default_factory=dict)
    bandwidth_limit_mbps: BandwidthValue | None = None
    enable_compression: Flag | None = None
    sync_batch_size: BatchSize | None = None
    checkpoint_interval: DurationValue | None = None
    test_endpoints: TestEndpoints = msgspec.field(default_factory=list)
    migration_id: MigrationId | None = None


class WorkloadEstimate(msgspec.Struct, frozen=True):
    """Size of one workload on the source at plan time."""

    workload: str
    records: int
    bytes: int
    lsn: int


class MigrationPlan(msgspec.Struct, frozen=True, kw_only=True):
    """A validated, journaled plan.

    Attributes:
        migration_id: the id every other call takes.
        source_edge, target_edge: edge names.
        workloads: names, in stage order.
        strategy: the strategy name.
        priority: 1..10.
        constraints: parsed constraints.
        bandwidth_bps: effective link limit in bits/s (``None``: unlimited).
        bandwidth_explicit: the plan itself set a limit (emergency keeps only those).
        enable_compression: zstd chunks.
        sync_batch_size: records per chunk.
        checkpoint_interval_s: seconds between checkpoints while syncing.
        test_endpoints: probed on the target in validation.
        estimates: per-workload size at plan time.
        estimated_bytes: total of ``estimates``.
        target_free_bytes: free bytes the target reported (``None``: unlimited/unknown).
        created_at: UNIX time of planning.
    """

    migration_id: str
    source_edge: str
    target_edge: str
    workloads: tuple[str, ...]
    strategy: StrategyName
    priority: int
    constraints: Constraints
    bandwidth_bps: float | None
    bandwidth_explicit: bool
    enable_compression: bool
    sync_batch_size: int
    checkpoint_interval_s: float
    test_endpoints: tuple[str, ...] = ()
    estimates: tuple[WorkloadEstimate, ...] = ()
    estimated_bytes: int = 0
    target_free_bytes: int | None = None
    created_at: float = 0.0


class WorkloadCheckpoint(msgspec.Struct, kw_only=True):
    """What resume and rollback need about one workload.

    Attributes:
        acked_lsn: the target confirmed every change up to this LSN.
        routing: where its traffic goes (``source`` until cutover).
        cutover_lsn: the source's hold LSN at cutover (rollback syncs back after it).
        validated: digests compared equal.
        created_on_target: pre_sync created it (rollback drops it).
        target_digest: the target's digest at the hold LSN (compared in validation).
        undone_cutovers: cutover attempts of this workload that were undone (its
            source released the held writes to itself), over every run.
    """

    acked_lsn: int = 0
    routing: Routing = "source"
    cutover_lsn: int | None = None
    validated: bool = False
    created_on_target: bool = False
    target_digest: str | None = None
    undone_cutovers: int = 0


class Checkpoint(msgspec.Struct, kw_only=True):
    """A journaled resume point of a migration.

    Attributes:
        checkpoint_id: unique id (``<migration_id>-cp<seq>``).
        migration_id: the migration it belongs to.
        seq: 1, 2, ... per migration.
        created_at: UNIX time.
        phase: the phase the migration was in.
        round: the delta round reached.
        stage: index of the current stage.
        workloads: per-workload state.
        reason: why it was taken (``phase boundary``, ``interval``, ``pause``, ...).
    """

    checkpoint_id: str
    migration_id: str
    seq: int
    created_at: float
    phase: Phase
    round: int = 0
    stage: int = 0
    workloads: dict[str, WorkloadCheckpoint] = msgspec.field(default_factory=dict)
    reason: str = ""


class HistoryEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One journaled transition."""

    migration_id: str
    at: float
    from_state: str
    to_state: str
    detail: str = ""


class MigrationProgress(msgspec.Struct, kw_only=True):
    """Live progress, refreshed from the transfer progress stream (>= every 100 ms).

    Attributes:
        migration_id: the migration.
        state: the current state.
        phase: the current (or last) running phase.
        detail: what it is doing or waiting for.
        round: current delta round.
        stage: current stage index (staged).
        workload: workload being synced.
        records_done: records acknowledged by the target in this migration.
        records_total: records estimated to move (grows with the writes).
        bytes_done: raw bytes acknowledged.
        bytes_remaining: raw bytes estimated still to move.
        percent: 0..100 estimate.
        dirty_rate_bps: bytes/s of new changes on the source (last round).
        goodput_bps: raw bytes/s the target acknowledged (last transfer).
        eta_s: estimated seconds left of syncing (``None``: unknown).
        expected_downtime_ms: estimate of the next (or last) cutover's write hold.
        measured_downtime_ms: measured write hold of the cutover(s), once done.
        updated_at: UNIX time of this snapshot.
    """

    migration_id: str
    state: MigrationState
    phase: Phase | None = None
    detail: str = ""
    round: int = 0
    stage: int = 0
    workload: str | None = None
    records_done: int = 0
    records_total: int = 0
    bytes_done: int = 0
    bytes_remaining: int = 0
    percent: float = 0.0
    dirty_rate_bps: float = 0.0
    goodput_bps: float = 0.0
    eta_s: float | None = None
    expected_downtime_ms: float | None = None
    measured_downtime_ms: float | None = None
    updated_at: float = 0.0


class MigrationMetrics(msgspec.Struct, kw_only=True):
    """Figures of one migration (journaled with its checkpoints).

    Attributes:
        migration_id: the migration.
        state: the current state.
        phase_durations_s: seconds spent in each phase (summed over stages and resumes).
        duration_s: seconds executing in total.
        bytes_raw: uncompressed payload bytes acknowledged by the target (cutovers'
            final deltas included).
        bytes_wire: frame bytes the sources put on the wire, each counted once: every
            chunk sent (a re-sent one again), cutovers' final deltas and the tails of
            paused or cancelled transfers included.
        compression_ratio: ``bytes_raw / bytes_wire`` (1.0 when nothing moved).
        records: records acknowledged.
        rounds: delta rounds run (all workloads).
        downtime_ms: measured write hold of the cutover that switched each workload (the
            successful attempt only; a failed attempt's hold is counted below).
        max_downtime_ms: the longest of ``downtime_ms``.
        downtime_worst_ms: the longest write hold of any cutover attempt, successful or
            undone (a failed attempt counts the hold its source measured; when the source
            could not say, the whole call, which contains the hold).
        downtime_total_ms: the sum of the write holds of every cutover attempt.
        cutover_attempts: cutover calls made, successful or not.
        holds_over_max_downtime: cutover attempts, successful or undone, whose write hold
            exceeded the plan's ``max_downtime``.
        expected_downtime_ms: the estimate made before each cutover.
        throughput_bps: raw bytes per second of sync time.
        rollbacks: rollbacks run.
        restarts: restarts from a checkpoint: crashes of the migration actor, and runs
            recovered from the journal after the supervisor itself restarted.
        pauses: pauses (user or preemption).
        workload_bytes: estimated size of the workloads (for wire / size ratios).
        peak_transfers: the most transfers of this migration that ran at once (copies
            and final deltas; at most the plan's ``parallel_transfers``).
        cutover_brakes: times the plan's cutovers were braked (most of the recent
            attempts undone: one cutover at a time, no copy beside it, until two in a
            row cut over).
    """

    migration_id: str
    state: MigrationState = "planned"
    phase_durations_s: dict[str, float] = msgspec.field(default_factory=dict)
    duration_s: float = 0.0
    bytes_raw: int = 0
    bytes_wire: int = 0
    compression_ratio: float = 1.0
    records: int = 0
    rounds: int = 0
    downtime_ms: dict[str, float] = msgspec.field(default_factory=dict)
    max_downtime_ms: float = 0.0
    downtime_worst_ms: float = 0.0
    downtime_total_ms: float = 0.0
    cutover_attempts: int = 0
    holds_over_max_downtime: int = 0
    expected_downtime_ms: dict[str, float] = msgspec.field(default_factory=dict)
    throughput_bps: float = 0.0
    rollbacks: int = 0
    restarts: int = 0
    pauses: int = 0
    workload_bytes: int = 0
    peak_transfers: int = 0
    cutover_brakes: int = 0


class OverallMetrics(msgspec.Struct, kw_only=True):
    """Totals over every migration the supervisor knows."""

    migrations: int = 0
    by_state: dict[str, int] = msgspec.field(default_factory=dict)
    completed: int = 0
    failed: int = 0
    rolled_back: int = 0
    bytes_raw: int = 0
    bytes_wire: int = 0
    compression_ratio: float = 1.0
    rollbacks: int = 0
    restarts: int = 0
    max_downtime_ms: float = 0.0
    mean_duration_s: float = 0.0


class MigrationStatus(msgspec.Struct, kw_only=True):
    """State of one migration as the supervisor sees it.

    Attributes:
        migration_id: the migration.
        state: its state.
        phase: the current or last running phase.
        detail: what it does or waits for (``waiting for time window ...``).
        error: the failure reason, when failed.
        priority: 1..10.
        strategy: the strategy name.
        auto_rollback: roll back automatically on failure.
        rollback_checkpoint: the checkpoint a running rollback returns to.
        updated_at: UNIX time of the last transition; strictly grows with each one (by
            the smallest float step when the clock stands still or steps back).
    """

    migration_id: str
    state: MigrationState
    phase: Phase | None = None
    detail: str = ""
    error: str | None = None
    priority: int = 5
    strategy: str = "live"
    auto_rollback: bool = False
    rollback_checkpoint: str | None = None
    updated_at: float = 0.0


class MigrationSummary(msgspec.Struct, kw_only=True):
    """One line of ``active()``: a non-terminal migration."""

    migration_id: str
    state: MigrationState
    phase: Phase | None
    strategy: str
    priority: int
    source_edge: str
    target_edge: str
    workloads: list[str]
    detail: str = ""
    percent: float = 0.0
