"""The peer stream route ``GET /peer/stream`` (WebSocket) (edge layer).

The bearer token is checked by the daemon's middleware before the upgrade (a ``peer``,
``grant`` or ``admin`` credential). The stream itself is served by the transfer layer's
receiver; this module decides, on the stream's ``Hello`` (workload, migration id), which
local store it may write to (:func:`check_peer_target`). A peer (static ``peer``
credential or transfer grant, :mod:`._grants`) is bound to one migration: it may stream
only into a workload that is ``incoming`` for the migration its ``Hello`` names, or
``moved`` by that migration (the source side of its rollback), as recorded in the
workload's :class:`~._routing.Route`; a grant only for its own workload and migration.
The admin credential may stream into any workload with a store (operator recovery).
Every refusal is an ``ErrorFrame`` with a stable code (the stream's 403) and changes
nothing. Each stream's receiver actor runs in the daemon's long-lived actor system.

Holds first (:mod:`._urgent`): a stream whose request carries
:data:`~edge_actors.transfer.URGENT_HEADER` (a cutover's final delta) is urgent work here
for as long as it runs (at most :data:`_URGENT_STREAM_S` as far as other streams are
concerned), and never waits; every other stream's applies wait at the daemon's
:class:`~._urgent.UrgentWork` before each chunk.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from edge_actors.store import (
    SnapshotRefused,
    WorkloadNotFound,
    new_snapshot_path,
    validate_workload_name,
)
from edge_actors.transfer import (
    NEVER_YIELD,
    URGENT_HEADER,
    peer_ws_max_msg_size,
    serve_peer_stream,
)

from ._auth import credential_of
from ._errors import EdgeError
from ._http import HttpError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractContextManager
    from pathlib import Path

    from edge_actors.actors import ActorSystem
    from edge_actors.clock import Clock
    from edge_actors.store import SnapshotInfo, StoreRegistry
    from edge_actors.wire import Change, WireLimits

    from ._credentials import Credential
    from ._metrics import DaemonMetrics
    from ._routing import Route
    from ._urgent import UrgentWork

__all__ = [
    "GrantMismatch",
    "MigrationMismatch",
    "PeerHost",
    "PeerStores",
    "WorkloadActive",
    "add_peer_routes",
    "check_peer_target",
]


class GrantMismatch(EdgeError):
    """A peer stream's transfer grant does not cover the workload or migration it names."""

    code = "grant_mismatch"


class WorkloadActive(EdgeError):
    """A peer tried to stream into an ``active`` workload (live data)."""

    code = "workload_active"


class MigrationMismatch(EdgeError):
    """A peer stream names a migration the workload's copy here is not bound to."""

    code = "migration_mismatch"


_URGENT_STREAM_S = 5.0  # an urgent stream pauses other streams' applies at most this long


def check_peer_target(
    credential: Credential, workload: str, migration_id: str, route: Route | None, edge: str
) -> Route:
    """Refuse a stream of ``credential`` into ``workload`` for ``migration_id`` unless the
    module docstring's rule allows it; ``route`` is the workload's route here, ``None``
    when it has no store here. A grant is checked first: it learns nothing of other
    workloads.

    Returns:
        ``route``, allowed.

    Raises:
        GrantMismatch: A grant for another workload or migration.
        WorkloadNotFound: No store here.
        WorkloadActive: A peer into an ``active`` workload.
        MigrationMismatch: A peer into a copy bound to another migration (or to none).
    """
    if credential.role == "grant" and (
        workload not in credential.workloads or migration_id != credential.migration_id
    ):
        raise GrantMismatch(
            f"the transfer grant covers workload {credential.workloads[0]!r} of migration "
            f"{credential.migration_id!r}, not {workload!r} of {migration_id!r}"
        )
    if route is None:
        raise WorkloadNotFound(
            f"workload {workload!r} has no store on edge {edge}; create it (status "
            "'incoming') before streaming to it"
        )
    if credential.role == "admin":
        return route
    if route.status == "active":
        raise WorkloadActive(
            f"workload {workload!r} is active on edge {edge}: only the admin credential may "
            "stream into live data"
        )
    if route.migration_id != migration_id:
        side = "incoming for" if route.status == "incoming" else "moved away by"
        bound = "no migration" if route.migration_id is None else repr(route.migration_id)
        raise MigrationMismatch(
            f"workload {workload!r} on edge {edge} is {side} {bound}, not migration "
            f"{migration_id!r}: a peer may stream only into a copy of its own migration"
        )
    return route


