"""``edge-actors daemon``: run one edge daemon until SIGTERM or SIGINT (cli layer).

Settings come from ``--config FILE`` (TOML or YAML), then ``EDGE_ACTORS_<FIELD>``
environment variables, then the flags. When the server is listening, one line goes to
stdout, for scripts and tests that start the daemon and need its port::

    edge-actors daemon NAME listening on http://127.0.0.1:PORT

Logs go to stderr. SIGTERM or SIGINT shut down gracefully (exit code 0); the event loop
is uvloop when it is installed.
"""

from __future__ import annotations

import importlib.util
import signal
from typing import TYPE_CHECKING, Any

import anyio

from edge_actors._log import configure_default_logging
from edge_actors.edge import EdgeConfig, EdgeDaemon, load_edge_config

if TYPE_CHECKING:
    import argparse

__all__ = ["ready_line", "register", "run_daemon"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``daemon`` subcommand."""
    parser = subparsers.add_parser(
        "daemon",
        help="run an edge daemon (data, admin and peer APIs)",
        description="Run an edge daemon hosting workloads. Flags override the config "
        "file and EDGE_ACTORS_<FIELD> environment variables.",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML or YAML config file")
    parser.add_argument("--name", help="edge name (EDGE_ACTORS_NAME)")
    parser.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind; 0 picks a free one")
    parser.add_argument("--data-dir", metavar="DIR", help="workload stores and routing table")
    parser.add_argument(
        "--token", metavar="TOKEN", help="cluster token (or EDGE_ACTORS_CLUSTER_TOKEN)"
    )
    parser.add_argument("--max-bytes", metavar="SIZE", help="capacity, e.g. 10GB")
    parser.add_argument("--max-workloads", type=int, metavar="N", help="most workloads hosted")
    parser.add_argument("--tls-cert", metavar="FILE", help="PEM certificate (with --tls-key)")
    parser.add_argument("--tls-key", metavar="FILE", help="PEM private key")
    parser.add_argument("--hold-timeout", metavar="DURATION", help="write-hold lease, e.g. 30s")
    parser.add_argument("--public-url", metavar="URL", help="URL announced to other edges")
    parser.add_argument("--log-level", default=None, help="debug, info, warning (default), error")
    parser.set_defaults(run=run_daemon)


def config_from_args(args: argparse.Namespace) -> EdgeConfig:
    """Build the daemon's config from ``--config``, the environment and the flags.

    Raises:
        ConfigError: Any setting is missing or malformed (the message names it).
    """
    overrides: dict[str, Any] = {
        "name": args.name,
        "host": args.host,
        "port": args.port,
        "data_dir": args.data_dir,
        "cluster_token": args.token,
        "max_bytes": args.max_bytes,
        "max_workloads": args.max_workloads,
        "tls_cert": args.tls_cert,
        "tls_key": args.tls_key,
        "hold_timeout_s": args.hold_timeout,
        "public_url": args.public_url,
    }
    config = load_edge_config(args.config, overrides=overrides)
    config.ssl_context()  # a bad certificate is a config error before anything starts
    return config


def ready_line(daemon: EdgeDaemon) -> str:
    """The machine-readable line printed once the daemon listens."""
    return f"edge-actors daemon {daemon.name} listening on {daemon.url}"


async def _serve(config: EdgeConfig) -> None:
    async with EdgeDaemon(config) as daemon, anyio.create_task_group() as tg:

        async def on_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    daemon.log.warning("signal_received", signal=signal.Signals(signum).name)
                    daemon.request_stop()
                    return

        tg.start_soon(on_signals)
        print(ready_line(daemon), flush=True)
        await daemon.serve_forever()
        tg.cancel_scope.cancel()


def run_daemon(args: argparse.Namespace) -> int:
    """Run the daemon until SIGTERM/SIGINT; return the exit code (0 after a clean stop).

    Raises:
        ConfigError: Bad settings (exit code 2 through ``main``).
    """
    config = config_from_args(args)
    configure_default_logging(args.log_level)
    options: dict[str, Any] = {"use_uvloop": importlib.util.find_spec("uvloop") is not None}
    anyio.run(_serve, config, backend="asyncio", backend_options=options)
    return 0
