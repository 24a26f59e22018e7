"""``EdgeMigrationNode``: the guide's migration operations as a workflow node (layer: workflow).

A thin node over the process-wide :class:`~edge_actors.runtime.EdgeEnvironment` (one
``MigrationService`` per engine), so a plan made in one workflow is executed, paused or
rolled back from any other. Parameter values are checked at build time by
:meth:`EdgeMigrationNode.validate`; at run time every refusal of the engine comes back as
``{"status": "error", "error": "<operation>: <what to fix>"}``, never a traceback.

This module imports the runtime's environment lazily (inside ``run``): the workflow
layer's import order stays intact, and the registry can import this module on first
lookup without starting anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import msgspec

from edge_actors.errors import EdgeActorsError

from . import _migration_compat as compat
from ._migration_ids import optional_id, resolve_migration_id
from ._migration_params import MAX_NAMES as MAX_NAMES
from ._migration_params import check_edge as check_edge
from ._migration_params import check_edge_list as check_edge_list
from ._migration_params import check_none as check_none
from ._migration_params import check_values
from ._migration_params import short as short
from ._node import Node
from ._registry import register_node_type
from ._spec import OperationSpec, ParamSpec
from ._values import find_value

if TYPE_CHECKING:
    from collections.abc import Mapping

    from edge_actors.migration import MigrationStatus
    from edge_actors.runtime import EdgeEnvironment
    from edge_actors.runtime._remote_supervisor import MigrationOps

    from ._context import NodeContext

__all__ = [
    "Call",
    "EdgeMigrationNode",
    "EdgeNode",
    "failed",
    "succeeded",
    "to_plain",
]

_ROLLBACK_TIMEOUT_S = 120.0

SUCCESS = "success"
FAILED = "error"
"""``status`` of a failed operation: the original SDK's word (the runtime reads it too)."""


def to_plain(value: object) -> Any:
    """Structs, tuples and friends -> plain dicts, lists, str, numbers (as JSON has them)."""
    return msgspec.json.decode(msgspec.json.encode(value))


def succeeded(result: object, **extra: object) -> dict[str, object]:
    """A success result dict: ``status``, ``result`` and the operation's own keys."""
    return {"status": SUCCESS, "result": result, **extra}


def failed(operation: str, exc: BaseException) -> dict[str, object]:
    """A failure result dict whose ``error`` names the operation and the cause."""
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}: {cause}"
    return {"status": FAILED, "result": None, "error": f"{operation}: {text}"}


# -- declarations ----------------------------------------------------------------------

_TUNING = (
    ParamSpec("bandwidth_limit_mbps", doc="link limit in megabits/s (or '50mbps')"),
    ParamSpec("enable_compression", doc="zstd-compress chunks (service default: true)"),
    ParamSpec("sync_batch_size", doc="records per chunk (service default: 1000)"),
    ParamSpec("checkpoint_interval", doc="seconds (or '30s') between checkpoints"),
)
_ID = ParamSpec("migration_id", doc="the plan's id (else a connected one, else the upstream plan)")

_OPERATIONS: dict[str, OperationSpec] = {
    "start_migrator": OperationSpec(
        params=(*_TUNING, ParamSpec("max_concurrent", doc="migrations executing at once")),
        doc="set the service defaults later plans use",
    ),
    "stop_migrator": OperationSpec(
        doc="pause every running or queued migration (journaled; resume_migration continues)"
    ),
    "plan_migration": OperationSpec(
        params=(
            ParamSpec("source_edge", required=True, doc="edge the workloads are on"),
            ParamSpec("target_edge", required=True, doc="edge they move to"),
            ParamSpec("workloads", required=True, doc="workload names (stage order)"),
            ParamSpec("strategy", default="live", doc="live, staged, bulk, incremental, emergency"),
            ParamSpec("priority", doc="1..10, higher first (default 5; emergency 10)"),
            ParamSpec("constraints", doc="time_window, bandwidth, max_downtime, ..."),
            *_TUNING,
            ParamSpec("test_endpoints", doc="paths probed on the target in validation"),
            ParamSpec("migration_id", doc="choose the id (default: generated)"),
        ),
        doc="validate a migration against the edges and journal its plan",
    ),
    "execute_migration": OperationSpec(
        params=(
            _ID,
            ParamSpec("auto_rollback", default=False, doc="roll back automatically on failure"),
            ParamSpec(
                "wait",
                default=True,
                doc="true (default): return once the migration ended or paused, as the "
                "original SDK; false: return once queued (it runs in the background)",
            ),
        ),
        doc="run a planned migration (to its end by default)",
    ),
    "get_progress": OperationSpec(
        params=(
            _ID,
            ParamSpec("validate_functionality", default=False, doc="compare digests now"),
            ParamSpec("test_endpoints", doc="paths to probe on the target now"),
        ),
        doc="live progress (and an on-demand validation)",
    ),
    "get_metrics": OperationSpec(
        params=(ParamSpec("migration_id", doc="one migration (default: totals over all)"),),
        doc="figures of one migration or of all",
    ),
    "get_active_migrations": OperationSpec(doc="migrations not in a terminal state"),
    "pause_migration": OperationSpec(params=(_ID,), doc="stop the transfer, keep the state"),
    "resume_migration": OperationSpec(params=(_ID,), doc="continue from the last acked LSNs"),
    "rollback_migration": OperationSpec(
        params=(_ID, ParamSpec("checkpoint_id", doc="return to this checkpoint (optional)")),
        doc="restore routing to the source",
    ),
    "cancel_migration": OperationSpec(params=(_ID,), doc="abandon a migration not cut over"),
    "get_history": OperationSpec(
        params=(ParamSpec("migration_id", doc="one migration (default: all)"),),
        doc="completed migrations, journaled transitions and checkpoints",
    ),
}

