"""``edge-actors daemon``: run one edge daemon until SIGTERM or SIGINT (cli layer).

Settings come from ``--config FILE`` (TOML or YAML), then ``EDGE_ACTORS_<FIELD>``
environment variables, then the flags. When the server is listening, one line goes to
stdout, for scripts and tests that start the daemon and need its port::

    edge-actors daemon NAME listening on http://127.0.0.1:PORT

Logs go to stderr. SIGTERM or SIGINT shut down gracefully (exit code 0); the event loop
is uvloop when it is installed.

With ``--supervisor`` the daemon also hosts the migration supervisor: a
:class:`~edge_actors.migration.MigrationService` whose journal lives in
``<data-dir>/migrations/`` (or where ``--journal`` / the ``journal`` key /
``EDGE_ACTORS_JOURNAL`` says: a SQLite path or a ``postgresql://`` URL) and whose
gateway is an ``HttpEdgeGateway`` over the ``--topology`` file plus this daemon itself
(under its own name and URL), with the ``/admin/migrations`` routes mounted. Restarted on
the same data dir and journal (even after SIGKILL), it resumes unfinished migrations
from the journal.

With a ``postgresql://`` journal the daemon is one of possibly several supervisor
*replicas* on that shared journal: they elect one leader through the database, which
alone drives migrations; the others answer reads from the journal and forward commands
to it (``edge/_replica.py``, ``docs/operations.md`` "High availability").
"""

from __future__ import annotations

import functools
import importlib.util
import os
import signal
import urllib.parse
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from edge_actors._log import LOG_LEVELS, configure_default_logging
from edge_actors._urgent_process import freeze_startup_objects
from edge_actors.clock import SYSTEM_CLOCK
from edge_actors.edge import (
    EdgeConfig,
    EdgeDaemon,
    EdgeEndpoint,
    HttpEdgeGateway,
    Topology,
    add_migration_routes,
    load_edge_config,
    load_topology,
)
from edge_actors.edge._private import private_umask
from edge_actors.edge._replica import supervisor_replica
from edge_actors.errors import ConfigError
from edge_actors.migration import MigrationService
from edge_actors.migration._journal_reads import JournalReads
from edge_actors.migration.journal import JOURNAL_ENV, JournalUrl, open_journal, parse_journal_url
from edge_actors.store import limit_arenas

from ._progress import one_line_errors
from ._tokens import add_token_flags, refuse_argv_token

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from aiohttp import web

__all__ = ["JOURNAL_DIR", "ready_line", "register", "run_daemon"]

JOURNAL_DIR = "migrations"
"""Sub-directory of the data dir holding the supervisor's journal (``migrations.sqlite``)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``daemon`` subcommand."""
    parser = subparsers.add_parser(
        "daemon",
        help="run an edge daemon (data, admin and peer APIs)",
        description="Run an edge daemon hosting workloads. Flags override the config "
        "file and EDGE_ACTORS_<FIELD> environment variables.",
    )
    one_line_errors(parser, "daemon")
    parser.add_argument("--config", metavar="FILE", help="TOML or YAML config file")
    parser.add_argument("--name", help="edge name (EDGE_ACTORS_NAME)")
    parser.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind; 0 picks a free one")
    parser.add_argument("--data-dir", metavar="DIR", help="workload stores and routing table")
    add_token_flags(parser)
    parser.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME",
        help="Host name answered besides the loopback names (repeatable)",
    )
    parser.add_argument("--max-bytes", metavar="SIZE", help="capacity, e.g. 10GB")
    parser.add_argument("--max-workloads", type=int, metavar="N", help="most workloads hosted")
    parser.add_argument("--tls-cert", metavar="FILE", help="PEM certificate (with --tls-key)")
    parser.add_argument("--tls-key", metavar="FILE", help="PEM private key")
    parser.add_argument(
        "--tls-ca", metavar="FILE", help="PEM CA bundle trusted for other edges (private CA)"
    )
    parser.add_argument(
        "--tls-client-ca",
        metavar="FILE",
        help="require client certificates signed by this CA (mutual TLS)",
    )
    parser.add_argument("--hold-timeout", metavar="DURATION", help="write-hold lease, e.g. 30s")
    parser.add_argument("--public-url", metavar="URL", help="URL announced to other edges")
    parser.add_argument(
        "--cache-mib", type=int, metavar="MIB", help="page cache of all stores together (64)"
    )
    parser.add_argument(
        "--fd-budget",
        type=int,
        metavar="N",
        help="file descriptors of all store connections (default: half of ulimit -n, less 128)",
    )
    parser.add_argument(
        "--supervisor",
        action="store_true",
        help="also host the migration supervisor (/admin/migrations, journal in DATA_DIR)",
    )
    parser.add_argument(
        "--topology",
        metavar="FILE",
        help="TOML or YAML topology of the other edges (with --supervisor)",
    )
    parser.add_argument(
        "--journal",
        metavar="URL",
        help="the supervisor's journal: a SQLite path, sqlite:///PATH or postgresql://"
        f"user@host:port/db (with --supervisor; {JOURNAL_ENV}; default in DATA_DIR)",
    )
    parser.add_argument(
        "--journal-password-file",
        metavar="FILE",
        help="file holding the PostgreSQL journal's password (or PGPASSWORD)",
    )
    parser.add_argument(
        "--log-level",
        default=None,
        type=str.lower,
        choices=LOG_LEVELS,
        help="debug, info, warning (default), error",
    )
    parser.set_defaults(run=run_daemon)


