"""The edge environment the guide's nodes work in: edges, migrations, monitoring (layer: runtime).

One :class:`EdgeEnvironment` per engine (a process-wide engine service) owns what every
``EdgeMigrationNode`` and ``EdgeMonitoringNode`` of every workflow shares:

- the **topology**: either configured (a TOML/YAML file named by
  ``EDGE_ACTORS_TOPOLOGY`` or :class:`EnvironmentConfig`; an edge not in it is an
  :class:`~edge_actors.edge.UnknownEdge` error naming the known ones), or the **embedded
  default**: each edge a plan, a seed or a monitor names is started on first use as a real
  in-process :class:`~edge_actors.edge.EdgeDaemon` on ``127.0.0.1`` (a free port), all
  sharing one generated cluster token;
- the **data directory** (``EDGE_ACTORS_DATA_DIR``, else a fresh temporary directory
  removed when the environment closes): embedded edges keep their stores under
  ``edges/<name>/`` and the migration journal lives under ``migrations/``, unless
  ``EDGE_ACTORS_JOURNAL`` names another (a SQLite path or a ``postgresql://`` URL);
- one :class:`~edge_actors.migration.MigrationService` over an ``HttpEdgeGateway`` whose
  topology is a live view of the environment's edges, and one
  :class:`~edge_actors.monitoring.MonitoringService`. On a PostgreSQL journal the
  embedded service first takes the journal's leadership lease, like a supervisor
  replica, and stops if it loses it (``_embedded_lease.py``): it never drives beside
  replicas;
- or, with ``EDGE_ACTORS_SUPERVISOR`` naming a supervisor daemon (any replica), no
  embedded supervisor at all: the migration operations go to that daemon over HTTP
  (``_remote_supervisor.py``), with the admin credential from
  ``EDGE_ACTORS_CLUSTER_TOKEN`` or the file named by ``EDGE_ACTORS_CLUSTER_TOKEN_FILE``;
  the edges are then the daemon's (a topology here only serves monitoring and on-demand
  validation).

Imports every layer below (edge, migration, monitoring); nothing below imports it.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Self

import anyio
import anyio.abc
import msgspec

from edge_actors._log import get_logger
from edge_actors._private_files import make_private_dir
from edge_actors.clock import SYSTEM_CLOCK, Clock
from edge_actors.edge import (
    EdgeConfig,
    EdgeDaemon,
    EdgeEndpoint,
    EdgeError,
    HttpEdgeGateway,
    Topology,
    UnknownEdge,
)
from edge_actors.edge import load_topology as _load_topology
from edge_actors.errors import ConfigError
from edge_actors.migration import MigrationService
from edge_actors.migration.journal import parse_journal_url
from edge_actors.monitoring import MonitoringService, ProbeTarget
from edge_actors.schema import EDGE_NAME, EdgeName, convert

from ._embedded_lease import EmbeddedLease
from ._engine import Engine, default_engine
from ._environment_config import DATA_DIR_ENV, TOPOLOGY_ENV, EnvironmentConfig
from ._exit import ExitWatch
from ._remote_supervisor import MigrationOps, RemoteSupervisor

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from types import TracebackType

    from anyio.abc import TaskStatus

    from edge_actors.workflow import Services

__all__ = [
    "EdgeEnvironment",
    "configure_environment",
    "configure_environment_async",
    "get_environment",
]

_EDGE_NAME = re.compile(EDGE_NAME)
_EDGES_DIR = "edges"
# Port an embedded edge listened on, kept in its data directory: a persistent data
# directory restarts the edge on the same URL, so ``moved`` redirects written into other
# edges' routing tables stay valid across processes.
_PORT_FILE = "embedded-port"
_JOURNAL_DIR = "migrations"

_log = get_logger("environment")


def check_edge_name(edge: object, field: str = "edge") -> str:
    """Return ``edge`` if it is a usable edge name, else raise ``ConfigError`` naming ``field``."""
    name: str = convert(edge, EdgeName, field=field)
    return name


class _LiveTopology(Topology):
    """A :class:`Topology` whose lookups see the environment's edges as they start.

    The HTTP gateway resolves edge names through its topology on every call; handing it
    this view lets embedded edges started later be reached without rebuilding it.
    """

    def __init__(self, endpoints: dict[str, EdgeEndpoint]) -> None:
        super().__init__()
        self._live = endpoints

    def __getitem__(self, name: str) -> EdgeEndpoint:
        return self._live[name]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._live))

    def __len__(self) -> int:
        return len(self._live)

    def __repr__(self) -> str:
        return f"LiveTopology({sorted(self._live)!r})"

    def resolve(self, name: str) -> EdgeEndpoint:
        """Return the endpoint of a started edge; raises :class:`UnknownEdge` otherwise."""
        try:
            return self._live[name]
        except KeyError:
            known = ", ".join(sorted(self._live)) or "none started yet"
            raise UnknownEdge(f"unknown edge {name!r} (known edges: {known})") from None

    def with_edge(self, name: str, endpoint: EdgeEndpoint) -> Topology:
        """Return a static snapshot with ``name`` added or replaced."""
        return Topology({**self._live, name: endpoint})


class EdgeEnvironment:
    """Edges, the migration service and the monitoring service shared by every node.

    Normally reached with :func:`get_environment` (nodes) or created by
    :func:`configure_environment`; it is an async context manager entered once by the
    engine's service host and closed at engine shutdown: migrations stop at a chunk
    boundary (journaled, resumable), probe loops end, embedded edges shut down, and a
    temporary data directory is removed.

    Args:
        config: where edges are and where state lives.
        clock: the time the migration and monitoring services read (default the system
            clock; the engine's clock when created by :func:`get_environment`).
        engine: the engine hosting it; at that engine's interpreter-exit shutdown the
            environment waits for running migrations and keeps unfinished ones with
            their data directory, saying so on stderr (``_exit.py``).

    Raises:
        ConfigError: a malformed topology file or setting (on entry).
    """

    def __init__(
        self,
        config: EnvironmentConfig | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        engine: Engine | None = None,
    ) -> None:
        self.config = config if config is not None else EnvironmentConfig.from_env()
        self.clock = clock
        self._engine = engine
        self._exit_watch: ExitWatch | None = None
        self._endpoints: dict[str, EdgeEndpoint] = {}
        self._daemons: dict[str, EdgeDaemon] = {}
        self._static: Topology | None = None
        self._token = ""  # the embedded edges' (set on entry)
        self._start_lock = anyio.Lock()
        self._stack: AsyncExitStack | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._data_dir: Path | None = None
        self._temporary = self.config.data_dir is None
        self._migration: MigrationOps | None = None
        self._lease: EmbeddedLease | None = None
        self._monitoring: MonitoringService | None = None
        self._gateway: HttpEdgeGateway | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def _load_static(self) -> Topology | None:
        if self.config.topology is not None:
            return Topology(self.config.topology)
        if self.config.topology_file is not None:
            return _load_topology(self.config.topology_file)
        return None

    def _make_data_dir(self) -> Path:
        if self.config.data_dir is None:
            return Path(tempfile.mkdtemp(prefix="edge-actors-"))
        data_dir = Path(self.config.data_dir).expanduser().resolve()
        make_private_dir(data_dir)
        return data_dir

    async def __aenter__(self) -> Self:
        static = self._load_static()
        self._token = self.config.token() or secrets.token_urlsafe(24)
        async with AsyncExitStack() as stack:
            data_dir = await anyio.to_thread.run_sync(self._make_data_dir)
            if self._temporary:
                stack.callback(self._remove_temporary, data_dir)
            self._data_dir = data_dir
            # The lease, or the supervisor daemon, before anything else: a refusal fails the
            # start with its own error (not wrapped by the task groups entered below).
            self._lease = await self._take_lease(stack, data_dir)
            remote = await self._connect_supervisor(stack)
            self._tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(self._stop_edges)
            if static is not None:
                self._static = static
                self._endpoints.update(static.items())
                topology: Topology = static
            else:
                topology = _LiveTopology(self._endpoints)
                if self.config.supervisor is None:
                    await self._restart_known_edges()
            self._gateway = await stack.enter_async_context(
                HttpEdgeGateway(topology, clock=self.clock)  # the embedded edges' clock too
            )
            self._monitoring = await stack.enter_async_context(MonitoringService(clock=self.clock))
            if remote is not None:
                remote.gateway = self._gateway if static is not None else None
                self._migration = remote
            else:
                self._migration = await self._start_migration(stack, data_dir)
            _log.info(
                "environment.started",
                data_dir=str(data_dir),
                data_dir_source=(
                    "temporary (removed at exit)"
                    if self._temporary
                    else f"{DATA_DIR_ENV} or configuration"
                ),
                topology=(
                    (self.config.topology_file or "configured in code")
                    if static is not None
                    else "the supervisor daemon's"
                    if self.config.supervisor is not None
                    else "embedded (edges start on first use)"
                ),
                edges=sorted(self._endpoints),
                journal=self._migration.journal_location,
            )
            self._stack = stack.pop_all()
        if self._engine is not None and isinstance(self._migration, MigrationService):
            self._exit_watch = ExitWatch.register(
                self._engine, self._migration, self.data_dir, self._temporary, DATA_DIR_ENV
            )
        return self

    async def _connect_supervisor(self, stack: AsyncExitStack) -> RemoteSupervisor | None:
        """The supervisor daemon's operations (``None``: no ``supervisor`` configured)."""
        if self.config.supervisor is None:
            return None
        return await stack.enter_async_context(
            RemoteSupervisor(self.config.supervisor, self._token, clock=self.clock)
        )

    async def _start_migration(self, stack: AsyncExitStack, data_dir: Path) -> MigrationService:
        """The embedded service (on a PostgreSQL journal, run while this environment holds
        the leadership lease)."""
        gateway = self.gateway

        def make_service(leader: str | None = None) -> MigrationService:
            return MigrationService(
                gateway,
                data_dir / _JOURNAL_DIR,
                clock=self.clock,
                journal=self.config.journal,
                leader=leader,
            )

        if self._lease is None:
            return await stack.enter_async_context(make_service())
        leading = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(leading.cancel_scope.cancel)
        service: MigrationService = await leading.start(self._lease.run, gateway, make_service)
        return service

    async def _take_lease(self, stack: AsyncExitStack, data_dir: Path) -> EmbeddedLease | None:
        """The journal's leadership lease, on a PostgreSQL journal without a supervisor
        daemon (``None`` otherwise)."""
        if self.config.journal is None or self.config.supervisor is not None:
            return None
        journal = parse_journal_url(self.config.journal)
        if journal.kind != "postgresql":
            return None
        return await stack.enter_async_context(EmbeddedLease(journal, data_dir, clock=self.clock))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)
        _log.info("environment.closed", data_dir=str(self._data_dir))

    def _remove_temporary(self, data_dir: Path) -> None:
        if self._exit_watch is None or not self._exit_watch.kept:
            shutil.rmtree(data_dir, ignore_errors=True)

    def _stop_edges(self) -> None:
        for daemon in self._daemons.values():
            daemon.request_stop()

    async def _restart_known_edges(self) -> None:
        """Restart embedded edges found in a persistent data directory (journal resume)."""
        if self._temporary:
            return
        edges_dir = self.data_dir / _EDGES_DIR

        def listing() -> list[str]:
            if not edges_dir.is_dir():
                return []
            return sorted(p.name for p in edges_dir.iterdir() if p.is_dir())

        for name in await anyio.to_thread.run_sync(listing):
            if _EDGE_NAME.match(name):
                await self._start_embedded(name)

    # -- properties ---------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        """The data directory (edges' stores, the migration journal)."""
        if self._data_dir is None:
            raise RuntimeError("the edge environment is not started")
        return self._data_dir

    @property
    def temporary(self) -> bool:
        """Whether the data directory is temporary (removed when the environment closes)."""
        return self._temporary

    @property
    def embedded(self) -> bool:
        """Whether edges are embedded daemons started on first use."""
        return self._static is None and self.config.supervisor is None

    @property
    def lease(self) -> EmbeddedLease | None:
        """The leadership lease the embedded service holds (PostgreSQL journal only)."""
        return self._lease

    @property
    def remote(self) -> bool:
        """Whether migrations run on a supervisor daemon (``EDGE_ACTORS_SUPERVISOR``)."""
        return self.config.supervisor is not None

    @property
    def migration(self) -> MigrationOps:
        """The shared migration operations (embedded service or supervisor daemon).

        Raises:
            LeadershipLost: the embedded service lost the journal's leadership lease.
        """
        if self._migration is None:
            raise RuntimeError("the edge environment is not started")
        if self._lease is not None:
            self._lease.check()
        return self._migration

    @property
    def monitoring(self) -> MonitoringService:
        """The shared monitoring service."""
        if self._monitoring is None:
            raise RuntimeError("the edge environment is not started")
        return self._monitoring

    @property
    def gateway(self) -> HttpEdgeGateway:
        """The HTTP gateway the migration service reaches edges through."""
        if self._gateway is None:
            raise RuntimeError("the edge environment is not started")
        return self._gateway

    def edges(self) -> list[str]:
        """Names of the edges known now (configured, or embedded and started)."""
        return sorted(self._endpoints)

    def daemon(self, edge: str) -> EdgeDaemon | None:
        """The embedded daemon of ``edge`` (``None`` for configured or unstarted edges)."""
        return self._daemons.get(edge)

    # -- edges --------------------------------------------------------------------------

    async def ensure_edge(self, edge: str) -> EdgeEndpoint:
        """Return the endpoint of ``edge``, starting it first when edges are embedded.

        Raises:
            ConfigError: ``edge`` is not a valid edge name.
            UnknownEdge: a topology is configured and ``edge`` is not in it (the message
                names the known edges).
        """
        if self._static is not None:
            try:
                return self._static.resolve(edge)
            except UnknownEdge as exc:
                where = self.config.topology_file or "the configured topology"
                raise UnknownEdge(f"{exc} in {where}") from None
        check_edge_name(edge)
        if self.config.supervisor is not None:
            raise UnknownEdge(
                f"edge {edge!r}: the edges are the supervisor daemon's "
                f"({self.config.supervisor}); set {TOPOLOGY_ENV} to reach them from here"
            )
        endpoint = self._endpoints.get(edge)
        if endpoint is not None:
            return endpoint
        async with self._start_lock:
            endpoint = self._endpoints.get(edge)
            if endpoint is None:
                endpoint = await self._start_embedded(edge)
        return endpoint

    def known_edge(self, edge: str) -> EdgeEndpoint | None:
        """The endpoint of ``edge`` if it is configured or already started, else ``None``.

        Never starts an edge: this is how a health check tells "nobody configured or
        started this edge" from "this edge answers".
        """
        return self._endpoints.get(edge)

    async def ensure_edges(self, edges: Iterable[str]) -> dict[str, EdgeEndpoint]:
        """:meth:`ensure_edge` for each edge, in order; returns name -> endpoint."""
        return {edge: await self.ensure_edge(edge) for edge in edges}

    async def probe_target(self, edge: str) -> ProbeTarget:
        """The monitoring probe target of ``edge`` (started first when embedded)."""
        endpoint = await self.ensure_edge(edge)
        return ProbeTarget(edge, endpoint.url, endpoint.token)

    async def _start_embedded(self, edge: str) -> EdgeEndpoint:
        if self._tg is None:
            raise RuntimeError("the edge environment is not started")
        data_dir = self.data_dir / _EDGES_DIR / edge
        port_file = data_dir / _PORT_FILE
        config = EdgeConfig(
            name=edge,
            data_dir=str(data_dir),
            cluster_token=self._token,
            host="127.0.0.1",
            port=_saved_port(port_file),
            max_bytes=self.config.edge_max_bytes,
            hold_timeout_s=self.config.edge_hold_timeout_s,
            shutdown_timeout_s=2.0,
        )
        try:
            daemon: EdgeDaemon = await self._tg.start(self._run_daemon, config)
        except EdgeError as exc:
            if config.port == 0:
                raise
            _log.warning("environment.edge_port_taken", edge=edge, port=config.port, error=str(exc))
            config = msgspec.structs.replace(config, port=0)
            daemon = await self._tg.start(self._run_daemon, config)
        # Owned from now on (stopped at close, found by the next caller) even if saving
        # the port fails or this call is cancelled.
        endpoint = EdgeEndpoint(daemon.url, daemon.token)
        self._daemons[edge] = daemon
        self._endpoints[edge] = endpoint
        port = daemon.bound_url.rsplit(":", 1)[1]
        await anyio.Path(port_file).write_text(port)
        _log.info("environment.edge_started", edge=edge, url=daemon.url, data_dir=config.data_dir)
        return endpoint

    async def _run_daemon(self, config: EdgeConfig, *, task_status: TaskStatus[EdgeDaemon]) -> None:
        try:
            async with EdgeDaemon(config, clock=self.clock) as daemon:
                task_status.started(daemon)
                await daemon.serve_forever()
        finally:
            self._daemons.pop(config.name, None)
            self._endpoints.pop(config.name, None)


