"""The daemon's migration admin API over a :class:`MigrationService` (edge layer).

``add_migration_routes(app, service)`` mounts ``/admin/migrations`` (bearer cluster token,
enforced by the daemon's middleware like every ``/admin/`` route). Bodies and answers are
JSON; errors use the daemon's ``{"error", "message"}`` shape: 400 malformed plan, 404
unknown migration / checkpoint / edge / workload, 409 illegal transition, 507 capacity.
Body fields are converted with the shared ``edge_actors.schema`` types, so a mistake gets the
message the Python API and the workflow node give for it.

On a supervisor replica (PostgreSQL journal, ``replica=``), the routes follow the role:
the leader answers everything from its running service; a follower answers reads
(status, progress, metrics, history, checkpoints, plans, lists) from the journal and forwards
commands (plan, execute, pause, resume, rollback, cancel) to the leader
(:mod:`._leader_proxy`). ``GET /admin/supervisor`` answers the role, the leadership epoch
and the leader's URL (the embedded supervisor: always ``leader``, epoch 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

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
from ._supervisor_host import SupervisorStatus

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiohttp import web

    from edge_actors.migration import MigrationService
    from edge_actors.migration._journal_reads import MigrationReads

__all__ = ["Replica", "add_migration_routes"]


class Replica(Protocol):
    """A supervisor replica as the routes see it (:class:`~._supervisor_host.SupervisorHost`
    plus its journal reads and leader proxy)."""

    @property
    def service(self) -> MigrationService | None:
        """The running service while this replica leads, else ``None``."""
        ...

    @property
    def reads(self) -> MigrationReads:
        """Reads answered from the journal (a follower's answers)."""
        ...

    def status(self) -> SupervisorStatus:
        """The role snapshot."""
        ...

    async def forward(self, request: web.Request) -> web.Response | None:
        """Forward a command to the leader and return its answer (``None``: the
        leadership changed meanwhile, look again)."""
        ...


_BODY_LIMIT = 256 * 1024
_FORWARD_ATTEMPTS = 3

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


def _leading(service: MigrationService | None) -> MigrationService:
    if service is None:  # leadership was lost between the check and the call
        raise HttpError(503, "no_leader", "this replica stopped leading; retry")
    return service


def add_migration_routes(
    app: web.Application,
    service: MigrationService | None = None,
    *,
    replica: Replica | None = None,
) -> None:
    """Mount the migration admin routes on ``app`` (before it starts).

    Args:
        app: the daemon's application.
        service: the embedded supervisor's service (always the leader).
        replica: a supervisor replica instead (exactly one of the two).
    """
    if (service is None) == (replica is None):
        raise ValueError("add_migration_routes: give exactly one of service and replica")

    def commands(request: web.Request) -> MigrationService | None:
        """The service that takes commands here; ``None``: forward them to the leader."""
        return service if replica is None else replica.service

    def reads() -> MigrationReads:
        if replica is None:
            assert service is not None
            return service
        return replica.service or replica.reads

    def guarded(
        handler: Callable[[web.Request], Awaitable[web.Response]],
        *,
        command: bool = False,
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def wrapper(request: web.Request) -> web.Response:
            if command and replica is not None:
                for _ in range(_FORWARD_ATTEMPTS):
                    if replica.service is not None:
                        break
                    answer = await replica.forward(request)
                    if answer is not None:
                        return answer
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
        svc = _leading(commands(request))
        result = await svc.plan(body)
        if execute:
            await svc.execute(result.migration_id, auto_rollback=auto_rollback)
        return _ok({"migration_id": result.migration_id, "plan": result}, status=201)

    async def listing(request: web.Request) -> web.Response:
        if request.query.get("all", "").lower() in ("1", "true", "yes"):
            return _ok({"migrations": await reads().statuses()})
        return _ok({"migrations": await reads().active()})

    async def progress(request: web.Request) -> web.Response:
        return _ok(
            {"status": await reads().status(mid(request)), "progress": await reads().progress(
                mid(request)
            )}
        )  # fmt: skip

    async def execute(request: web.Request) -> web.Response:
        body = await _body(request)
        auto_rollback = convert(body.get("auto_rollback", False), Flag, field="auto_rollback")
        return _ok(
            await _leading(commands(request)).execute(mid(request), auto_rollback=auto_rollback)
        )

    async def pause(request: web.Request) -> web.Response:
        return _ok(await _leading(commands(request)).pause(mid(request)))

    async def resume(request: web.Request) -> web.Response:
        return _ok(await _leading(commands(request)).resume(mid(request)))

    async def rollback(request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            checkpoint = convert(
                body.get("checkpoint_id"), CheckpointId | None, field="checkpoint_id"
            )
        except ConfigError as exc:
            raise HttpError(400, "invalid_body", str(exc)) from None
        return _ok(await _leading(commands(request)).rollback(mid(request), checkpoint, wait=False))

    async def cancel(request: web.Request) -> web.Response:
        return _ok(await _leading(commands(request)).cancel(mid(request)))

    async def metrics(request: web.Request) -> web.Response:
        return _ok(await reads().metrics(mid(request)))

    async def overall(request: web.Request) -> web.Response:
        return _ok(await reads().metrics(None))

    async def history(request: web.Request) -> web.Response:
        return _ok({"history": await reads().history(mid(request))})

    async def checkpoints(request: web.Request) -> web.Response:
        return _ok({"checkpoints": await reads().checkpoints(mid(request))})

    async def plan_of(request: web.Request) -> web.Response:
        return _ok({"plan": await reads().plan_of(mid(request))})

    async def supervisor(request: web.Request) -> web.Response:
        if replica is not None:
            return _ok(replica.status())
        return _ok(SupervisorStatus(role="leader", epoch=0, leader=str(request.url.origin())))

    router = app.router
    base = "/admin/migrations"
    one = base + "/{migration_id}"
    router.add_route("GET", "/admin/supervisor", supervisor)
    router.add_route("POST", base, guarded(plan, command=True))
    router.add_route("GET", base, guarded(listing))
    router.add_route("GET", base + "/active", guarded(listing))
    router.add_route("GET", "/admin/migration-metrics", guarded(overall))
    router.add_route("GET", one, guarded(progress))
    router.add_route("POST", one + "/execute", guarded(execute, command=True))
    router.add_route("POST", one + "/pause", guarded(pause, command=True))
    router.add_route("POST", one + "/resume", guarded(resume, command=True))
    router.add_route("POST", one + "/rollback", guarded(rollback, command=True))
    router.add_route("POST", one + "/cancel", guarded(cancel, command=True))
    router.add_route("GET", one + "/metrics", guarded(metrics))
    router.add_route("GET", one + "/history", guarded(history))
    router.add_route("GET", one + "/checkpoints", guarded(checkpoints))
    router.add_route("GET", one + "/plan", guarded(plan_of))
