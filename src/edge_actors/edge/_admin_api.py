"""The admin API (cluster token): health, capacity, workloads, routing, holds, cutover, links.

Edge layer. Every route here is behind the bearer-token check of the daemon's middleware
(401 and nothing changed without it). Transfers live in ``_transfer_api``. While a
cutover of a workload runs, its hold, release, status and drop are refused (409). A
create, status, hold, release, activate, cutover or drop (``?epoch=``) that carries an
``epoch`` lower than one the edge has seen for that workload is refused (409
``stale_epoch``, :mod:`._fence`); an activation at an epoch an undo burned here too.
A create, status change, release to ``moved`` or cutover that names a ``migration_id``
binds the workload's copy here to that migration (what the peer stream checks). The
routes see the daemon, its router and its cutover saga only through the narrow
:class:`AdminServer`, :class:`AdminRouting` and :class:`Cutovers` protocols.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from edge_actors.store import validate_workload_name

from ._auth import credential_of
from ._http import HttpError, decode_json, json_response
from ._models import (
    ActivateRequest,
    CreateWorkload,
    CutoverRequest,
    HealthInfo,
    HoldAnswer,
    HoldRequest,
    LinkRate,
    PrepareActivation,
    ReleaseAnswer,
    ReleaseRequest,
    SetStatus,
    WorkloadList,
)

if TYPE_CHECKING:
    from edge_actors.transfer import LinkLimiters

    from ._credentials import Credential
    from ._metrics import DaemonMetrics
    from ._models import CutoverAnswer, PreparedActivation, WorkloadInfo, WorkloadStatus
    from ._reports import EdgeReports
    from ._routing import Route

__all__ = ["AdminRouting", "AdminServer", "Cutovers", "add_admin_routes"]


class AdminServer(Protocol):
    """What the admin routes need of the daemon: identity, links, metrics, log."""

    @property
    def name(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def uptime_s(self) -> float: ...

    @property
    def links(self) -> LinkLimiters: ...

    @property
    def metrics(self) -> DaemonMetrics: ...

    @property
    def log(self) -> Any: ...


class AdminRouting(Protocol):
    """What the admin routes need of the router: workloads, routes, holds, activation."""

    @property
    def hold_timeout_s(self) -> float: ...

    @property
    def hold_max_lease_s(self) -> float: ...

    @property
    def reports(self) -> EdgeReports: ...

    async def create(
        self, name: str, status: WorkloadStatus, *, migration_id: str | None = None
    ) -> WorkloadInfo: ...

    async def drop(self, name: str, *, forget: bool) -> None: ...

    def route_of(self, name: str) -> Route | None: ...

    def check_no_cutover(self, name: str) -> None: ...

    async def admit_epoch(
        self, name: str, epoch: int | None, status: WorkloadStatus | None = None
    ) -> None: ...

    async def set_route_fenced(
        self,
        name: str,
        status: WorkloadStatus,
        moved_to: str | None,
        epoch: int | None,
        *,
        migration_id: str | None = None,
        activated: tuple[int, str] | None = None,
    ) -> Route: ...

    def undo_unbegun(
        self, name: str, epoch: int | None, migration_id: str | None, moved_to: str | None = None
    ) -> bool: ...

    async def kept_activation(self, name: str, epoch: int | None) -> bool: ...

    async def admit_and_bind(
        self, name: str, epoch: int | None, migration_id: str | None
    ) -> None: ...

    async def hold(self, name: str, lease_s: float | None) -> tuple[int, float]: ...

    async def release(
        self, name: str, moved_to: str | None, *, reason: str = "request"
    ) -> tuple[int, float]: ...

    async def activate(
        self, name: str, min_lsn: int, digest: str | None, epoch: int | None = None
    ) -> WorkloadInfo: ...


class Cutovers(Protocol):
    """Runs a whole cutover of a workload from this edge (the cutover saga)."""

    async def run(self, name: str, req: CutoverRequest) -> CutoverAnswer: ...

    async def activate(self, name: str, req: ActivateRequest) -> WorkloadInfo: ...

    async def prepare(self, name: str, req: PrepareActivation) -> PreparedActivation: ...


def add_admin_routes(
    app: web.Application, daemon: AdminServer, router: AdminRouting, cutovers: Cutovers
) -> None:
    """Register the admin routes on ``app``."""

    def workload(request: web.Request) -> str:
        return validate_workload_name(request.match_info["workload"])

    async def health(request: web.Request) -> web.Response:
        return json_response(
            HealthInfo(
                status="ok",
                name=daemon.name,
                url=daemon.url,
                uptime_s=round(daemon.uptime_s, 3),
                workloads=len(await router.reports.workload_names()),
                load=router.reports.load(),
                capacity=await router.reports.capacity(),
            )
        )

    async def capacity(request: web.Request) -> web.Response:
        return json_response(await router.reports.capacity())

    async def list_workloads(request: web.Request) -> web.Response:
        infos = [await router.reports.info(name) for name in await router.reports.workload_names()]
        return json_response(WorkloadList(infos))

    async def create_workload(request: web.Request) -> web.Response:
        body = await decode_json(request, CreateWorkload)
        await router.admit_epoch(body.name, body.epoch)
        created = await router.create(body.name, body.status, migration_id=body.migration_id)
        return json_response(created, status=201)

    async def workload_info(request: web.Request) -> web.Response:
        return json_response(await router.reports.info(workload(request)))

    async def drop_workload(request: web.Request) -> web.Response:
        name = workload(request)
        forget = request.query.get("forget", "").lower() in ("1", "true", "yes")
        await router.admit_epoch(name, _query_epoch(request))
        await router.drop(name, forget=forget)
        return web.Response(status=204)

    async def set_status(request: web.Request) -> web.Response:
        name = workload(request)
        body = await decode_json(request, SetStatus)
        _check_grant_status(credential_of(request), body)
        router.check_no_cutover(name)
        if body.status != "incoming" or not router.undo_unbegun(
            name, body.epoch, body.migration_id, body.moved_to
        ):
            # (undo_unbegun refused a moved_to with incoming already)
            if (
                body.status == "incoming"
                and body.keep_if_active
                and await router.kept_activation(name, body.epoch)
            ):
                return json_response(await router.reports.info(name))  # kept: "active"
            await router.set_route_fenced(
                name, body.status, body.moved_to, body.epoch, migration_id=body.migration_id
            )
        return json_response(await router.reports.info(name))

    async def hold(request: web.Request) -> web.Response:
        name = workload(request)
        body = await decode_json(request, HoldRequest, empty_ok=True)
        _check_lease(body.lease_s, router.hold_max_lease_s)
        router.check_no_cutover(name)
        await router.admit_epoch(name, body.epoch)
        router.check_no_cutover(name)  # again: a cutover may have begun during that write
        lsn, lease = await router.hold(name, body.lease_s)
        return json_response(HoldAnswer(lsn=lsn, lease_s=lease))

    async def release(request: web.Request) -> web.Response:
        name = workload(request)
        body = await decode_json(request, ReleaseRequest, empty_ok=True)
        router.check_no_cutover(name)
        binding = body.migration_id if body.moved_to is not None else None
        await router.admit_and_bind(name, body.epoch, binding)
        router.check_no_cutover(name)  # again: a cutover may have begun during that write
        count, held_ms = await router.release(name, body.moved_to)
        route = router.route_of(name)
        status = route.status if route is not None else "active"
        return json_response(
            ReleaseAnswer(
                held_writes=count,
                held_ms=round(held_ms, 3),
                status=status,
                moved_to=route.moved_to if route is not None else None,
            )
        )

    async def prepare(request: web.Request) -> web.Response:
        name = workload(request)
        body = await decode_json(request, PrepareActivation)
        return json_response(await cutovers.prepare(name, body))

    async def activate(request: web.Request) -> web.Response:
        name = workload(request)
        body = await decode_json(request, ActivateRequest)
        return json_response(await cutovers.activate(name, body))

    async def cutover(request: web.Request) -> web.Response:
        name = workload(request)
        body = await decode_json(request, CutoverRequest)
        if not body.target_url.startswith(("http://", "https://")):
            raise HttpError(
                400, "invalid_body", f"target_url: expected an http(s) URL, got {body.target_url!r}"
            )
        _check_lease(body.lease_s, router.hold_max_lease_s)
        if body.from_lsn < 0 or body.batch_size < 1:
            raise HttpError(
                400,
                "invalid_body",
                f"from_lsn >= 0 and batch_size >= 1 expected, got {body.from_lsn}, "
                f"{body.batch_size}",
            )
        return json_response(await cutovers.run(name, body))

    async def set_link_rate(request: web.Request) -> web.Response:
        target = request.match_info["target"]
        body = await decode_json(request, LinkRate)
        if body.rate_bps is not None and not (math.isfinite(body.rate_bps) and body.rate_bps > 0):
            raise HttpError(
                400,
                "invalid_body",
                f"rate_bps: expected a positive number or null, got {body.rate_bps!r}",
            )
        daemon.links.set_rate(target, body.rate_bps)
        daemon.log.info("link_rate_set", link=target, rate_bps=body.rate_bps)
        return json_response({"link": target, "rate_bps": body.rate_bps})

    async def metrics(request: web.Request) -> web.Response:
        await router.reports.refresh_sizes()
        return web.Response(
            body=daemon.metrics.render(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    routes = app.router
    routes.add_route("GET", "/admin/health", health)
    routes.add_route("GET", "/admin/capacity", capacity)
    routes.add_route("GET", "/admin/workloads", list_workloads)
    routes.add_route("POST", "/admin/workloads", create_workload)
    routes.add_route("GET", "/admin/workloads/{workload}", workload_info)
    routes.add_route("DELETE", "/admin/workloads/{workload}", drop_workload)
    routes.add_route("PUT", "/admin/workloads/{workload}/status", set_status)
    routes.add_route("POST", "/admin/workloads/{workload}/hold", hold)
    routes.add_route("POST", "/admin/workloads/{workload}/release", release)
    routes.add_route("POST", "/admin/workloads/{workload}/prepare", prepare)
    routes.add_route("POST", "/admin/workloads/{workload}/activate", activate)
    routes.add_route("POST", "/admin/workloads/{workload}/cutover", cutover)
    routes.add_route("PUT", "/admin/links/{target}", set_link_rate)
    routes.add_route("GET", "/metrics", metrics)


def _check_grant_status(credential: Credential, body: SetStatus) -> None:
    """A transfer grant may put its workload back to ``incoming`` (a cutover's undo on
    its target), bound to its own migration; any other status change needs the admin
    credential (``active`` would skip the activation's LSN and digest checks)."""
    if credential.role != "grant":
        return
    if body.status != "incoming" or body.migration_id not in (None, credential.migration_id):
        raise HttpError(
            403,
            "forbidden",
            f"credential {credential.name!r} may only set status 'incoming' for its own "
            "migration (a cutover's undo); other status changes need the admin credential",
        )


def _query_epoch(request: web.Request) -> int | None:
    """The ``epoch`` query parameter (a DELETE has no body), ``None`` when absent.

    Raises:
        HttpError: 400 when it is not an integer >= 0.
    """
    raw = request.query.get("epoch")
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise HttpError(400, "invalid_query", f"epoch: expected an integer >= 0, got {raw!r}")
    return int(raw)


def _check_lease(lease_s: float | None, limit: float) -> None:
    """Refuse a lease that is not in ``(0, limit]`` (``hold_max_lease_s``): a lease is the
    safety net that releases writes when a migrator dies mid-cutover, so it is bounded."""
    if lease_s is None:
        return
    if not (math.isfinite(lease_s) and 0 < lease_s <= limit):
        raise HttpError(
            400,
            "invalid_body",
            f"lease_s: must be > 0 and <= {limit:g} seconds (hold_max_lease_s), got {lease_s!r}",
        )
