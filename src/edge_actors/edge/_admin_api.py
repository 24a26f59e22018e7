"""The admin API (cluster token): health, capacity, workloads, routing, holds, cutover, links.

Edge layer. Every route here is behind the bearer-token check of the daemon's middleware
(401 and nothing changed without it). Transfers live in ``_transfer_api``. While a
cutover of a workload runs, its hold, release, status and drop are refused (409).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from aiohttp import web

from edge_actors.store import validate_workload_name

from ._http import HttpError, decode_json, json_response
from ._models import (
    ActivateRequest,
    CreateWorkload,
    CutoverRequest,
    HealthInfo,
    HoldAnswer,
    HoldRequest,
    LinkRate,
    ReleaseAnswer,
    ReleaseRequest,
    SetStatus,
    WorkloadList,
)

if TYPE_CHECKING:
    from ._daemon import EdgeDaemon

__all__ = ["add_admin_routes"]


def add_admin_routes(app: web.Application, daemon: EdgeDaemon) -> None:
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
                workloads=len(await daemon.workload_names()),
                load=daemon.load(),
                capacity=await daemon.capacity(),
            )
        )

    async def capacity(request: web.Request) -> web.Response:
        return json_response(await daemon.capacity())

    async def list_workloads(request: web.Request) -> web.Response:
        infos = [await daemon.info(name) for name in await daemon.workload_names()]
        return json_response(WorkloadList(infos))

    async def create_workload(request: web.Request) -> web.Response:
        body = await decode_json(request, CreateWorkload)
        name = validate_workload_name(body.name)
        limit = daemon.config.max_workloads
        if limit is not None and len(daemon.registry.names()) >= limit:
            raise HttpError(
                507,
                "capacity_exceeded",
                f"edge {daemon.name} already hosts {limit} workloads (max_workloads); "
                f"{name!r} was not created",
            )
        await daemon.registry.create(name)
        if body.status == "incoming":
            daemon.set_route(name, "incoming", None)
        else:
            daemon.set_route(name, "active", None)
        daemon.log.info("workload_created", workload=name, status=body.status)
        return json_response(await daemon.info(name), status=201)

    async def workload_info(request: web.Request) -> web.Response:
        return json_response(await daemon.info(workload(request)))

    async def drop_workload(request: web.Request) -> web.Response:
        name = workload(request)
        forget = request.query.get("forget", "").lower() in ("1", "true", "yes")
        route = daemon.route_of(name)
        if route is None:
            raise HttpError(404, "workload_not_found", f"no workload {name!r} on {daemon.name}")
        daemon.check_no_cutover(name)
        gate = daemon.gate(name)
        if gate.held:
            raise HttpError(409, "workload_held", f"workload {name!r} is held; release it first")
        if name in daemon.registry:
            await daemon.registry.drop(name)
        if forget or route.status != "moved":
            daemon.routing.remove(name)
        daemon.log.info("workload_dropped", workload=name, kept_route=route.status == "moved")
        return web.Response(status=204)

    async def set_status(request: web.Request) -> web.Response:
        name = workload(request)
        body = await decode_json(request, SetStatus)
        daemon.check_no_cutover(name)
        daemon.set_route(name, body.status, body.moved_to)
        return json_response(await daemon.info(name))

    async def hold(request: web.Request) -> web.Response:
        name = workload(request)
        body = await decode_json(request, HoldRequest, empty_ok=True)
        _check_lease(body.lease_s, daemon.config.hold_timeout_s)
        daemon.check_no_cutover(name)
        lsn, lease = await daemon.hold(name, body.lease_s)
        return json_response(HoldAnswer(lsn=lsn, lease_s=lease))

    async def release(request: web.Request) -> web.Response:
        name = workload(request)
        body = await decode_json(request, ReleaseRequest, empty_ok=True)
        daemon.check_no_cutover(name)
        count, held_ms = daemon.release(name, body.moved_to)
        route = daemon.route_of(name)
        status = route.status if route is not None else "active"
        return json_response(
            ReleaseAnswer(
                held_writes=count,
                held_ms=round(held_ms, 3),
                status=status,
                moved_to=route.moved_to if route is not None else None,
            )
        )

    async def activate(request: web.Request) -> web.Response:
        name = workload(request)
        body = await decode_json(request, ActivateRequest)
        daemon.check_no_cutover(name)
        return json_response(await daemon.activate(name, body.min_lsn, body.digest))

    async def cutover(request: web.Request) -> web.Response:
        name = workload(request)
        body = await decode_json(request, CutoverRequest)
        if not body.target_url.startswith(("http://", "https://")):
            raise HttpError(
                400, "invalid_body", f"target_url: expected an http(s) URL, got {body.target_url!r}"
            )
        _check_lease(body.lease_s, daemon.config.hold_timeout_s)
        if body.from_lsn < 0 or body.batch_size < 1:
            raise HttpError(
                400,
                "invalid_body",
                f"from_lsn >= 0 and batch_size >= 1 expected, got {body.from_lsn}, "
                f"{body.batch_size}",
            )
        return json_response(await daemon.cutover(name, body))

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
        await daemon.refresh_sizes()
        return web.Response(
            body=daemon.metrics.render(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    router = app.router
    router.add_route("GET", "/admin/health", health)
    router.add_route("GET", "/admin/capacity", capacity)
    router.add_route("GET", "/admin/workloads", list_workloads)
    router.add_route("POST", "/admin/workloads", create_workload)
    router.add_route("GET", "/admin/workloads/{workload}", workload_info)
    router.add_route("DELETE", "/admin/workloads/{workload}", drop_workload)
    router.add_route("PUT", "/admin/workloads/{workload}/status", set_status)
    router.add_route("POST", "/admin/workloads/{workload}/hold", hold)
    router.add_route("POST", "/admin/workloads/{workload}/release", release)
    router.add_route("POST", "/admin/workloads/{workload}/activate", activate)
    router.add_route("POST", "/admin/workloads/{workload}/cutover", cutover)
    router.add_route("PUT", "/admin/links/{target}", set_link_rate)
    router.add_route("GET", "/metrics", metrics)


def max_lease_s(hold_timeout_s: float) -> float:
    """The longest write-hold lease a request may ask for on an edge.

    A lease is the safety net that releases writes when a migrator dies mid-cutover, so it
    must stay bounded: an hour, or ten times the edge's default lease if that is longer.
    """
    return max(3600.0, 10.0 * hold_timeout_s)


def _check_lease(lease_s: float | None, hold_timeout_s: float) -> None:
    if lease_s is None:
        return
    limit = max_lease_s(hold_timeout_s)
    if not (math.isfinite(lease_s) and 0 < lease_s <= limit):
        raise HttpError(
            400, "invalid_body", f"lease_s: must be > 0 and <= {limit:g} seconds, got {lease_s!r}"
        )
