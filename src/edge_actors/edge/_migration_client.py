"""``MigrationClient``: a typed async client of a daemon's ``/admin/migrations`` routes.

Edge layer. The daemon (``edge-actors daemon --supervisor``) mounts those routes over its
:class:`~edge_actors.migration.MigrationService`; this client sends the cluster token,
decodes answers into the migration layer's own Structs (``MigrationPlan``,
``MigrationStatus``, ``MigrationProgress``, ...) and turns error answers into the same
:class:`~edge_actors.edge.EdgeHTTPError` subclasses as :class:`AdminClient` (400
``invalid_plan`` is a ``BadRequest``, 404 ``migration_not_found`` a ``WorkloadMissing``,
409 ``illegal_transition`` an ``EdgeConflict``), each with the server's code and message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import msgspec

from edge_actors.migration import (
    Checkpoint,
    HistoryEvent,
    MigrationMetrics,
    MigrationPlan,
    MigrationProgress,
    MigrationStatus,
    MigrationSummary,
    OverallMetrics,
)

from ._client import AdminClient
from ._errors import InvalidAnswer
from ._supervisor_host import SupervisorStatus

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["MigrationClient", "MigrationView"]

T = TypeVar("T")


class MigrationView(msgspec.Struct, kw_only=True):
    """``GET /admin/migrations/{id}``: the status and the live progress of one migration."""

    status: MigrationStatus
    progress: MigrationProgress


class _PlanAnswer(msgspec.Struct, kw_only=True):
    migration_id: str
    plan: MigrationPlan


class _Plan(msgspec.Struct):
    plan: MigrationPlan


class _Summaries(msgspec.Struct):
    migrations: list[MigrationSummary]


class _Statuses(msgspec.Struct):
    migrations: list[MigrationStatus]


class _History(msgspec.Struct):
    history: list[HistoryEvent]


class _Checkpoints(msgspec.Struct):
    checkpoints: list[Checkpoint]


class MigrationClient(AdminClient):
    """Client of the migration admin API of a supervisor daemon (bearer cluster token).

    An :class:`AdminClient` (the supervisor daemon is an edge too) with the
    ``/admin/migrations`` calls added; same arguments, same error classes.

    Args:
        url: Base URL of the daemon hosting the migration supervisor.
        token: The cluster token.
        session: An ``aiohttp`` session to use (not closed here); created when ``None``.
        timeout: Total seconds per request.
        ssl_context: TLS context for ``https`` daemons with a private CA.

    Use as ``async with MigrationClient(url, token) as client:``. Cancelling a method
    abandons its request; whatever the daemon already accepted (a plan, a pause) stands.

    Raises (every method):
        EdgeHTTPError: A subclass per error answer (see the module docstring).
        aiohttp.ClientError, OSError: The daemon cannot be reached.
    """

    async def _json(self, method: str, path: str, kind: type[T], body: Any = None) -> T:
        raw = await self._call(method, path, body)
        try:
            return msgspec.json.decode(raw, type=kind)
        except msgspec.DecodeError as exc:  # also ValidationError: the wrong shape
            raise InvalidAnswer(
                200,
                "invalid_answer",
                f"{method} {path}: the answer is not a {kind.__name__.lstrip('_')}: {exc}",
                self._http.url + path,
            ) from None

    @staticmethod
    def _one(migration_id: str, suffix: str = "") -> str:
        return "/admin/migrations/" + quote(migration_id, safe="") + suffix

    # -- operations ---------------------------------------------------------------------

    async def plan(
        self, request: Mapping[str, Any], *, execute: bool = False, auto_rollback: bool = False
    ) -> MigrationPlan:
        """``POST /admin/migrations``: validate and journal a plan (optionally execute it).

        Args:
            request: The plan as the guide writes it (``source_edge``, ``target_edge``,
                ``workloads``, ``strategy``, ``constraints``, ...).
            execute: Queue it for execution right away.
            auto_rollback: With ``execute``, roll back automatically if it fails.
        """
        body = dict(request)
        if execute:
            body["execute"] = True
            body["auto_rollback"] = auto_rollback
        answer = await self._json("POST", "/admin/migrations", _PlanAnswer, body)
        return answer.plan

    async def active(self) -> list[MigrationSummary]:
        """``GET /admin/migrations``: migrations not in a terminal state."""
        return (await self._json("GET", "/admin/migrations", _Summaries)).migrations

    async def statuses(self) -> list[MigrationStatus]:
        """``GET /admin/migrations?all=1``: every known migration's status, in plan order."""
        return (await self._json("GET", "/admin/migrations?all=1", _Statuses)).migrations

    async def get(self, migration_id: str) -> MigrationView:
        """``GET /admin/migrations/{id}``: status and live progress."""
        return await self._json("GET", self._one(migration_id), MigrationView)

    async def status(self, migration_id: str) -> MigrationStatus:
        """The status part of :meth:`get`."""
        return (await self.get(migration_id)).status

    async def progress(self, migration_id: str) -> MigrationProgress:
        """The progress part of :meth:`get`."""
        return (await self.get(migration_id)).progress

    async def execute(self, migration_id: str, *, auto_rollback: bool = False) -> MigrationStatus:
        """``POST .../execute``: queue a planned migration."""
        body = {"auto_rollback": auto_rollback}
        return await self._json("POST", self._one(migration_id, "/execute"), MigrationStatus, body)

    async def pause(self, migration_id: str) -> MigrationStatus:
        """``POST .../pause``: stop the transfer within a chunk; answers once ``paused``."""
        return await self._json("POST", self._one(migration_id, "/pause"), MigrationStatus)

    async def resume(self, migration_id: str) -> MigrationStatus:
        """``POST .../resume``: continue a paused migration from its last acked LSNs."""
        return await self._json("POST", self._one(migration_id, "/resume"), MigrationStatus)

    async def rollback(
        self, migration_id: str, checkpoint_id: str | None = None
    ) -> MigrationStatus:
        """``POST .../rollback``: start a rollback (answers at once; poll :meth:`status`)."""
        body = {"checkpoint_id": checkpoint_id}
        return await self._json("POST", self._one(migration_id, "/rollback"), MigrationStatus, body)

    async def cancel(self, migration_id: str) -> MigrationStatus:
        """``POST .../cancel``: abandon a migration not yet cut over."""
        return await self._json("POST", self._one(migration_id, "/cancel"), MigrationStatus)

    async def metrics(self, migration_id: str) -> MigrationMetrics:
        """``GET .../metrics``: figures of one migration."""
        return await self._json("GET", self._one(migration_id, "/metrics"), MigrationMetrics)

    async def overall_metrics(self) -> OverallMetrics:
        """``GET /admin/migration-metrics``: totals over every migration."""
        return await self._json("GET", "/admin/migration-metrics", OverallMetrics)

    async def history(self, migration_id: str) -> list[HistoryEvent]:
        """``GET .../history``: journaled transitions, oldest first."""
        return (await self._json("GET", self._one(migration_id, "/history"), _History)).history

    async def supervisor(self) -> SupervisorStatus:
        """``GET /admin/supervisor``: the replica's role, leadership epoch and leader."""
        return await self._json("GET", "/admin/supervisor", SupervisorStatus)

    async def checkpoints(self, migration_id: str) -> list[Checkpoint]:
        """``GET .../checkpoints``: journaled checkpoints, oldest first."""
        path = self._one(migration_id, "/checkpoints")
        return (await self._json("GET", path, _Checkpoints)).checkpoints

    async def plan_of(self, migration_id: str) -> MigrationPlan:
        """``GET .../plan``: the journaled plan."""
        return (await self._json("GET", self._one(migration_id, "/plan"), _Plan)).plan
