"""The edge daemon: an aiohttp server over the workload stores (edge layer).

:class:`EdgeDaemon` is the one code path for every edge: ``edge-actors daemon`` runs it
under a signal handler, tests and embedded runtimes use ``async with EdgeDaemon(cfg)``
on a loopback port. It owns the :class:`~edge_actors.store.StoreRegistry`, the
:class:`RoutingTable`, one :class:`WriteGate` per workload, the link limiters and the
metrics; the route modules (data, admin, peer) call its methods.

Writes held by a cutover and released with ``moved_to`` are forwarded by the daemon
itself to the new edge (:class:`_Forwarder`: one batch per drain, over a pooled
connection), so held clients need no 307 round trip; they learn the new edge from the
``X-Edge-Moved-To`` header of the answer.

A whole cutover is one admin call on the source (:meth:`EdgeDaemon.cutover`): hold, ship
the final delta, have the target confirm and activate, flip, release; any failure undoes
it. Transfers and peer streams share the daemon's pooled HTTP session and its one
long-lived actor system (hosted by one task for the daemon's lifetime).
"""

from __future__ import annotations

import asyncio
import socket
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote

import aiohttp
import anyio
import msgspec
from aiohttp import web

from edge_actors._closing import AsyncClosing
from edge_actors._log import get_logger
from edge_actors.actors import ActorSystem
from edge_actors.store import (
    StoreError,
    StoreRegistry,
    WorkloadNotFound,
    validate_workload_name,
)
from edge_actors.transfer import LinkLimiters, TransferSpec
from edge_actors.wire import DEFAULT_LIMITS, WireLimits

from ._admin_api import add_admin_routes
from ._client import AdminClient
from ._data_api import add_data_routes
from ._errors import EdgeError, EdgeHTTPError
from ._http import HttpError, error_middleware
from ._metrics import DaemonMetrics
from ._models import (
    CapacityInfo,
    CutoverAnswer,
    LoadInfo,
    LsnAnswer,
    WorkloadInfo,
    WriteAnswer,
)
from ._peer_api import add_peer_routes
from ._routing import Route, RoutingTable, WriteGate
from ._transfer_api import Transfers, add_transfer_routes

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from edge_actors.store import WorkloadStore

    from ._config import EdgeConfig
    from ._models import CutoverRequest, WorkloadStatus

__all__ = ["EdgeDaemon"]

_ROUTING_FILE = "routing.json"

_FORWARD_TIMEOUT_S = 30.0
_PEER_CALL_TIMEOUT_S = 10.0  # a cutover's admin calls to the target
_FINAL_DELTA_RETRIES = 1  # inside a hold: one reconnection, then undo
_FORWARD_BATCH_BYTES = 32 * 1024 * 1024  # below the target's 64 MiB batch body limit
_MSGPACK = msgspec.msgpack.Encoder()
_LSN_ANSWER = msgspec.json.Decoder(LsnAnswer)


class _Forwarded:
    """One held write waiting for its forward: its ops and, once sent, its outcome."""

    __slots__ = ("done", "error", "lsn", "ops", "redirect")

    def __init__(self, ops: Sequence[tuple[str, bytes | None]]) -> None:
        self.ops = ops
        self.done = False
        self.lsn = 0
        self.redirect = False
        self.error: str | None = None


