"""Restoring a dropped store under a ``moved`` route: a rollback's full copy back (edge layer).

Once a migration's cleanup dropped the source's data, the source keeps only its ``moved``
route (bound to the migration). A rollback that wants the workload back there needs an
empty store to stream the target's content into, while data requests still follow the
``moved`` redirect to the target (where the workload is served until the rollback's own
cutover). ``POST /admin/workloads/{workload}/restore`` creates that store and leaves the
route as it is; the copy is then filled by the migration's peer streams (the route is
``moved`` by that migration, which :func:`~._peer_api.check_peer_target` allows) and
activated by a fenced status change. Admin credential (the auth middleware), fenced by
``epoch`` like every routing command. Idempotent: a store already there is kept (a
rollback that restarts resumes its copy from that store's LSN).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import msgspec

from edge_actors.schema import MigrationId
from edge_actors.store import validate_workload_name

from ._http import HttpError, decode_json, json_response
from ._models import Epoch
from ._refusals import NoSuchWorkload

if TYPE_CHECKING:
    from aiohttp import web

    from edge_actors.store import StoreRegistry

    from ._models import WorkloadStatus
    from ._reports import EdgeReports
    from ._routing import Route

__all__ = ["RestoreStore", "add_restore_route"]


class RestoreStore(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Body of ``POST /admin/workloads/{w}/restore``: the owner epoch of the rollback's
    handover (required: it is a routing command), and the migration to bind the route to
    (the one whose peer streams fill the store; the route keeps its binding without it)."""

    epoch: Epoch
    migration_id: MigrationId | None = None


class RestoreRouting(Protocol):
    """What the route needs of the daemon's router."""

    @property
    def reports(self) -> EdgeReports: ...

    def route_of(self, name: str) -> Route | None: ...

    def check_no_cutover(self, name: str) -> None: ...

    async def admit_epoch(
        self, name: str, epoch: int | None, status: WorkloadStatus | None = None
    ) -> None: ...

    async def admit_and_bind(
        self, name: str, epoch: int | None, migration_id: str | None
    ) -> None: ...

    @property
    def registry(self) -> StoreRegistry: ...


def add_restore_route(app: web.Application, router: RestoreRouting) -> None:
    """Register ``POST /admin/workloads/{workload}/restore`` on ``app``.

    Answers 201 with the workload's info when it created the store, 200 when one was
    there already; 409 ``not_moved`` when the route here is not ``moved`` (an active or
    incoming copy has its store; nothing changed), 409 ``stale_epoch`` below an epoch
    seen here, 404 for an unknown workload.
    """

    def check_moved(name: str) -> None:
        route = router.route_of(name)
        if route is None:
            raise NoSuchWorkload(f"no workload {name!r} on this edge")
        if route.status != "moved":
            raise HttpError(
                409,
                "not_moved",
                f"workload {name!r} is {route.status} here: only a moved route's dropped "
                "store is restored",
            )
        router.check_no_cutover(name)

    async def restore(request: web.Request) -> web.Response:
        name = validate_workload_name(request.match_info["workload"])
        body = await decode_json(request, RestoreStore)
        check_moved(name)
        await router.admit_and_bind(name, body.epoch, body.migration_id)
        check_moved(name)  # again: the route may have changed during that write
        if name in router.registry:
            return json_response(await router.reports.info(name))
        await router.registry.create(name)
        return json_response(await router.reports.info(name), status=201)

    app.router.add_route("POST", "/admin/workloads/{workload}/restore", restore)
