"""The edge daemon: server lifecycle and composition of its parts (edge layer).

:class:`EdgeDaemon` is the one code path for every edge: ``edge-actors daemon`` runs it
under a signal handler, tests and embedded runtimes use ``async with EdgeDaemon(cfg)``
on a loopback port. It opens the :class:`~edge_actors.store.StoreRegistry` and the
:class:`RoutingTable`, hosts the actor system and a task group (hold leases) in one
background task, owns the pooled HTTP session, the link limiters and the metrics, and
wires the parts that do the work:

- :class:`~._router.WorkloadRouter`: routing, holds (:mod:`._holds`) and the write path,
  forwarding released writes to a new edge (:mod:`._forwarder`);
- :class:`~._cutover.CutoverSaga`: a whole cutover as one admin call on the source;
- :class:`~._transfer_api.Transfers`: outgoing transfers;
- the route modules (data, admin, peer, transfers), each over narrow protocols.

Every request passes the gate of :mod:`._auth` (Host allow-list, credential, scope,
content type) before its handler. Domain errors are mapped to HTTP answers in one place,
:mod:`._http`. Time that decides
(hold leases, hold durations, uptime) is read from the injected :class:`Clock`.
"""

from __future__ import annotations

import asyncio
import os
import socket
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Self

import aiohttp
import anyio
from aiohttp import web

from edge_actors._closing import AsyncClosing
from edge_actors._log import get_logger
from edge_actors.actors import ActorSystem
from edge_actors.clock import SYSTEM_CLOCK
from edge_actors.store import StoreRegistry, clear_snapshot_files
from edge_actors.transfer import LinkLimiters
from edge_actors.wire import DEFAULT_LIMITS, WireLimits

from ._admin_api import add_admin_routes
from ._auth import Authenticator, auth_middleware, host_allow_list
from ._bodies import BODY_BUDGET, BodyBudget, body_budget_middleware
from ._connections import (
    CONNECTION_GUARD,
    ConnectionGuard,
    GuardedSockSite,
    connection_middleware,
    fitting_connection_cap,
)
from ._credentials import Credential, Credentials, mint_token, read_token_file
from ._cutover import CutoverSaga
from ._data_api import add_data_routes
from ._edge_state import open_edge_state
from ._errors import EdgeError
from ._http import error_middleware
from ._leader_fence import LeaderFence, leader_fence_middleware
from ._loop_lag import LoopLag
from ._metrics import DaemonMetrics
from ._peer_api import add_peer_routes
from ._private import prepare_data_dir, write_private
from ._restore import add_restore_route
from ._router import WorkloadRouter
from ._test_hooks import PauseHook
from ._transfer_api import Transfers, add_transfer_routes
from ._urgent import UrgentWork

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskGroup

    from edge_actors.clock import Clock

    from ._config import EdgeConfig
    from ._routing import RoutingTable

__all__ = ["EdgeDaemon"]

ADMIN_TOKEN_FILE = "admin.token"
"""Where a daemon configured without an admin credential keeps the one it minted."""
_LEADER_EPOCH_FILE = "leader_epoch.state"