class _Forwarder:
    """Forwards a moved workload's released writes to its new edge, in arrival order.

    Writes are queued (synchronously, in the order the hold releases them) and sent as
    ``POST {moved_to}/v1/workloads/{w}/batch`` requests, one at a time (a lock), each
    carrying every write queued so far: the batch is atomic, its ops get consecutive
    LSNs, so each write learns its own LSN. A write is acknowledged only once the target
    has committed it. If the target refuses the batch or cannot be reached, nothing was
    applied and each write falls back to a 307 (its client re-sends it); a batch whose
    outcome is unknown (connection lost mid-request) answers 503 (not acknowledged).
    """

    def __init__(self, daemon: EdgeDaemon, name: str) -> None:
        self.daemon = daemon
        self.name = name
        self.pending: list[_Forwarded] = []
        self.lock = anyio.Lock()

    def enqueue(self, ops: Sequence[tuple[str, bytes | None]]) -> _Forwarded:
        """Queue ``ops`` behind every write queued before (no await: order is kept)."""
        item = _Forwarded(ops)
        self.pending.append(item)
        return item

    async def flush(self, item: _Forwarded, moved_to: str) -> None:
        """Send queued writes until ``item`` has its outcome."""
        async with self.lock:
            while not item.done:
                batch = self._take()
                try:
                    await self._send(batch, moved_to)
                except BaseException:
                    # Cancelled (shutdown) or an unexpected error mid-send: the batch's
                    # outcome is unknown, and a write left undone would make every flush
                    # waiting behind it loop on empty batches for ever.
                    for queued in batch:
                        if not queued.done:
                            queued.error = (
                                f"forwarding the held write to {moved_to} was interrupted; "
                                "it may or may not have been applied there and is not "
                                "acknowledged"
                            )
                            queued.done = True
                    raise

    def _take(self) -> list[_Forwarded]:
        size, count = 0, 0
        for queued in self.pending:
            size += sum(len(k) + (len(v) if v else 0) for k, v in queued.ops)
            if count and size > _FORWARD_BATCH_BYTES:
                break
            count += 1
        batch, self.pending = self.pending[:count], self.pending[count:]
        return batch

    async def _send(self, batch: list[_Forwarded], moved_to: str) -> None:
        daemon = self.daemon
        ops = [[key, value] for item in batch for key, value in item.ops]
        url = f"{moved_to}/v1/workloads/{quote(self.name, safe='')}/batch"
        started = time.perf_counter()
        outcome = "forwarded"
        try:
            async with daemon.forward_session().post(
                url,
                data=_MSGPACK.encode(ops),
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=_FORWARD_TIMEOUT_S),
            ) as resp:
                body = await resp.read()
                if resp.status == 200:
                    last = _LSN_ANSWER.decode(body).lsn
                    first = last - len(ops) + 1
                    for item in batch:
                        first += len(item.ops)
                        item.lsn = first - 1
                else:
                    outcome = f"refused_{resp.status}"
                    for item in batch:
                        item.redirect = True
        except aiohttp.ClientConnectorError as exc:  # never connected: nothing was sent
            outcome = f"unreachable: {exc}"
            for item in batch:
                item.redirect = True
        except (aiohttp.ClientError, OSError, TimeoutError, msgspec.DecodeError) as exc:
            outcome = f"unknown: {exc!r}"
            for item in batch:
                item.error = (
                    f"forwarding the held write to {moved_to} failed ({exc!r}); it may or "
                    "may not have been applied there and is not acknowledged"
                )
        for item in batch:
            item.done = True
        daemon.log.info(
            "held_writes_forwarded",
            workload=self.name,
            writes=len(batch),
            ops=len(ops),
            moved_to=moved_to,
            outcome=outcome,
            ms=round((time.perf_counter() - started) * 1000, 3),
        )