_PLAN_KEYS = (
    "source_edge",
    "target_edge",
    "workloads",
    "strategy",
    "priority",
    "constraints",
    "bandwidth_limit_mbps",
    "enable_compression",
    "sync_batch_size",
    "checkpoint_interval",
    "test_endpoints",
    "migration_id",
)
_MIGRATOR_KEYS = (
    "checkpoint_interval",
    "bandwidth_limit_mbps",
    "sync_batch_size",
    "enable_compression",
    "max_concurrent",
)


class Call(NamedTuple):
    """One operation call: the node's context, the environment, params and inputs."""

    ctx: NodeContext
    env: EdgeEnvironment
    params: dict[str, object]
    inputs: dict[str, object]


class EdgeNode(Node):
    """Base of the edge node types: dispatches ``run`` to ``_op_<operation>(call)``.

    Every refusal of the library (``EdgeActorsError``) and an expired wait come back as a
    failed result naming the operation, never as a traceback; so does an unknown
    operation, as in the guide's original SDK.
    """

    unknown_operations_at_run: ClassVar[bool] = True

    async def run(
        self, ctx: NodeContext, params: dict[str, object], inputs: dict[str, object]
    ) -> dict[str, object]:
        """Run the operation against the shared edge environment."""
        from edge_actors.runtime import get_environment

        operation = ctx.operation
        try:
            env = await get_environment(ctx.services)
            handler = getattr(self, f"_op_{operation}")
            result: dict[str, object] = await handler(Call(ctx, env, params, inputs))
        except EdgeActorsError as exc:
            return failed(operation, exc)
        except TimeoutError as exc:
            return failed(operation, exc if str(exc) else TimeoutError("timed out"))
        return result


