"""The guide's original SDK's migration outputs, built from this project's (layer: workflow).

Code written for the original SDK reads keys such as ``plan["data_size_estimate"]``,
``progress["progress_percent"]`` or ``metrics["success_rate"]``; these pure functions
build them from the migration service's values, so :class:`EdgeMigrationNode` returns
them beside its own richer keys (docs/compat.md maps them key by key).

Units and times, as the original: sizes in bytes, durations in seconds, rates in
megabits per second (10**6 bits), ``success_rate`` a fraction 0..1, and times as ISO 8601
strings in UTC with an explicit offset (``datetime.fromisoformat`` reads them). This
project's own keys keep UNIX seconds (``planned_at``, ``updated_at``, ``at``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_args

from edge_actors.migration import Phase

from ._monitoring_compat import iso

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "BASELINE_BPS",
    "ORIGINAL_PHASES",
    "RUNNING",
    "estimated_duration",
    "execute_result",
    "history_entry",
    "metrics_dict",
    "original_phase",
    "plan_dict",
    "progress_dict",
    "workloads_migrated",
]

BASELINE_BPS = 100 * 1024 * 1024 * 8.0
"""The original SDK's planning baseline (100 MiB/s), used when a plan sets no bandwidth."""

OriginalPhase = Literal[Phase, "completed", "failed", "rollback"]
ORIGINAL_PHASES: tuple[OriginalPhase, ...] = get_args(OriginalPhase)
"""The original's ``MigrationPhase`` values: the running phases plus three end phases."""

_END_PHASES: dict[str, OriginalPhase] = {
    "completed": "completed",
    "failed": "failed",
    "cancelled": "failed",
    "rolling_back": "rollback",
    "rolled_back": "rollback",
}
_ACTIVE = frozenset(("planned", "queued", "paused", "rolling_back", *ORIGINAL_PHASES[:6]))
RUNNING = frozenset(("queued", *ORIGINAL_PHASES[:6]))
"""States of a migration that is queued or moving (what ``stop_migrator`` pauses)."""
_FAILED = frozenset(("failed", "cancelled", "rolled_back"))


def original_phase(state: str, phase: str | None) -> OriginalPhase:
    """The original's phase of a migration in ``state`` (running ``phase``, if any).

    A migration not started yet is in ``planning`` (as the original's progress was from
    its plan on); a paused one stays in the phase it paused in.
    """
    if state in _END_PHASES:
        return _END_PHASES[state]
    for candidate in ORIGINAL_PHASES:
        if candidate in (phase, state):
            return candidate
    return "planning"


def estimated_duration(plan: Mapping[str, Any]) -> tuple[float, str]:
    """Seconds the plan's estimated bytes take at its bandwidth limit, and the basis.

    Without a limit, the original SDK's baseline (:data:`BASELINE_BPS`) is the rate;
    the returned basis says which one was used, so nobody mistakes it for a measurement.
    """
    limit = plan.get("bandwidth_bps")
    size = float(plan.get("estimated_bytes") or 0)
    if isinstance(limit, int | float) and limit > 0:
        return size * 8.0 / float(limit), f"estimated bytes at the plan's limit {limit:g} bit/s"
    return size * 8.0 / BASELINE_BPS, "estimated bytes at the original SDK's 100 MiB/s baseline"


def plan_dict(plan: Mapping[str, Any]) -> dict[str, Any]:
    """A plain ``MigrationPlan`` plus the original's ``MigrationPlan.to_dict()`` keys.

    ``created_at`` becomes the original's ISO string; this project's UNIX time moves to
    ``planned_at``. ``constraints`` is the parsed form (units in the key names:
    ``max_downtime_s``).
    """
    created = float(plan.get("created_at") or 0.0)
    return {
        **plan,
        "workloads": list(plan.get("workloads", ())),
        "data_size_estimate": int(plan.get("estimated_bytes") or 0),
        "created_at": iso(created),
        "planned_at": created,
    }