class _BoundTarget:
    """The store a peer's stream writes to, re-checked before every chunk.

    The rule is checked on ``Hello``; a copy that goes ``active`` or is bound to another
    migration afterwards must not take the open stream's next chunk either, so each
    apply first re-runs the check against the current route (a refusal ends the stream
    with nothing applied). ``pause_point``: gives each chunk's apply of a background
    stream a fresh pause point inside it (``UrgentWork.pause_point``; ``None`` for an
    urgent stream: it never waits); ``durable``: the same stream's snapshot install runs
    its fsyncs and move as durable steps (``UrgentWork.durable_step``).
    """

    def __init__(
        self,
        registry: StoreRegistry,
        workload: str,
        recheck: Callable[[], Route],
        pause_point: Callable[[], Callable[[], None]] | None = None,
        durable: Callable[[], AbstractContextManager[None]] | None = None,
    ) -> None:
        self._registry = registry
        self._workload = workload
        self._store = registry.get(workload)
        self._recheck = recheck
        self._pause_point = pause_point
        self._durable = durable

    @property
    def lsn(self) -> int:
        return self._store.lsn

    async def apply_changes(self, changes: Sequence[Change]) -> int:
        route = self._recheck()
        # Only a copy that is not live may be filled in bulk (store/_bulk.py).
        give_way = None if self._pause_point is None else self._pause_point()
        return await self._store.apply_changes(
            changes, bulk=route.status == "incoming", give_way=give_way
        )

    async def end_bulk_apply(self) -> None:
        await self._store.end_bulk_apply()  # always allowed: it changes no record

    def snapshot_path(self) -> Path:
        return new_snapshot_path(self._registry.path_of(self._workload), "in")

    async def install_snapshot(self, source: Path, snapshot: SnapshotInfo) -> int:
        route = self._recheck()
        if route.status != "incoming":
            raise SnapshotRefused(
                f"workload {self._workload!r} is {route.status} here: a snapshot only "
                "fills an incoming copy"
            )
        # A background stream's install gives way to a hold or an activation here inside
        # its checks too (they read the whole file), as a chunk's apply does.
        give_way = None if self._pause_point is None else self._pause_point()
        self._store = await self._registry.install_snapshot(
            self._workload, source, snapshot, give_way=give_way, durable=self._durable
        )
        self._store.keep_warm(True)  # a new store object: incoming, as checked above
        return self._store.lsn


class PeerHost(Protocol):
    """What the peer stream needs of the daemon: frame limits, actor system, metrics."""

    @property
    def name(self) -> str: ...

    @property
    def limits(self) -> WireLimits: ...

    @property
    def actor_system(self) -> ActorSystem: ...

    @property
    def metrics(self) -> DaemonMetrics: ...

    @property
    def log(self) -> Any: ...

    @property
    def urgent(self) -> UrgentWork: ...

    @property
    def clock(self) -> Clock: ...


class PeerStores(Protocol):
    """Where a peer stream's workload is looked up (routes and stores)."""

    @property
    def registry(self) -> StoreRegistry: ...

    def route_of(self, name: str) -> Route | None: ...


def add_peer_routes(
    app: web.Application,
    daemon: PeerHost,
    stores: PeerStores,
    *,
    hello_timeout_s: float | None = None,
    heartbeat_s: float | None = None,
) -> None:
    """Register ``/peer/stream`` on ``app`` and close open streams on shutdown.

    A stream whose peer sends no ``Hello`` within ``hello_timeout_s`` is refused; every
    ``heartbeat_s`` the edge pings the peer and closes a stream whose pong does not come
    within half of it (a dead or silent peer does not hold a connection forever).
    """
    streams: set[web.WebSocketResponse] = set()

    async def resolve_store(
        workload: str, migration_id: str, credential: Credential, *, urgent: bool
    ) -> _BoundTarget:
        validate_workload_name(workload)

        def check() -> Route:
            found = stores.route_of(workload) if workload in stores.registry else None
            return check_peer_target(credential, workload, migration_id, found, daemon.name)

        route = check()
        daemon.log.info(
            "peer_stream_opened",
            workload=workload,
            migration_id=migration_id,
            status=route.status,
            credential=credential.name,
        )
        # A background stream's chunk in progress gives way to a hold or an activation
        # here inside its apply too, not only between chunks (:mod:`._urgent`).
        # Its install's fsyncs and move stay out of an activation's way here.
        pause_point = None if urgent else daemon.urgent.pause_point
        durable = None if urgent else daemon.urgent.durable_step
        return _BoundTarget(stores.registry, workload, check, pause_point, durable)

    def on_applied(workload: str, records: int, raw_bytes: int) -> None:
        daemon.metrics.peer_records.labels(daemon.name).inc(records)
        daemon.metrics.activity.peer_applied(workload, records)

    async def peer_stream(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(
            max_msg_size=peer_ws_max_msg_size(daemon.limits), heartbeat=heartbeat_s
        )
        if not ws.can_prepare(request).ok:
            raise HttpError(
                400,
                "invalid_request",
                "/peer/stream needs a WebSocket upgrade (Connection: Upgrade, Upgrade: "
                "websocket); it carries the binary peer-stream frames of docs/wire.md",
            )
        credential = credential_of(request)
        urgent = request.headers.get(URGENT_HEADER) == "1"

        async def resolve(workload: str, migration_id: str) -> _BoundTarget:
            return await resolve_store(workload, migration_id, credential, urgent=urgent)

        await ws.prepare(request)
        streams.add(ws)
        try:
            with contextlib.ExitStack() as stack:
                if urgent:
                    until = daemon.clock.monotonic() + _URGENT_STREAM_S
                    stack.enter_context(daemon.urgent.running(until))
                await serve_peer_stream(
                    ws,
                    resolve_store=resolve,
                    limits=daemon.limits,
                    on_applied=on_applied,
                    system=daemon.actor_system,
                    hello_timeout_s=hello_timeout_s,
                    yielder=NEVER_YIELD if urgent else daemon.urgent,
                )
        finally:
            streams.discard(ws)
            if not ws.closed:
                await ws.close()
        return ws

    async def close_streams(app: web.Application) -> None:
        for ws in list(streams):
            await ws.close(code=1001, message=b"edge shutting down")

    app.router.add_route("GET", "/peer/stream", peer_stream)
    app.on_shutdown.append(close_streams)