@register_node_type
class EdgeMigrationNode(EdgeNode):
    """The guide's ``EdgeMigrationNode``: plan, run and control live migrations.

    Every operation returns ``status`` (``"success"`` / ``"error"``) and ``result`` plus
    its own keys: the original SDK's (docs/compat.md maps them) beside this project's
    (docs/guide.md). Operations that act on one migration find its id as
    :func:`~edge_actors.workflow._migration_ids.resolve_migration_id` says: the
    ``migration_id`` parameter, else the connected inputs, else the nearest upstream
    plan; two different ids from one source are an error naming both.
    """

    type_name: ClassVar[str] = "EdgeMigrationNode"
    operations: ClassVar[Mapping[str, OperationSpec]] = _OPERATIONS

    @classmethod
    def validate(cls, operation: str, params: Mapping[str, object]) -> None:
        """Check values: strategies, constraints, durations, sizes, bandwidths, priority."""
        check_none(cls, operation, params)
        check_values(params)

    # -- helpers ------------------------------------------------------------------------

    @staticmethod
    def _migration_id(call: Call) -> str:
        return resolve_migration_id(call.ctx, call.params, call.inputs)

    @staticmethod
    async def _status(service: MigrationOps, migration_id: str) -> dict[str, Any]:
        status: dict[str, Any] = to_plain(await service.status(migration_id))
        return status

    @staticmethod
    async def _plan(service: MigrationOps, migration_id: str) -> dict[str, Any]:
        """The journaled plan with the original's plan keys."""
        return compat.plan_dict(to_plain(await service.plan_of(migration_id)))

    @staticmethod
    async def _migrated(service: MigrationOps, plan: Mapping[str, Any], state: str) -> list[str]:
        """Workloads the target serves now, from the latest checkpoint's routing."""
        checkpoints = await service.checkpoints(str(plan["migration_id"]))
        latest = checkpoints[-1].workloads if checkpoints else {}
        routing = {workload: mark.routing for workload, mark in latest.items()}
        return compat.workloads_migrated(list(plan["workloads"]), state, routing)

    async def _control(
        self,
        service: MigrationOps,
        status_obj: MigrationStatus,
        outcome: str,
        **original: object,
    ) -> dict[str, object]:
        """A control operation's result: the status, plus the original's result keys."""
        plain = to_plain(status_obj)
        result = {**plain, "status": outcome, **original}
        return succeeded(
            result, migration=plain, migration_id=status_obj.migration_id, state=plain["state"]
        )

    # -- operations ---------------------------------------------------------------------

    async def _op_start_migrator(self, call: Call) -> dict[str, object]:
        env = call.env
        params = call.params
        values = {k: params[k] for k in _MIGRATOR_KEYS if params.get(k) is not None}
        defaults = to_plain(await env.migration.configure(**values))
        info = {
            "defaults": defaults,
            "embedded": env.embedded,
            "edges": env.edges(),
            "data_dir": str(env.data_dir),
        }
        return succeeded(info, defaults=defaults, migrator="running", migrator_active=True)

    async def _op_stop_migrator(self, call: Call) -> dict[str, object]:
        service = call.env.migration
        paused: list[str] = []
        for status in await service.statuses():
            if status.state in compat.RUNNING:
                after = await service.pause(status.migration_id)
                if after.state == "paused":
                    paused.append(status.migration_id)
        info = {"paused": paused}
        return succeeded(info, paused=paused, migrator="stopped", migrator_active=False)

    async def _op_plan_migration(self, call: Call) -> dict[str, object]:
        env = call.env
        params = call.params
        source = check_edge("source_edge", params["source_edge"])
        target = check_edge("target_edge", params["target_edge"])
        if not env.remote:  # a supervisor daemon checks its own edges
            await env.ensure_edges([source, target])
        request = {k: params[k] for k in _PLAN_KEYS if params.get(k) is not None}
        plan = await env.migration.plan(request)
        plain = compat.plan_dict(to_plain(plan))
        status = await self._status(env.migration, plan.migration_id)
        duration, basis = compat.estimated_duration(plain)
        summary = {
            "migration_id": plan.migration_id,
            "state": status["state"],
            "strategy": plan.strategy,
            "priority": plan.priority,
            "source_edge": plan.source_edge,
            "target_edge": plan.target_edge,
            "workloads": list(plan.workloads),
            "estimated_bytes": plan.estimated_bytes,
        }
        return succeeded(
            summary,
            plan=plain,
            migration_id=plan.migration_id,
            estimated_duration=duration,
            estimated_duration_basis=basis,
        )

    async def _op_execute_migration(self, call: Call) -> dict[str, object]:
        service = call.env.migration
        params = call.params
        migration_id = self._migration_id(call)
        wait = params.get("wait") is not False
        status = await service.execute(
            migration_id, auto_rollback=params.get("auto_rollback") is True, wait=wait
        )
        plain = to_plain(status)
        plan = await self._plan(service, migration_id)
        metrics = to_plain(await service.metrics(migration_id))
        migrated = await self._migrated(service, plan, status.state)
        result = compat.execute_result(plain, metrics, migrated)
        out = succeeded(result, migration=plain, migration_id=migration_id, state=status.state)
        if wait and status.state != "completed":
            out["status"] = FAILED
            if status.state == "paused":
                why = " (resume_migration continues it)"
            else:
                why = f": {status.error}" if status.error else ""
            out["error"] = f"execute_migration: migration {migration_id} is {status.state}{why}"
            result["error"] = out["error"]
        return out

    async def _op_get_progress(self, call: Call) -> dict[str, object]:
        env = call.env
        service = env.migration
        params = call.params
        migration_id = self._migration_id(call)
        raw = to_plain(await service.progress(migration_id))
        status = await self._status(service, migration_id)
        plan = await self._plan(service, migration_id)
        migrated = await self._migrated(service, plan, str(raw["state"]))
        progress = compat.progress_dict(
            raw, status=status, plan=plan, migrated=migrated, now=env.clock.time()
        )
        out = succeeded(progress, progress=progress, migration_id=migration_id)
        endpoints = params.get("test_endpoints")
        if params.get("validate_functionality") is True or endpoints:
            paths = [str(p) for p in endpoints] if isinstance(endpoints, list) else []
            out["validation"] = await self._validation(env, migration_id, paths)
        return out

    @staticmethod
    async def _validation(
        env: EdgeEnvironment, migration_id: str, paths: list[str]
    ) -> dict[str, object]:
        """The migration service's validation report, as plain data."""
        report = await env.migration.validate(migration_id, paths)
        plain: dict[str, object] = to_plain(report)
        return plain

    async def _op_get_metrics(self, call: Call) -> dict[str, object]:
        service = call.env.migration
        migration_id = optional_id(call.params)
        metrics = to_plain(await service.metrics(migration_id))
        if migration_id is None:
            states: list[str] = [s.state for s in await service.statuses()]
        else:
            states = [str(metrics["state"])]
        metrics.update(compat.metrics_dict(states, int(metrics.get("bytes_raw") or 0)))
        extra: dict[str, object] = {"metrics": metrics}
        if migration_id is not None:
            extra["migration_id"] = migration_id
        return succeeded(metrics, **extra)

    async def _op_get_active_migrations(self, call: Call) -> dict[str, object]:
        service = call.env.migration
        migrations = []
        for summary in await service.active():
            plan = await self._plan(service, summary.migration_id)
            migrations.append({**plan, **to_plain(summary)})
        return succeeded(migrations, migrations=migrations, count=len(migrations))

    async def _op_pause_migration(self, call: Call) -> dict[str, object]:
        service = call.env.migration
        migration_id = self._migration_id(call)
        status = await service.pause(migration_id)
        checkpoints = await service.checkpoints(migration_id)
        out = await self._control(
            service,
            status,
            status.state,
            checkpoint_id=checkpoints[-1].checkpoint_id if checkpoints else None,
            can_resume=status.state == "paused",
        )
        if status.state != "paused":
            out["status"] = FAILED
            out["error"] = f"pause_migration: migration {migration_id} is {status.state}"
        return out

    async def _op_resume_migration(self, call: Call) -> dict[str, object]:
        service = call.env.migration
        migration_id = self._migration_id(call)
        status = await service.resume(migration_id)
        phase = compat.original_phase(status.state, status.phase)
        return await self._control(service, status, "resumed", phase=phase)

    async def _op_rollback_migration(self, call: Call) -> dict[str, object]:
        service = call.env.migration
        params = call.params
        migration_id = self._migration_id(call)
        checkpoint = params.get("checkpoint_id")
        checkpoint_id = checkpoint if isinstance(checkpoint, str) else None
        if checkpoint is not None and checkpoint_id is None:
            found = find_value(checkpoint, "checkpoint_id")
            checkpoint_id = found if isinstance(found, str) else None
        before = await service.status(migration_id)
        if before.state == "planned" and checkpoint_id is None:
            # Nothing moved yet: the workloads are at the source. The original SDK answered
            # rolled_back here; the journal records what happened: cancelled.
            status = await service.cancel(migration_id)
        else:
            status = await self._rollback(service, migration_id, checkpoint_id)
        out = await self._control(service, status, "rolled_back", checkpoint_used=checkpoint_id)
        out["checkpoint_id"] = checkpoint_id
        if status.state == "failed":
            out["status"] = FAILED
            out["error"] = f"rollback_migration: {status.error or 'rollback failed'}"
        return out

    @staticmethod
    async def _rollback(
        service: MigrationOps, migration_id: str, checkpoint_id: str | None
    ) -> MigrationStatus:
        """Roll back and wait for the outcome (rolled back, back at a checkpoint, failed)."""
        return await service.rollback(
            migration_id, checkpoint_id, wait=True, timeout=_ROLLBACK_TIMEOUT_S
        )

    async def _op_cancel_migration(self, call: Call) -> dict[str, object]:
        service = call.env.migration
        migration_id = self._migration_id(call)
        status = await service.cancel(migration_id)
        return await self._control(service, status, status.state)

    async def _op_get_history(self, call: Call) -> dict[str, object]:
        service = call.env.migration
        migration_id = optional_id(call.params)
        history = to_plain(await service.history(migration_id))
        if migration_id is not None:
            ids = [migration_id]
        else:
            ids = [s.migration_id for s in await service.statuses()]
        checkpoints: list[object] = []
        completed: list[dict[str, Any]] = []
        ended = {e["migration_id"]: e["at"] for e in history if e["to_state"] == "completed"}
        for mid in ids:
            checkpoints.extend(to_plain(await service.checkpoints(mid)))
            if mid in ended:
                plan = await self._plan(service, mid)
                metrics = to_plain(await service.metrics(mid))
                completed.append(compat.history_entry(plan, metrics, float(ended[mid])))
        extra: dict[str, object] = {
            "history": history,
            "checkpoints": checkpoints,
            "migrations": completed,
            "count": len(completed),
        }
        if migration_id is not None:
            extra["migration_id"] = migration_id
        return succeeded({"history": history, "checkpoints": checkpoints}, **extra)