def config_from_args(args: argparse.Namespace) -> EdgeConfig:
    """Build the daemon's config from ``--config``, the environment and the flags.

    Raises:
        ConfigError: Any setting is missing or malformed (the message names it).
    """
    refuse_argv_token(args)
    refuse_argv_password(args)
    overrides: dict[str, Any] = {
        "name": args.name,
        "host": args.host,
        "port": args.port,
        "data_dir": args.data_dir,
        "cluster_token_file": args.token_file,
        "allowed_hosts": args.allowed_host,
        "max_bytes": args.max_bytes,
        "max_workloads": args.max_workloads,
        "tls_cert": args.tls_cert,
        "tls_key": args.tls_key,
        "tls_ca": args.tls_ca,
        "tls_client_ca": args.tls_client_ca,
        "hold_timeout_s": args.hold_timeout,
        "public_url": args.public_url,
        "cache_mib": args.cache_mib,
        "fd_budget": args.fd_budget,
        "journal": args.journal,
        "journal_password_file": args.journal_password_file,
    }
    config = load_edge_config(args.config, overrides=overrides)
    config.ssl_context()  # a bad certificate is a config error before anything starts
    config.client_ssl_context()
    return config


def refuse_argv_password(args: argparse.Namespace) -> None:
    """Refuse a ``--journal`` URL holding a password (argv is readable by every user).

    Raises:
        ConfigError: the URL has a password; names the safe ways to give one.
    """
    if args.journal is None:
        return
    url = parse_journal_url(args.journal, field="--journal")
    if url.dsn is not None and _has_password(url.dsn):
        raise ConfigError(
            f"--journal: {url.display!r} holds a password, visible to every local user on "
            "the command line (ps, /proc/PID/cmdline); use --journal-password-file FILE, "
            f"PGPASSWORD, or the journal key of the config file or {JOURNAL_ENV}"
        )


def _has_password(dsn: str) -> bool:
    parts = urllib.parse.urlsplit(dsn)
    query = urllib.parse.parse_qs(parts.query)
    return bool(parts.password) or "password" in {key.lower() for key in query}


def journal_password(config: EdgeConfig) -> str | None:
    """The PostgreSQL journal's password from ``journal_password_file`` (``None``: none).

    Raises:
        ConfigError: the file cannot be read or is empty (named).
    """
    path = config.journal_password_file
    if path is None:
        return None
    try:
        password = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"journal_password_file: cannot read {path!r}: {exc}") from None
    if not password:
        raise ConfigError(f"journal_password_file: {path!r} is empty")
    return password


def ready_line(daemon: EdgeDaemon) -> str:
    """The machine-readable line printed once the daemon listens."""
    return f"edge-actors daemon {daemon.name} listening on {daemon.url}"


def topology_from_args(args: argparse.Namespace) -> Topology | None:
    """The supervisor's topology (``None`` without ``--supervisor``).

    Raises:
        ConfigError: ``--topology`` without ``--supervisor``, or a malformed topology file.
    """
    if not args.supervisor:
        for flag, value in (("--topology", args.topology), ("--journal", args.journal)):
            if value is not None:
                raise ConfigError(f"{flag}: only valid with --supervisor")
        return None
    return Topology() if args.topology is None else load_topology(args.topology)


