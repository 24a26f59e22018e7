"""The data API apps use (no token): records, batches, workload info, probes (edge layer).

Every data request first passes the routing check (:meth:`WorkloadRouter.served_route`):
``moved`` workloads answer 307 to the same path on their new edge, ``incoming`` ones 409;
one whose activation is making itself durable here waits for that (one fsync) first.
A write held by a cutover is forwarded to the new edge by the router instead; its answer
carries ``X-Edge-Moved-To``. Writes then pass the workload's hold gate and the capacity
check in :meth:`WorkloadRouter.write`. The routes see the router and the daemon only
through the narrow :class:`DataRouting` and :class:`DataServer` protocols.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from edge_actors.store import MAX_KEY_BYTES, MAX_VALUE_BYTES

from ._batch import decode_batch
from ._connections import client_gone
from ._http import HttpError, json_response, read_body
from ._models import MOVED_TO_HEADER, ApiHealth, LsnAnswer

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from edge_actors.store import WorkloadStore

    from ._metrics import DaemonMetrics
    from ._models import WriteAnswer
    from ._reports import EdgeReports

__all__ = ["BATCH_BODY_LIMIT", "DataRouting", "DataServer", "add_data_routes"]

BATCH_BODY_LIMIT = 64 * 1024 * 1024
"""Largest ``POST /v1/workloads/{w}/batch`` body, in bytes."""


class DataServer(Protocol):
    """What the data routes need of the daemon: its name, metrics and uptime."""

    @property
    def name(self) -> str: ...

    @property
    def metrics(self) -> DaemonMetrics: ...

    @property
    def uptime_s(self) -> float: ...


class DataRouting(Protocol):
    """What the data routes need of the router: routing checks, writes, workload info."""

    @property
    def reports(self) -> EdgeReports: ...

    def data_route(self, name: str) -> WorkloadStore: ...

    async def served_route(self, name: str) -> WorkloadStore: ...

    async def write(
        self,
        name: str,
        ops: Sequence[tuple[str, bytes | None]],
        *,
        abandoned: Callable[[], bool] | None = None,
    ) -> WriteAnswer: ...


def add_data_routes(
    app: web.Application, daemon: DataServer, router: DataRouting, *, max_batch_ops: int
) -> None:
    """Register the data API and the token-free probes on ``app``; a batch has at most
    ``max_batch_ops`` operations."""
    metrics = daemon.metrics

    def workload(request: web.Request) -> str:
        return request.match_info["workload"]

    def write_answer(answer: WriteAnswer) -> web.Response:
        response = json_response(LsnAnswer(answer.lsn))
        if answer.moved_to is not None:
            response.headers[MOVED_TO_HEADER] = answer.moved_to
        return response

    def record_key(request: web.Request) -> str:
        key = request.match_info["key"]
        if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            raise HttpError(400, "invalid_record", f"record key is longer than {MAX_KEY_BYTES}")
        return key

    async def put_record(request: web.Request) -> web.Response:
        name, key = workload(request), record_key(request)
        await router.served_route(name)
        value = await read_body(request, MAX_VALUE_BYTES, what=f"value of record {key[:64]!r}")
        metrics.load.writes_total += 1
        return write_answer(
            await router.write(name, [(key, value)], abandoned=lambda: client_gone(request))
        )

    async def delete_record(request: web.Request) -> web.Response:
        name, key = workload(request), record_key(request)
        metrics.load.writes_total += 1
        return write_answer(
            await router.write(name, [(key, None)], abandoned=lambda: client_gone(request))
        )

    async def get_record(request: web.Request) -> web.Response:
        name, key = workload(request), record_key(request)
        store = await router.served_route(name)
        metrics.load.reads_total += 1
        found = await store.get(key)
        if found is None:
            raise HttpError(404, "record_not_found", f"no record {key[:64]!r} in {name!r}")
        value, lsn = found
        metrics.bytes_out.labels(daemon.name).inc(len(value))
        return web.Response(
            body=value,
            content_type="application/octet-stream",
            headers={"X-Edge-LSN": str(lsn)},
        )

    async def post_batch(request: web.Request) -> web.Response:
        name = workload(request)
        await router.served_route(name)
        body = await read_body(request, BATCH_BODY_LIMIT, what="batch body")
        ops = await decode_batch(body, max_batch_ops)
        del body  # the decoded ops hold their own copies; let the body go while writing
        metrics.load.writes_total += 1
        if not ops:
            return json_response(LsnAnswer(router.data_route(name).lsn))
        return write_answer(await router.write(name, ops, abandoned=lambda: client_gone(request)))

    async def get_info(request: web.Request) -> web.Response:
        name = workload(request)
        await router.served_route(name)
        metrics.load.reads_total += 1
        return json_response(await router.reports.info(name))

    async def workload_health(request: web.Request) -> web.Response:
        name = workload(request)
        store = await router.served_route(name)
        stats = await store.stats()
        return json_response({"status": "ok", "workload": name, "lsn": stats.lsn})

    async def api_health(request: web.Request) -> web.Response:
        return json_response(
            ApiHealth(
                status="ok",
                name=daemon.name,
                uptime_s=round(daemon.uptime_s, 3),
                workloads=router.reports.workload_count(),
            )
        )

    app.router.add_route("PUT", "/v1/workloads/{workload}/records/{key:.+}", put_record)
    app.router.add_route("GET", "/v1/workloads/{workload}/records/{key:.+}", get_record)
    app.router.add_route("DELETE", "/v1/workloads/{workload}/records/{key:.+}", delete_record)
    app.router.add_route("POST", "/v1/workloads/{workload}/batch", post_batch)
    app.router.add_route("GET", "/v1/workloads/{workload}/health", workload_health)
    app.router.add_route("GET", "/v1/workloads/{workload}", get_info)
    app.router.add_route("GET", "/api/health", api_health)
    app.router.add_route("GET", "/api/status", api_health)
