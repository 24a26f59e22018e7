"""Composition of one supervisor replica's daemon (edge layer).

:func:`supervisor_replica` runs an :class:`~._daemon.EdgeDaemon` whose migration routes
follow a :class:`~._supervisor_host.SupervisorHost`: the election (its own database
connection), the leader proxy, the role metrics on ``/metrics``, and the host's task.
``edge-actors daemon --supervisor`` uses it with a PostgreSQL journal; tests use it to
run replicas in one process.
"""

from __future__ import annotations

import functools
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import anyio

from edge_actors.clock import SYSTEM_CLOCK
from edge_actors.migration._leadership import LeaderElector, LeaseSettings

from ._daemon import EdgeDaemon
from ._leader_proxy import LeaderProxy
from ._migration_routes import add_migration_routes
from ._supervisor_host import SupervisorHost
from ._topology import EdgeEndpoint

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from edge_actors.clock import Clock
    from edge_actors.migration import MigrationService
    from edge_actors.migration._journal_reads import MigrationReads

    from ._config import EdgeConfig
    from ._gateway import HttpEdgeGateway

__all__ = ["supervisor_replica"]


@asynccontextmanager
async def supervisor_replica(
    config: EdgeConfig,
    gateway: HttpEdgeGateway,
    *,
    dsn: str,
    password: str | None = None,
    make_service: Callable[[str], MigrationService],
    reads: MigrationReads,
    lease: LeaseSettings | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> AsyncIterator[tuple[EdgeDaemon, SupervisorHost]]:
    """Run a daemon that is a supervisor replica until the block ends.

    Args:
        config: the daemon's settings (its name is the replica's holder id).
        gateway: reaches the edges; this daemon is added to its topology.
        dsn: the PostgreSQL journal's URL (the lease table lives there).
        password: its password, if not in the URL or ``PGPASSWORD``.
        make_service: a fresh service on the shared journal, per leadership.
        reads: the journal's read side (a follower's answers).
        lease: lease timing (defaults: 3 s lease, renewed every second).
        clock: the election's local timers.

    Leaving stops the service (if leading), resigns the lease, then stops the daemon.
    """
    elector = LeaderElector(
        dsn,
        password=password,
        holder_id=config.name,
        holder_url="",  # known once the daemon listens, before the first campaign
        settings=lease or LeaseSettings(),
        clock=clock,
    )
    proxy = LeaderProxy(config.name, ssl_context=config.client_ssl_context())
    host = SupervisorHost(elector, gateway, make_service, reads, proxy)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(proxy.aclose)
        routes = functools.partial(add_migration_routes, replica=host)
        daemon = await stack.enter_async_context(EdgeDaemon(config, extra_routes=routes))
        elector.holder_url = daemon.url
        gateway.topology = gateway.topology.with_edge(
            daemon.name, EdgeEndpoint(daemon.url, daemon.token)
        )
        daemon.metrics.registry.register(host.collector(daemon.name))
        await stack.enter_async_context(elector)
        tasks = await stack.enter_async_context(anyio.create_task_group())
        tasks.start_soon(host.run)
        stack.callback(tasks.cancel_scope.cancel)
        yield daemon, host