async def _serve(config: EdgeConfig, topology: Topology | None, password: str | None) -> None:
    if topology is not None and config.journal is not None:
        journal = parse_journal_url(config.journal)
        if journal.kind == "postgresql":
            await _serve_replica(config, topology, journal, password)
            return
    async with AsyncExitStack() as stack:
        service: MigrationService | None = None
        gateway: HttpEdgeGateway | None = None
        extra_routes: Callable[[web.Application], None] | None = None
        if topology is not None:
            gateway = await stack.enter_async_context(
                HttpEdgeGateway(
                    topology,
                    ssl_context=config.client_ssl_context(),
                    client_cert=config.client_cert,
                )
            )
            service = MigrationService(
                gateway,
                Path(config.data_dir) / JOURNAL_DIR,
                journal=config.journal,
                journal_password=password,
            )
            extra_routes = functools.partial(add_migration_routes, service=service)
        daemon = await stack.enter_async_context(EdgeDaemon(config, extra_routes=extra_routes))
        if gateway is not None and service is not None:
            # The daemon is an edge of its own topology, under its name and real URL.
            gateway.topology = gateway.topology.with_edge(
                daemon.name, EdgeEndpoint(daemon.url, daemon.token)
            )
            # Entering the service resumes unfinished journaled migrations; leaving it
            # (first, before the daemon) stops them at a chunk boundary, state untouched.
            await stack.enter_async_context(service)
            daemon.log.info(
                "supervisor_started",
                edges=sorted(gateway.topology),
                journal=service.journal_location,
            )
        await _until_signalled(daemon)


async def _serve_replica(
    config: EdgeConfig, topology: Topology, journal: JournalUrl, password: str | None
) -> None:
    """Serve a supervisor replica on the shared PostgreSQL journal (``edge/_replica.py``).

    The service runs only while this replica is the elected leader; each leadership gets
    a fresh one, which resumes every unfinished migration from the journal.
    """
    assert journal.dsn is not None
    async with AsyncExitStack() as stack:
        gateway = await stack.enter_async_context(
            HttpEdgeGateway(
                topology, ssl_context=config.client_ssl_context(), client_cert=config.client_cert
            )
        )
        backend = await open_journal(journal, data_dir=config.data_dir, password=password)
        stack.push_async_callback(backend.close)

        def make_service(leader: str) -> MigrationService:
            data_dir = Path(config.data_dir) / JOURNAL_DIR
            return MigrationService(
                gateway, data_dir, journal=journal, journal_password=password, leader=leader
            )

        daemon, _ = await stack.enter_async_context(
            supervisor_replica(
                config,
                gateway,
                dsn=journal.dsn,
                password=password,
                make_service=make_service,
                reads=JournalReads(backend, SYSTEM_CLOCK),
            )
        )
        daemon.log.info(
            "supervisor_replica_started", edges=sorted(gateway.topology), journal=backend.location
        )
        await _until_signalled(daemon)


async def _until_signalled(daemon: EdgeDaemon) -> None:
    """Print the ready line and serve until SIGTERM or SIGINT."""
    async with anyio.create_task_group() as tg:

        async def on_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    daemon.log.warning("signal_received", signal=signal.Signals(signum).name)
                    daemon.request_stop()
                    return

        tg.start_soon(on_signals)
        freeze_startup_objects()  # later full collections skip what lives as long as we do
        print(ready_line(daemon), flush=True)
        await daemon.serve_forever()
        tg.cancel_scope.cancel()


def run_daemon(args: argparse.Namespace) -> int:
    """Run the daemon until SIGTERM/SIGINT; return the exit code (0 after a clean stop).

    Raises:
        ConfigError: Bad settings (exit code 2 through ``main``).
    """
    config = config_from_args(args)
    topology = topology_from_args(args)
    password = journal_password(config) if topology is not None else None
    private_umask()  # every store, journal and routing file is created 0600
    if "MALLOC_ARENA_MAX" not in os.environ:  # an operator's own setting wins
        limit_arenas()  # before any worker thread starts
    configure_default_logging(args.log_level, strict=True)
    options: dict[str, Any] = {"use_uvloop": importlib.util.find_spec("uvloop") is not None}
    anyio.run(_serve, config, topology, password, backend="asyncio", backend_options=options)
    return 0