class EdgeDaemon(AsyncClosing):
    """One edge: HTTP server (data, admin, peer, metrics APIs) over its workload stores.

    Use as ``async with EdgeDaemon(config) as daemon:``; on entry the stores are open and
    the server is listening at :attr:`url` (a real port even when ``config.port`` is 0).
    On exit (or :meth:`aclose`, from any task of the loop) it stops accepting, turns away
    writes still waiting on a hold (503), cancels outgoing transfers (they stop at a chunk
    boundary; acknowledged state is what counts), lets other in-flight requests finish
    for up to ``config.shutdown_timeout_s`` and then cancels them, then closes the stores.
    Its one background task hosts the daemon's actor system (stopped last but one, before
    the stores close); hold leases are loop timers.

    Args:
        config: The daemon's settings.
        extra_routes: Called with the aiohttp application before it starts, to add routes
            (for example a migration admin API). Same as calling :meth:`add_routes`.
        limits: Frame limits of the peer stream.

    Cancellation: cancelling the task inside ``async with`` runs the same shutdown.
    """

    def __init__(
        self,
        config: EdgeConfig,
        *,
        extra_routes: Callable[[web.Application], None] | None = None,
        limits: WireLimits = DEFAULT_LIMITS,
    ) -> None:
        self.config = config
        self.limits = limits
        self.links = LinkLimiters()
        self._sizes: list[tuple[str, int, int, int]] = []
        self.metrics = DaemonMetrics(config.name, self._store_sizes)
        self.log = get_logger("edge.daemon", edge=config.name)
        self._registry: StoreRegistry | None = None
        self._routing: RoutingTable | None = None
        self._gates: dict[str, WriteGate] = {}
        self._forwarders: dict[str, _Forwarder] = {}
        self._forward_session: aiohttp.ClientSession | None = None
        self._system: ActorSystem | None = None
        self._cutovers: set[str] = set()
        self.transfers = Transfers(self)
        self._reserved_bytes = 0
        self._url: str | None = None
        self._started_at = time.monotonic()
        self._stop = anyio.Event()
        self._stack: AsyncExitStack | None = None
        self._runner: web.AppRunner | None = None
        self._app = web.Application(
            middlewares=[error_middleware(self.metrics, config.cluster_token, config.name)],
            handler_args={"max_field_size": 16384},
        )
        add_data_routes(self._app, self)
        add_admin_routes(self._app, self)
        add_peer_routes(self._app, self)
        add_transfer_routes(self._app, self)
        if extra_routes is not None:
            extra_routes(self._app)

    # -- public surface ----------------------------------------------------------------

    @property
    def name(self) -> str:
        """The edge name."""
        return self.config.name

    @property
    def token(self) -> str:
        """The cluster token this daemon requires on admin and peer routes."""
        return self.config.cluster_token

    @property
    def app(self) -> web.Application:
        """The aiohttp application (add routes with :meth:`add_routes` before start)."""
        return self._app

    @property
    def url(self) -> str:
        """Base URL of the running daemon (``public_url`` if configured, else the bound one).

        Raises:
            EdgeError: The daemon is not running.
        """
        public = self.config.public_url
        return public.rstrip("/") if public else self.bound_url

    @property
    def bound_url(self) -> str:
        """The URL the server is bound to (differs from :attr:`url` with ``public_url``).

        Raises:
            EdgeError: The daemon is not running.
        """
        if self._url is None:
            raise EdgeError(f"edge {self.name!r} is not running; no URL yet")
        return self._url

    @property
    def registry(self) -> StoreRegistry:
        """The open store registry.

        Raises:
            EdgeError: The daemon is not running.
        """
        if self._registry is None:
            raise EdgeError(f"edge {self.name!r} is not running; stores are closed")
        return self._registry

    @property
    def routing(self) -> RoutingTable:
        """The routing table (valid while running)."""
        if self._routing is None:
            raise EdgeError(f"edge {self.name!r} is not running; no routing table")
        return self._routing

    @property
    def uptime_s(self) -> float:
        """Seconds since the daemon started."""
        return time.monotonic() - self._started_at

    def add_routes(self, add: Callable[[web.Application], None]) -> None:
        """Let ``add`` register routes on :attr:`app`; only before the daemon starts.

        Raises:
            EdgeError: The daemon has already started (aiohttp freezes the router).
        """
        if self._runner is not None:
            raise EdgeError("add_routes must be called before the daemon starts")
        add(self._app)

    def request_stop(self) -> None:
        """Make :meth:`serve_forever` return (thread-unsafe; call from the daemon's loop)."""
        self._stop.set()

    async def serve_forever(self) -> None:
        """Wait until :meth:`request_stop` is called.

        Cancellation: returns by raising the cancellation; the caller's ``async with``
        then shuts the daemon down.
        """
        await self._stop.wait()

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            sock = self._bind()
            stack.callback(sock.close)
            ssl_context = self.config.ssl_context()
            data_dir = Path(self.config.data_dir)
            await anyio.to_thread.run_sync(lambda: data_dir.mkdir(parents=True, exist_ok=True))
            self._routing = RoutingTable(data_dir / _ROUTING_FILE)
            self._registry = await StoreRegistry.open(data_dir)
            stack.push_async_callback(self._close_registry)
            await self._start_actor_system(stack)
            stack.push_async_callback(self._close_forward_session)
            runner = web.AppRunner(
                self._app,
                handle_signals=False,
                access_log=None,
                shutdown_timeout=self.config.shutdown_timeout_s,
            )
            await runner.setup()
            self._runner = runner
            stack.push_async_callback(self._cleanup_runner, runner)
            stack.callback(self._close_gates)
            await web.SockSite(runner, sock, ssl_context=ssl_context).start()
            port = sock.getsockname()[1]
            scheme = "https" if ssl_context is not None else "http"
            host = self.config.host
            if host in ("0.0.0.0", "::", ""):
                host = "127.0.0.1"
            if ":" in host:
                host = f"[{host}]"
            self._url = f"{scheme}://{host}:{port}"
            self._started_at = time.monotonic()
            self._stack = stack.pop_all()
        self.log.info("edge_started", url=self.url, data_dir=self.config.data_dir)
        return self

    async def aclose(self) -> None:
        """Shut down (see the class docstring). Idempotent.

        Cancellation: the server cleanup and the store closing are shielded; the daemon
        is stopped when this returns or raises.
        """
        stack, self._stack = self._stack, None
        if stack is None:
            return
        self.log.info("edge_stopping")
        try:
            await stack.aclose()
        finally:
            self._url = None
            self.log.info("edge_stopped")

    def _bind(self) -> socket.socket:
        """Bind the listening socket first, so a busy port is a plain, early error."""
        host, port = self.config.host, self.config.port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            return socket.create_server((host, port), family=family, backlog=1024)
        except OSError as exc:
            raise EdgeError(
                f"edge {self.name}: cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from None

    async def _cleanup_runner(self, runner: web.AppRunner) -> None:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()

    async def _close_registry(self) -> None:
        registry, self._registry = self._registry, None
        if registry is not None:
            await registry.close()

    async def _close_forward_session(self) -> None:
        session, self._forward_session = self._forward_session, None
        if session is not None:
            with anyio.CancelScope(shield=True):
                await session.close()

    async def _start_actor_system(self, stack: AsyncExitStack) -> None:
        """Start the daemon's actor system in a host task of its own.

        The host task enters and leaves the system (its task group must be left by the
        task that entered it), so :meth:`aclose` may run from any task.
        """
        ready: asyncio.Future[ActorSystem] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()

        async def host() -> None:
            try:
                async with ActorSystem(name=f"edge-{self.name}") as system:
                    ready.set_result(system)
                    await stop.wait()
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc)
                raise

        task = asyncio.get_running_loop().create_task(host(), name=f"edge-{self.name}-actors")

        async def stop_system() -> None:
            self._system = None
            stop.set()
            with anyio.CancelScope(shield=True):
                await asyncio.wait([task])

        stack.push_async_callback(stop_system)
        self._system = await ready

    @property
    def actor_system(self) -> ActorSystem:
        """The daemon's long-lived actor system (senders and receivers run in it).

        Raises:
            EdgeError: The daemon is not running.
        """
        if self._system is None:
            raise EdgeError(f"edge {self.name!r} is not running; no actor system")
        return self._system

    def forward_session(self) -> aiohttp.ClientSession:
        """The daemon's pooled HTTP session (forwarded writes, transfers, peer admin calls;
        created on first use)."""
        if self._forward_session is None or self._forward_session.closed:
            self._forward_session = aiohttp.ClientSession()
        return self._forward_session

    def _close_gates(self) -> None:
        for gate in self._gates.values():
            if gate.lease is not None:
                gate.lease.cancel()
                gate.lease = None
            gate.close()

    # -- state used by the route modules -------------------------------------------------

    def gate(self, name: str) -> WriteGate:
        """Return the write gate of workload ``name`` (created on first use)."""
        gate = self._gates.get(name)
        if gate is None:
            gate = self._gates[name] = WriteGate(name)
        return gate

    def queued_writes(self) -> int:
        """Writes waiting on holds right now, over all workloads."""
        return sum(gate.queued for gate in self._gates.values())

    def route_of(self, name: str) -> Route | None:
        """Return the route of ``name``: its table entry, ``active`` if only a store exists,
        ``None`` if the workload is unknown here."""
        route = self.routing.get(name)
        if route is not None:
            return route
        if name in self.registry:
            return Route("active")
        return None

    def data_route(self, name: str, request: web.Request) -> WorkloadStore:
        """Check that data requests for ``name`` are served here; return its store.

        Raises:
            HttpError: 400 bad name, 404 unknown, 409 incoming.
            web.HTTPTemporaryRedirect: The workload moved (``Location`` keeps the path).
        """
        validate_workload_name(name)
        route = self.route_of(name)
        if route is None:
            raise HttpError(404, "workload_not_found", f"no workload {name!r} on {self.name}")
        if route.status == "moved" and route.moved_to is not None:
            location = route.moved_to.rstrip("/") + request.raw_path
            raise web.HTTPTemporaryRedirect(location=location, text=f"moved to {location}")
        if route.status == "incoming":
            raise HttpError(
                409,
                "workload_incoming",
                f"workload {name!r} is incoming on {self.name} (a migration target); "
                "it is served by its source edge until cutover",
            )
        try:
            return self.registry.get(name)
        except WorkloadNotFound:
            raise HttpError(
                404, "workload_not_found", f"workload {name!r} has no data on {self.name}"
            ) from None

    async def used_bytes(self) -> int:
        """Logical bytes (keys + values) of every live record on this edge."""
        total = 0
        for name in self.registry.names():
            try:
                total += (await self.registry.get(name).stats()).bytes
            except StoreError:
                continue
        return total

    async def write(
        self, name: str, request: web.Request, ops: Sequence[tuple[str, bytes | None]]
    ) -> WriteAnswer:
        """Run a data write through the routing checks, the hold gate and capacity.

        A write that waited on a hold released with ``moved_to`` is forwarded to that
        edge by this daemon (see :class:`_Forwarder`) instead of being redirected.

        Returns:
            The LSN of the last op, and the edge that committed it if forwarded.

        Raises:
            HttpError: 404/409 routing, 507 over capacity (nothing written), 503 a
                forward whose outcome is unknown (not acknowledged).
            web.HTTPTemporaryRedirect: The workload moved (and the write was not
                forwarded, or the new edge refused the forward: nothing was applied).

        Cancellation: if cancelled while waiting on a hold, the write never runs; once
        submitted to the store, the store's own rule applies (committed or withdrawn).
        """
        self.data_route(name, request)
        adding = sum(len(key.encode("utf-8")) + len(value) for key, value in ops if value)
        gate = self.gate(name)
        forwarded: _Forwarded | None = None
        moved_to = ""
        async with gate.admit() as waited:
            route = self.route_of(name)
            if waited and route is not None and route.status == "moved" and route.moved_to:
                # Queued in release order before the turn passes on; sent below.
                forwarded = self._forwarder(name).enqueue(ops)
                moved_to = route.moved_to
            else:
                return WriteAnswer(await self._write_here(name, request, ops, adding))
        await self._forwarder(name).flush(forwarded, moved_to)
        if forwarded.error is not None:
            raise HttpError(503, "forward_failed", forwarded.error)
        if forwarded.redirect:
            self.data_route(name, request)  # raises the 307 while the route is still moved
            # The route changed back meanwhile (nothing was applied anywhere): run the write
            # where the workload is served now instead of acknowledging it unapplied.
            return await self.write(name, request, ops)
        return WriteAnswer(forwarded.lsn, moved_to)

    def _forwarder(self, name: str) -> _Forwarder:
        forwarder = self._forwarders.get(name)
        if forwarder is None:
            forwarder = self._forwarders[name] = _Forwarder(self, name)
        return forwarder

    async def _write_here(
        self,
        name: str,
        request: web.Request,
        ops: Sequence[tuple[str, bytes | None]],
        adding: int,
    ) -> int:
        store = self.data_route(name, request)
        reserved = 0
        try:
            if adding and self.config.max_bytes is not None:
                used = await self.used_bytes() + self._reserved_bytes
                if used + adding > self.config.max_bytes:
                    raise HttpError(
                        507,
                        "capacity_exceeded",
                        f"edge {self.name} is over capacity: {used} of "
                        f"{self.config.max_bytes} bytes used, the write needs {adding} "
                        "more; nothing was written",
                    )
                reserved = adding
                self._reserved_bytes += reserved
            started = time.perf_counter()
            if len(ops) == 1:
                key, value = ops[0]
                lsn = await (store.delete(key) if value is None else store.put(key, value))
            else:
                lsn = await store.write_batch(ops)
            self.metrics.write_latency.labels(self.name).observe(time.perf_counter() - started)
        finally:
            self._reserved_bytes -= reserved
        self.metrics.bytes_in.labels(self.name).inc(adding)
        return lsn

    async def hold(self, name: str, lease_s: float | None) -> tuple[int, float]:
        """Hold writes of ``name``; return ``(lsn, lease_s)`` once in-flight writes are done.

        A lease timer releases the hold after ``lease_s`` (default
        ``config.hold_timeout_s``) unless it is released or renewed first.

        Cancellation: the hold stays in place until released or its lease expires.
        """
        store = self.registry.get(name)
        lease = self.config.hold_timeout_s if lease_s is None else lease_s
        gate = self.gate(name)
        hold_id = gate.begin_hold()
        if gate.lease is not None:
            gate.lease.cancel()
        loop = asyncio.get_running_loop()
        gate.lease = loop.call_later(lease, self._lease_expired, name, gate, hold_id, lease)
        await gate.wait_idle()
        self.log.info("writes_held", workload=name, lsn=store.lsn, lease_s=lease)
        return store.lsn, lease

    def release(
        self, name: str, moved_to: str | None, *, reason: str = "request"
    ) -> tuple[int, float]:
        """Optionally flip ``name`` to ``moved`` (to ``moved_to``), then release its writes.

        Queued writes then run one by one in arrival order (each against the local store,
        or redirected to ``moved_to``); this returns without waiting for them.

        Returns:
            ``(held_writes, held_ms)``.
        """
        validate_workload_name(name)
        if self.route_of(name) is None:
            raise HttpError(404, "workload_not_found", f"no workload {name!r} on {self.name}")
        if moved_to is not None:
            self.set_route(name, "moved", moved_to)
        gate = self.gate(name)
        if gate.lease is not None:
            gate.lease.cancel()
            gate.lease = None
        was_held = gate.held
        count, held_ms = gate.release()
        if was_held:
            self.metrics.held_writes.labels(self.name, name).inc(count)
            self.metrics.hold_duration.labels(self.name, name).observe(held_ms / 1000.0)
            self.log.info(
                "writes_released",
                workload=name,
                held_writes=count,
                held_ms=round(held_ms, 3),
                moved_to=moved_to,
                reason=reason,
            )
        return count, held_ms

    def check_no_cutover(self, name: str) -> None:
        """Refuse a routing or hold change while a cutover of ``name`` runs here.

        Raises:
            HttpError: 409 ``cutover_in_progress`` (the cutover owns the hold and the
                route until it answers).
        """
        if name in self._cutovers:
            raise HttpError(
                409,
                "cutover_in_progress",
                f"a cutover of {name!r} is running on {self.name}; it releases the hold "
                "itself when it ends",
            )

    async def activate(self, name: str, min_lsn: int, digest: str | None) -> WorkloadInfo:
        """A cutover's target side: confirm the LSN (and digest), then go ``active``.

        Raises:
            HttpError: 404 unknown or no data here, 409 ``lsn_behind`` / ``digest_mismatch``
                / ``workload_moved`` (nothing changed).
        """
        validate_workload_name(name)
        route = self.route_of(name)
        if route is None or name not in self.registry:
            raise HttpError(
                404, "workload_not_found", f"workload {name!r} has no data on {self.name}"
            )
        if route.status == "moved":
            raise HttpError(
                409, "workload_moved", f"workload {name!r} is moved on {self.name}; not activated"
            )
        stats = await self.registry.get(name).stats()
        if stats.lsn < min_lsn:
            raise HttpError(
                409,
                "lsn_behind",
                f"workload {name!r} is at LSN {stats.lsn} on {self.name}, behind the hold LSN "
                f"{min_lsn}; not activated",
            )
        if digest is not None and stats.lsn == min_lsn and stats.digest != digest:
            raise HttpError(
                409,
                "digest_mismatch",
                f"workload {name!r} on {self.name} has digest {stats.digest[:16]} at LSN "
                f"{stats.lsn}, the source {digest[:16]}; not activated",
            )
        if route.status != "active":
            self.set_route(name, "active", None)
        return await self.info(name)

    async def cutover(self, name: str, req: CutoverRequest) -> CutoverAnswer:
        """Cut ``name`` over to ``req.target_url`` in one call (this edge is the source).

        Checks the target first (reachable, token accepted, not ``moved``; nothing held
        yet), then holds writes (waiting for in-flight ones), ships the final delta
        ``(req.from_lsn, hold LSN]`` over the peer stream, has the target confirm LSN and
        digest and go ``active`` (one admin call), flips the route here to ``moved``
        (persisted) and releases the held writes, which are forwarded to the target.
        The steps run shielded: a client that goes away does not stop them halfway.

        Raises:
            HttpError: 404 unknown workload; 409 not active here or a cutover already
                running; 502 ``cutover_failed`` naming the failed step, after the undo:
                target back to ``incoming``, route here unchanged, hold released.
        """
        validate_workload_name(name)
        route = self.route_of(name)
        if route is None or name not in self.registry:
            raise HttpError(
                404, "workload_not_found", f"workload {name!r} has no data on {self.name}"
            )
        if route.status != "active":
            raise HttpError(
                409,
                "workload_not_active",
                f"workload {name!r} is {route.status} on {self.name}; only an active "
                "workload can be cut over",
            )
        self.check_no_cutover(name)
        self._cutovers.add(name)
        try:
            with anyio.CancelScope(shield=True):
                answer = await self._cutover(name, req)
        finally:
            self._cutovers.discard(name)
        return answer

    async def _cutover(self, name: str, req: CutoverRequest) -> CutoverAnswer:
        store = self.registry.get(name)
        gate = self.gate(name)
        target = AdminClient(
            req.target_url,
            req.target_token,
            session=self.forward_session(),
            timeout=_PEER_CALL_TIMEOUT_S,
        )
        log = self.log.bind(workload=name, migration_id=req.migration_id, target=req.target_name)
        steps: dict[str, float] = {}
        mark = time.perf_counter()
        activating = False

        def lap(done: str) -> None:
            nonlocal mark
            now = time.perf_counter()
            steps[done] = round((now - mark) * 1000, 3)
            mark = now

        try:
            # Before holding anything: the target answers, accepts the token and has the
            # workload incoming (this also warms the pooled connection for "activate").
            step = "check_target"
            before = await target.workload(name)
            if before.status == "moved":
                raise EdgeError(f"the target has {name!r} as moved, not incoming")
        except Exception as exc:
            log.warning("cutover_failed", step=step, error=str(exc))
            raise HttpError(
                502,
                "cutover_failed",
                f"cutover of {name!r} to {req.target_name} failed at step {step!r}: {exc}; "
                f"nothing was held, {self.name} still serves it",
            ) from exc
        mark = time.perf_counter()
        step = "hold"
        hold_lsn, _ = await self.hold(name, req.lease_s)
        hold_id = gate.hold_id
        lap("hold")
        try:
            step = "final_delta"
            records = 0
            if hold_lsn > req.from_lsn:
                spec = TransferSpec(
                    transfer_id=req.transfer_id,
                    migration_id=req.migration_id,
                    workload=name,
                    target_name=req.target_name,
                    target_url=req.target_url,
                    target_token=req.target_token,
                    from_lsn=req.from_lsn,
                    to_lsn=hold_lsn,
                    batch_size=req.batch_size,
                    compression=req.compression,
                    max_retries=_FINAL_DELTA_RETRIES,
                    retry_backoff_s=0.05,
                )
                final = await self.transfers.run(self.transfers.start(spec), store)
                if final.state != "done" or final.acked_lsn < hold_lsn:
                    raise EdgeError(
                        f"transfer ended {final.state} at LSN {final.acked_lsn} of {hold_lsn}: "
                        f"{final.error}"
                    )
                records = final.records
            lap("final_delta")
            step = "activate"
            own = await store.stats()
            activating = True  # from here the target may be active: undone on failure
            confirmed = await target.activate(name, min_lsn=hold_lsn, digest=own.digest)
            lap("activate")
            step = "flip"
            if not gate.held or gate.hold_id != hold_id or store.lsn != hold_lsn:
                raise EdgeError(
                    f"the hold was lost (lease expired or released; LSN now {store.lsn}, "
                    f"hold LSN {hold_lsn})"
                )
            held_writes, held_ms = self.release(name, req.target_url, reason="cutover")
            lap("flip")
        except BaseException as exc:
            undone = await self._undo_cutover(name, target, activating, log)
            log.warning("cutover_failed", step=step, error=str(exc), undo=undone)
            if isinstance(exc, Exception):
                raise HttpError(
                    502,
                    "cutover_failed",
                    f"cutover of {name!r} to {req.target_name} failed at step {step!r}: "
                    f"{exc}; {undone}",
                ) from exc
            raise
        log.info(
            "cutover_done",
            hold_lsn=hold_lsn,
            target_lsn=confirmed.lsn,
            held_writes=held_writes,
            held_ms=round(held_ms, 3),
            steps_ms=steps,
        )
        return CutoverAnswer(
            hold_lsn=hold_lsn,
            target_lsn=confirmed.lsn,
            digest=confirmed.digest,
            held_writes=held_writes,
            held_ms=round(held_ms, 3),
            moved_to=req.target_url.rstrip("/"),
            records=records,
            steps_ms=steps,
        )

    async def _undo_cutover(
        self, name: str, target: AdminClient, activating: bool, log: Any
    ) -> str:
        """Put routing back as it was before a failed cutover and release the hold.

        Returns:
            What the undo did, for the error message.
        """
        done = f"{self.name} still serves it, held writes released"
        route = self.route_of(name)
        if route is not None and route.status == "moved":
            try:
                self.set_route(name, "active", None)
            except Exception:
                log.exception("cutover_undo_route_failed")
        if activating:
            try:
                await target.set_status(name, "incoming")
            except (EdgeHTTPError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("cutover_undo_target_failed", error=str(exc))
                done += f"; setting the target back to incoming failed ({exc})"
            else:
                done += "; the target is back to incoming"
        self.release(name, None, reason="cutover_failed")
        return done

    def _lease_expired(self, name: str, gate: WriteGate, hold_id: int, lease: float) -> None:
        if gate.hold_id != hold_id or not gate.held:
            return
        gate.lease = None
        self.metrics.holds_expired.labels(self.name, name).inc()
        self.log.warning("hold_lease_expired", workload=name, lease_s=lease)
        try:
            self.release(name, None, reason="lease_expired")
        except Exception:  # a timer callback must never raise into the loop
            self.log.exception("hold_lease_release_failed", workload=name)

    def set_route(self, name: str, status: WorkloadStatus, moved_to: str | None) -> Route:
        """Set and persist the routing status of ``name``.

        Raises:
            HttpError: 400 ``moved`` without an http(s) ``moved_to``, or ``moved_to`` with
                another status; 404 unknown workload.
        """
        validate_workload_name(name)
        if status == "moved":
            if moved_to is None or not moved_to.startswith(("http://", "https://")):
                raise HttpError(
                    400,
                    "invalid_body",
                    f"moved_to: status 'moved' needs an http(s) URL, got {moved_to!r}",
                )
        elif moved_to is not None:
            raise HttpError(400, "invalid_body", "moved_to: only valid with status 'moved'")
        if self.route_of(name) is None:
            raise HttpError(404, "workload_not_found", f"no workload {name!r} on {self.name}")
        route = Route(status, moved_to.rstrip("/") if moved_to else None)
        if status == "active":
            self.routing.remove(name)
        else:
            self.routing.set(name, route)
        self.log.info("route_set", workload=name, status=status, moved_to=route.moved_to)
        return route

    async def info(self, name: str) -> WorkloadInfo:
        """Return routing status and store statistics of ``name`` (any status).

        Raises:
            HttpError: 404 when neither a store nor a route exists.
        """
        validate_workload_name(name)
        route = self.route_of(name)
        if route is None:
            raise HttpError(404, "workload_not_found", f"no workload {name!r} on {self.name}")
        gate = self._gates.get(name)
        held = gate is not None and gate.held
        if name in self.registry:
            stats = await self.registry.get(name).stats()
            return WorkloadInfo(
                name=name,
                status=route.status,
                moved_to=route.moved_to,
                records=stats.records,
                bytes=stats.bytes,
                lsn=stats.lsn,
                digest=stats.digest,
                held=held,
                cutover=name in self._cutovers,
            )
        return WorkloadInfo(
            name=name,
            status=route.status,
            moved_to=route.moved_to,
            records=0,
            bytes=0,
            lsn=0,
            digest="",
            held=held,
            cutover=name in self._cutovers,
        )

    async def workload_names(self) -> list[str]:
        """Names with a store or a route here, sorted."""
        return sorted(set(self.registry.names()) | {n for n, _ in self.routing.items()})

    async def capacity(self) -> CapacityInfo:
        """Capacity limits and use (logical record bytes, workloads with a store)."""
        used = await self.used_bytes()
        limit = self.config.max_bytes
        return CapacityInfo(
            max_bytes=limit,
            used_bytes=used,
            free_bytes=None if limit is None else max(0, limit - used),
            max_workloads=self.config.max_workloads,
            used_workloads=len(self.registry.names()),
        )

    def load(self) -> LoadInfo:
        """The load counters since start."""
        counters = self.metrics.load
        return LoadInfo(
            requests_total=counters.requests_total,
            errors_total=counters.errors_total,
            reads_total=counters.reads_total,
            writes_total=counters.writes_total,
            inflight=counters.inflight,
            held_writes=self.queued_writes(),
            active_transfers=counters.active_transfers,
        )

    async def refresh_sizes(self) -> None:
        """Snapshot per-workload sizes for the ``/metrics`` store gauges."""
        sizes: list[tuple[str, int, int, int]] = []
        for name in self.registry.names():
            try:
                stats = await self.registry.get(name).stats()
            except StoreError:
                continue
            sizes.append((name, stats.records, stats.bytes, stats.lsn))
        self._sizes = sizes

    def _store_sizes(self) -> list[tuple[str, int, int, int]]:
        return self._sizes