def _saved_port(port_file: Path) -> int:
    """The port an embedded edge used last time in this data directory, else 0 (any)."""
    try:
        port = int(port_file.read_text().strip())
    except (OSError, ValueError):
        return 0
    return port if 0 < port < 65536 else 0


# -- access -----------------------------------------------------------------------------


def _config_for(config: EnvironmentConfig | None) -> EnvironmentConfig:
    return config if config is not None else EnvironmentConfig.from_env()


async def get_environment(services: Services | Engine | None = None) -> EdgeEnvironment:
    """Return the environment of ``services`` (an engine; default: the process engine).

    Created on first use from :meth:`EnvironmentConfig.from_env` unless
    :func:`configure_environment` created it first.

    Raises:
        EngineError: the environment could not be started (the cause is chained: a bad
            topology file, an unwritable data directory, ...).
    """
    registry: Services | Engine = services if services is not None else default_engine()
    clock = registry.clock if isinstance(registry, Engine) else SYSTEM_CLOCK
    engine = registry if isinstance(registry, Engine) else None
    return await registry.service(
        EdgeEnvironment, lambda: EdgeEnvironment(clock=clock, engine=engine)
    )


async def configure_environment_async(
    config: EnvironmentConfig | None = None, *, engine: Engine | None = None
) -> EdgeEnvironment:
    """Create the environment of ``engine`` with ``config`` (idempotent for the same config).

    Raises:
        ConfigError: the engine's environment already exists with another config.
        EngineError: the environment could not be started (cause chained).
    """
    target = engine if engine is not None else default_engine()
    wanted = _config_for(config)
    env = await target.service(
        EdgeEnvironment, lambda: EdgeEnvironment(wanted, clock=target.clock, engine=target)
    )
    if env.config != wanted:
        raise ConfigError(
            f"the edge environment is already running with {env.config!r}; configure it "
            "before its first use (or on a new Engine)"
        )
    return env


def configure_environment(
    config: EnvironmentConfig | None = None, *, engine: Engine | None = None
) -> EdgeEnvironment:
    """Blocking :func:`configure_environment_async` for synchronous code (no running loop)."""
    target = engine if engine is not None else default_engine()

    async def configure() -> EdgeEnvironment:
        return await configure_environment_async(config, engine=target)

    return target.call(configure)
