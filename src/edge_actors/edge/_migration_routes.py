"""The daemon's migration admin API over a :class:`MigrationService` (edge layer).

``add_migration_routes(app, service)`` mounts ``/admin/migrations`` (bearer cluster token,
enforced by the daemon's middleware like every ``/admin/`` route). Bodies and answers are
JSON; errors use the daemon's ``{"error", "message"}`` shape: 400 malformed plan, 404
unknown migration / checkpoint / edge / workload, 409 illegal transition, 507 capacity.
Body fields are converted with the shared ``edge_actors.schema`` types, so a mistake gets the
message the Python API and the workflow node give for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from edge_actors.errors import ConfigError
from edge_actors.migration import (
    IllegalTransition,
    InsufficientCapacity,
    MigrationError,
    UnknownCheckpoint,
    UnknownEdgeName,
    UnknownMigration,
    WorkloadNotOnEdge,
)
from edge_actors.migration.journal import JournalUnavailable
from edge_actors.schema import CheckpointId, Flag, convert

from ._http import HttpError, json_response, parse_json, read_body

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiohttp import web

    from edge_actors.migration import MigrationService

__all__ = ["add_migration_routes"]

_BODY_LIMIT = 256 * 1024

_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (ConfigError, 400, "invalid_plan"),
    (UnknownMigration, 404, "migration_not_found"),
    (UnknownCheckpoint, 404, "checkpoint_not_found"),
    (UnknownEdgeName, 404, "edge_not_found"),
    (WorkloadNotOnEdge, 404, "workload_not_found"),
    (IllegalTransition, 409, "illegal_transition"),
    (InsufficientCapacity, 507, "insufficient_capacity"),
    (JournalUnavailable, 503, "journal_unavailable"),
    (MigrationError, 409, "migration_error"),
)

_JOURNAL_RETRY_AFTER_S = 5
"""``Retry-After`` of a 503 while the journal is unreachable (the supervisor's longest
wait between attempts to reach it again)."""


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await read_body(request, _BODY_LIMIT)
    if not raw.strip():
        return {}
    data = parse_json(raw, "body")
    if not isinstance(data, dict):
        raise HttpError(400, "invalid_body", "expected a JSON object")
    return data


def _ok(value: Any, status: int = 200) -> web.Response:
    return json_response(msgspec.to_builtins(value), status=status)


def add_migration_routes(app: web.Application, service: MigrationService) -> None:
    """Mount the migration admin routes of ``service`` on ``app`` (before it starts)."""

    def guarded(
        handler: Callable[[web.Request], Awaitable[web.Response]],
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def wrapper(request: web.Request) -> web.Response:
            try:
                return await handler(request)
            except Exception as exc:
                for kind, status, code in _ERRORS:
                    if isinstance(exc, kind):
                        retry = _JOURNAL_RETRY_AFTER_S if status == 503 else None
                        raise HttpError(status, code, str(exc), retry_after_s=retry) from None
                raise

        return wrapper

    def mid(request: web.Request) -> str:
        return request.match_info["migration_id"]

    async def plan(request: web.Request) -> web.Response:
        body = await _body(request)
        execute = convert(body.pop("execute", False), Flag, field="execute")
        auto_rollback = convert(body.pop("auto_rollback", False), Flag, field="auto_rollback")
        result = await service.plan(body)
        if execute:
            await service.execute(result.migration_id, auto_rollback=auto_rollback)
        return _ok({"migration_id": result.migration_id, "plan": result}, status=201)

    async def listing(request: web.Request) -> web.Response:
        if request.query.get("all", "").lower() in ("1", "true", "yes"):
            return _ok({"migrations": await service.statuses()})
        return _ok({"migrations": await service.active()})

    async def progress(request: web.Request) -> web.Response:
        return _ok(
            {"status": await service.status(mid(request)), "progress": await service.progress(
                mid(request)
            )}
        )  # fmt: skip

    async def execute(request: web.Request) -> web.Response:
        body = await _body(request)
        auto_rollback = convert(body.get("auto_rollback", False), Flag, field="auto_rollback")
        return _ok(await service.execute(mid(request), auto_rollback=auto_rollback))

    async def pause(request: web.Request) -> web.Response:
        return _ok(await service.pause(mid(request)))

    async def resume(request: web.Request) -> web.Response:
        return _ok(await service.resume(mid(request)))

    async def rollback(request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            checkpoint = convert(
                body.get("checkpoint_id"), CheckpointId | None, field="checkpoint_id"
            )
        except ConfigError as exc:
            raise HttpError(400, "invalid_body", str(exc)) from None
        return _ok(await service.rollback(mid(request), checkpoint, wait=False))

    async def cancel(request: web.Request) -> web.Response:
        return _ok(await service.cancel(mid(request)))

    async def metrics(request: web.Request) -> web.Response:
        return _ok(await service.metrics(mid(request)))

    async def overall(request: web.Request) -> web.Response:
        return _ok(await service.metrics(None))

    async def history(request: web.Request) -> web.Response:
        return _ok({"history": await service.history(mid(request))})

    async def checkpoints(request: web.Request) -> web.Response:
        return _ok({"checkpoints": await service.checkpoints(mid(request))})

    router = app.router
    base = "/admin/migrations"
    one = base + "/{migration_id}"
    router.add_route("POST", base, guarded(plan))
    router.add_route("GET", base, guarded(listing))
    router.add_route("GET", base + "/active", guarded(listing))
    router.add_route("GET", "/admin/migration-metrics", guarded(overall))
    router.add_route("GET", one, guarded(progress))
    router.add_route("POST", one + "/execute", guarded(execute))
    router.add_route("POST", one + "/pause", guarded(pause))
    router.add_route("POST", one + "/resume", guarded(resume))
    router.add_route("POST", one + "/rollback", guarded(rollback))
    router.add_route("POST", one + "/cancel", guarded(cancel))
    router.add_route("GET", one + "/metrics", guarded(metrics))
    router.add_route("GET", one + "/history", guarded(history))
    router.add_route("GET", one + "/checkpoints", guarded(checkpoints))