def workloads_migrated(
    workloads: Sequence[str], state: str, routing: Mapping[str, str]
) -> list[str]:
    """Workloads whose traffic the target serves now (all of them once completed).

    Args:
        workloads: the plan's workloads, in stage order.
        state: the migration's state.
        routing: workload -> ``"source"`` / ``"target"`` from its latest checkpoint.
    """
    if state == "completed":
        return list(workloads)
    return [w for w in workloads if routing.get(w) == "target"]


def execute_result(
    status: Mapping[str, Any], metrics: Mapping[str, Any], migrated: list[str]
) -> dict[str, Any]:
    """The original's execution result, beside this project's status keys.

    ``status`` is ``"success"`` once the migration completed, ``"failed"`` when it ended
    otherwise (failed, rolled back, cancelled), else its state (``queued`` with
    ``wait: false``, ``paused`` when paused while waited for).
    """
    state = str(status["state"])
    outcome = "success" if state == "completed" else "failed" if state in _FAILED else state
    out: dict[str, Any] = {
        **status,
        "status": outcome,
        "duration": float(metrics.get("duration_s") or 0.0),
        "data_transferred": int(metrics.get("bytes_raw") or 0),
        "workloads_migrated": migrated,
    }
    if state in _FAILED:
        out["rollback_completed"] = state == "rolled_back"
    return out


def progress_dict(
    progress: Mapping[str, Any],
    *,
    status: Mapping[str, Any],
    plan: Mapping[str, Any],
    migrated: list[str],
    now: float,
) -> dict[str, Any]:
    """A plain ``MigrationProgress`` plus the original's ``MigrationProgress.to_dict()``.

    ``start_time`` is when the migration was planned (the original's progress started
    with the plan); ``estimated_completion`` is ``now`` plus the live ETA, ``None``
    while there is none (not running, paused, ended). ``metrics.paused`` is 1 while
    paused, else 0; ``metrics.transfer_rate_mbps`` the goodput in megabits per second.
    """
    state = str(progress["state"])
    eta = progress.get("eta_s")
    running = state not in ("paused", "planned", "queued") and state not in _END_PHASES
    finish = iso(now + float(eta)) if running and isinstance(eta, int | float) else None
    goodput = float(progress.get("goodput_bps") or 0.0)
    error = status.get("error")
    return {
        **progress,
        "phase": original_phase(state, progress.get("phase")),
        "progress_percent": 100.0 if state == "completed" else float(progress["percent"]),
        "data_transferred": int(progress.get("bytes_done") or 0),
        "workloads_migrated": migrated,
        "start_time": iso(float(plan.get("planned_at") or 0.0)),
        "estimated_completion": finish,
        "errors": [str(error)] if error else [],
        "metrics": {
            "transfer_rate_mbps": goodput * 8.0 / 1e6,
            "paused": 1 if state == "paused" else 0,
            "dirty_rate_mbps": float(progress.get("dirty_rate_bps") or 0.0) * 8.0 / 1e6,
            "round": int(progress.get("round") or 0),
        },
    }


def history_entry(
    plan: Mapping[str, Any], metrics: Mapping[str, Any], completed_at: float
) -> dict[str, Any]:
    """One completed migration as the original's history lists it."""
    return {
        "migration_id": plan["migration_id"],
        "completed_at": iso(completed_at),
        "duration": float(metrics.get("duration_s") or 0.0),
        "data_transferred": int(metrics.get("bytes_raw") or 0),
        "workloads": list(plan.get("workloads", ())),
        "source_edge": plan.get("source_edge"),
        "target_edge": plan.get("target_edge"),
    }


def metrics_dict(states: Iterable[str], data_transferred: int) -> dict[str, Any]:
    """The original's totals over migrations in ``states``.

    ``success_rate`` is completed over all migrations, 0..1 (0.0 with none), as the
    original computed it; ``failed_migrations`` counts the migrations in state
    ``failed`` (a rollback or cancel asked for is not a failure).
    """
    listed = list(states)
    total = len(listed)
    completed = sum(1 for s in listed if s == "completed")
    return {
        "total_migrations": total,
        "active_migrations": sum(1 for s in listed if s in _ACTIVE),
        "completed_migrations": completed,
        "failed_migrations": sum(1 for s in listed if s == "failed"),
        "total_data_transferred": int(data_transferred),
        "success_rate": completed / total if total else 0.0,
    }