class EdgeDaemon(AsyncClosing):
    """One edge: HTTP server (data, admin, peer, metrics APIs) over its workload stores.

    Use as ``async with EdgeDaemon(config) as daemon:``; on entry the stores are open and
    the server is listening at :attr:`url` (a real port even when ``config.port`` is 0).
    On exit (or :meth:`aclose`, from any task of the loop) it stops accepting, turns away
    writes still waiting on a hold (503), cancels outgoing transfers (they stop at a chunk
    boundary; acknowledged state is what counts), lets other in-flight requests finish
    for up to ``config.shutdown_timeout_s`` and then cancels them, then closes the stores.
    Its one background task hosts the daemon's actor system and the task group of the
    hold leases (stopped last but one, before the stores close).

    Args:
        config: The daemon's settings.
        extra_routes: Called with the aiohttp application before it starts, to add routes
            (for example a migration admin API). Same as calling :meth:`add_routes`.
        limits: Frame limits of the peer stream.
        clock: Times hold leases, hold durations and uptime (a test passes a
            :class:`~edge_actors.clock.ManualClock`).

    Attributes:
        router: Routing, holds and the write path of the workloads
            (:class:`~._router.WorkloadRouter`).
        transfers: The outgoing transfers (:class:`~._transfer_api.Transfers`).
        cutovers: The one-call cutover (:class:`~._cutover.CutoverSaga`).
        urgent: The urgent work on this edge that background copies give way to
            (:class:`~._urgent.UrgentWork`: cutovers' holds and activations).
        loop_lag: The recent lateness of this loop's timers (:class:`~._loop_lag.LoopLag`,
            probed by a background task; a cutover's hold keeps it in reserve).
        clock: The clock every time-based decision of this edge reads.
        connections: The open client connections, their cap and header-read timer
            (:class:`~._connections.ConnectionGuard`; network timers, on the loop's clock).

    Cancellation: cancelling the task inside ``async with`` runs the same shutdown.
    """

    def __init__(
        self,
        config: EdgeConfig,
        *,
        extra_routes: Callable[[web.Application], None] | None = None,
        limits: WireLimits = DEFAULT_LIMITS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.config = config
        self.limits = limits
        self.clock = clock
        self.links = LinkLimiters(clock=clock)
        self.metrics = DaemonMetrics(config.name, compression=self.links.compression_stats)
        self.log = get_logger("edge.daemon", edge=config.name)
        self._forward_session: aiohttp.ClientSession | None = None
        self._system: ActorSystem | None = None
        self.router = WorkloadRouter(config, self.metrics, self.log, clock, self.forward_session)
        self.urgent = UrgentWork(config.name, self.metrics, clock)
        self.loop_lag = LoopLag(self.urgent)
        self.metrics.loop_lag.labels(config.name).set_function(self.loop_lag.ambient_s)
        self.transfers = Transfers(self)
        self.cutovers = CutoverSaga(
            self.router,
            self.transfers,
            self.forward_session,
            PauseHook.from_env(),
            clock,
            urgent=self.urgent,
            loop_lag=self.loop_lag,
        )
        self._url: str | None = None
        self._started_at = clock.monotonic()
        self._stop = anyio.Event()
        self._stack: AsyncExitStack | None = None
        self._runner: web.AppRunner | None = None
        self.leader_fence: LeaderFence | None = None
        self.auth = Authenticator(
            config.name,
            clock,
            self.log,
            burst=config.auth_failure_burst,
            rate_per_s=config.auth_failure_rate_per_s,
        )
        self._app = web.Application(
            middlewares=[
                connection_middleware(),
                error_middleware(self.metrics, config.name),
                auth_middleware(self.auth),  # before any body is read or budgeted
                leader_fence_middleware(lambda: self.leader_fence),  # admin credential only
                body_budget_middleware(),
            ],
            handler_args={"max_field_size": 16384},
        )
        self._app[BODY_BUDGET] = BodyBudget(config.max_body_bytes_inflight)
        cap = fitting_connection_cap(config.max_connections)
        if cap < config.max_connections:
            self.log.warning(
                "connection_cap_lowered", max_connections=config.max_connections, cap=cap
            )
        self.connections = ConnectionGuard(cap, config.header_timeout_s, self.log)
        self._app[CONNECTION_GUARD] = self.connections
        add_data_routes(self._app, self, self.router, max_batch_ops=config.max_batch_ops)
        add_admin_routes(self._app, self, self.router, self.cutovers)
        add_restore_route(self._app, self.router)
        add_peer_routes(
            self._app,
            self,
            self.router,
            hello_timeout_s=config.peer_hello_timeout_s,
            heartbeat_s=config.peer_heartbeat_s,
        )
        add_transfer_routes(self._app, self.transfers, self.router)
        if extra_routes is not None:
            extra_routes(self._app)

    # -- public surface ----------------------------------------------------------------

    @property
    def name(self) -> str:
        """The edge name."""
        return self.config.name

    @property
    def token(self) -> str:
        """The daemon's admin credential (``cluster_token``, its file, or the minted one).

        Raises:
            EdgeError: Not running and no ``cluster_token`` configured.
        """
        token = self.auth.credentials.admin_token() or self.config.cluster_token
        if token is None:
            raise EdgeError(f"edge {self.name!r} is not running; no admin token yet")
        return token

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
        return self.router.registry

    @property
    def routing(self) -> RoutingTable:
        """The routing table (valid while running)."""
        return self.router.routing

    @property
    def uptime_s(self) -> float:
        """Seconds since the daemon started (of the daemon's clock)."""
        return self.clock.monotonic() - self._started_at

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
            loose = await anyio.to_thread.run_sync(prepare_data_dir, data_dir)
            for entry, mode in loose[:20]:
                self.log.warning("data_file_not_private", path=entry, mode=mode, want="0600")
            stale = await anyio.to_thread.run_sync(clear_snapshot_files, data_dir)
            if stale:  # a copy's snapshot file left by a process that died mid-copy
                self.log.info("stale_snapshot_files_removed", files=stale)
            self.auth.use(await anyio.to_thread.run_sync(self._credentials, data_dir))
            self.auth.hosts = host_allow_list(
                self.config.host, self.config.allowed_hosts, self.config.public_url
            )
            routing, fence = await anyio.to_thread.run_sync(open_edge_state, data_dir)
            registry = await StoreRegistry.open(
                data_dir,
                clock=self.clock,
                cache_mib=self.config.cache_mib,
                fd_budget=self.config.fd_budget,
            )
            stack.push_async_callback(self._close_registry, registry)
            tasks = await self._start_background(stack)
            self.router.attach(registry, routing, fence, tasks)
            tasks.start_soon(self.loop_lag.run)
            self.leader_fence = LeaderFence(data_dir / _LEADER_EPOCH_FILE)
            stack.push_async_callback(self._close_forward_session)
            runner = web.AppRunner(
                self._app,
                handle_signals=False,
                access_log=None,
                shutdown_timeout=self.config.shutdown_timeout_s,
                keepalive_timeout=self.config.keepalive_timeout_s,
            )
            await runner.setup()
            self._runner = runner
            stack.push_async_callback(self._cleanup_runner, runner)
            stack.callback(self.router.holds.close)
            await GuardedSockSite(runner, sock, self.connections, ssl_context=ssl_context).start()
            port = sock.getsockname()[1]
            scheme = "https" if ssl_context is not None else "http"
            host = self.config.host
            if host in ("0.0.0.0", "::", ""):
                host = "127.0.0.1"
            if ":" in host:
                host = f"[{host}]"
            self._url = f"{scheme}://{host}:{port}"
            self._started_at = self.clock.monotonic()
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

    def _credentials(self, data_dir: Path) -> Credentials:
        """Resolve the configured credentials; mint an admin one if none is configured.

        A minted admin token is kept in ``<data_dir>/admin.token`` (0600) and reused on
        the next start, so a local CLI can use ``--token-file`` on it.
        """
        config = self.config
        found: list[Credential] = []
        if config.cluster_token is not None:
            found.append(Credential("cluster", "admin", config.cluster_token))
        elif config.cluster_token_file is not None:
            token = read_token_file(config.cluster_token_file, "cluster_token_file")
            found.append(Credential("cluster", "admin", token))
        found.extend(spec.resolve(os.environ) for spec in config.credentials)
        if not any(c.role == "admin" for c in found):
            path = data_dir / ADMIN_TOKEN_FILE
            if path.exists():
                token = read_token_file(path, "minted admin token")
            else:
                token = mint_token()
                write_private(path, token + "\n")
            found.append(Credential("minted-admin", "admin", token))
            self.log.info("admin_token_minted", path=str(path))
        return Credentials(found)

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

    async def _close_registry(self, registry: StoreRegistry) -> None:
        self.router.detach()
        await registry.close()

    async def _close_forward_session(self) -> None:
        session, self._forward_session = self._forward_session, None
        if session is not None:
            with anyio.CancelScope(shield=True):
                await session.close()

    async def _start_background(self, stack: AsyncExitStack) -> TaskGroup:
        """Start the daemon's actor system and background task group in a host task.

        The host task enters and leaves both (a task group must be left by the task that
        entered it), so :meth:`aclose` may run from any task. Returns the task group
        (hold leases run in it; they are cancelled when it stops).
        """
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[tuple[ActorSystem, TaskGroup]] = loop.create_future()
        stop = asyncio.Event()

        async def host() -> None:
            try:
                async with (
                    ActorSystem(name=f"edge-{self.name}") as system,
                    anyio.create_task_group() as tasks,
                ):
                    ready.set_result((system, tasks))
                    await stop.wait()
                    tasks.cancel_scope.cancel()
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
        self._system, tasks = await ready
        return tasks

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
            context = self.config.client_ssl_context()  # private CA, mTLS client cert
            connector = None if context is None else aiohttp.TCPConnector(ssl=context)
            self._forward_session = aiohttp.ClientSession(connector=connector)
        return self._forward_session
