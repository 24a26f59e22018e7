"""The migration commands' flags: daemon connection, plan flags, ``--constraint`` items.

Part of the ``edge-actors`` migration commands (cli layer; :mod:`._migrations` runs them).
A plan's flags become one request dict that is converted with the shared schema
(``coerce_request``) before anything is sent, so a bad flag fails the same way as the same
mistake anywhere else.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from edge_actors.errors import ConfigError
from edge_actors.migration import coerce_request, parse_constraints

from ._tokens import add_tls_client_flags, add_token_flags, token_from_args

if TYPE_CHECKING:
    import argparse

__all__ = [
    "DAEMON_ENV",
    "connection_flags",
    "endpoint",
    "parse_constraint_flags",
    "plan_flags",
    "plan_request",
]

DAEMON_ENV = "EDGE_ACTORS_DAEMON"


def connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--daemon", metavar="URL", help=f"supervisor daemon URL (or {DAEMON_ENV})")
    add_token_flags(parser)
    add_tls_client_flags(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="seconds per request (30)"
    )


def plan_flags(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--source", required=required, metavar="EDGE", help="source edge")
    parser.add_argument("--target", required=required, metavar="EDGE", help="target edge")
    parser.add_argument(
        "--workload",
        action="append",
        required=required,
        metavar="W",
        help="workload to move (repeat for several; staged order)",
    )
    parser.add_argument(
        "--strategy", default=None, help="live (default), staged, bulk, incremental, emergency"
    )
    parser.add_argument("--priority", type=int, metavar="N", help="1..10, higher runs first")
    parser.add_argument(
        "--constraint",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="e.g. max_downtime=200ms, time_window=02:00-06:00, skip_validation=true",
    )
    parser.add_argument("--bandwidth-mbps", type=float, metavar="X", help="link limit, Mbit/s")
    parser.add_argument("--no-compression", action="store_true", help="send chunks without zstd")
    parser.add_argument("--batch-size", type=int, metavar="N", help="records per chunk")
    parser.add_argument(
        "--checkpoint-interval", metavar="S", help="seconds (or 30s, 2m) between checkpoints"
    )
    parser.add_argument(
        "--test-endpoint",
        action="append",
        default=[],
        metavar="PATH",
        help="path probed on the target during validation (e.g. /api/health)",
    )


def _value(text: str) -> object:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_constraint_flags(items: list[str]) -> dict[str, object]:
    """``["max_downtime=200ms", "skip_validation=true"]`` -> a validated constraints dict.

    Values ``true``/``false`` become booleans and numbers become numbers; the result is
    checked with :func:`~edge_actors.migration.parse_constraints`.

    Raises:
        ConfigError: An item without ``=``, an unknown key or a malformed value.
    """
    constraints = _constraint_values(items)
    parse_constraints(constraints)
    return constraints


def _constraint_values(items: list[str]) -> dict[str, object]:
    constraints: dict[str, object] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--constraint: expected KEY=VALUE, got {item!r}")
        constraints[key.strip()] = _value(text)
    return constraints


def plan_request(args: argparse.Namespace) -> dict[str, Any]:
    """Build the plan body (as the guide writes plans) from the plan flags.

    The body is checked here with the conversion ``MigrationService.plan`` makes
    (``coerce_request``), so a malformed flag is refused before any request, with the
    message the Python API, the HTTP API and the workflow node give for the same mistake.

    Raises:
        ConfigError: A malformed flag value (exit code 2).
    """
    missing = [
        flag
        for flag, value in (
            ("--source", args.source),
            ("--target", args.target),
            ("--workload", args.workload),
        )
        if not value
    ]
    if missing:
        raise ConfigError(f"the following arguments are required: {', '.join(missing)}")
    request: dict[str, Any] = {
        "source_edge": args.source,
        "target_edge": args.target,
        "workloads": list(args.workload),
        "constraints": _constraint_values(args.constraint),
    }
    if args.strategy is not None:
        request["strategy"] = args.strategy
    if args.priority is not None:
        request["priority"] = args.priority
    if args.bandwidth_mbps is not None:
        request["bandwidth_limit_mbps"] = args.bandwidth_mbps
    if args.no_compression:
        request["enable_compression"] = False
    if args.batch_size is not None:
        request["sync_batch_size"] = args.batch_size
    if args.checkpoint_interval is not None:
        request["checkpoint_interval"] = _number_or_text(args.checkpoint_interval)
    if args.test_endpoint:
        request["test_endpoints"] = list(args.test_endpoint)
    try:
        coerce_request(request)
    except ConfigError as exc:
        field = str(exc).partition(":")[0].partition(".")[0]
        flag = _FLAGS.get(field)
        raise ConfigError(str(exc) if flag is None else f"{flag}: {exc}") from None
    return request


_FLAGS = {
    "source_edge": "--source",
    "target_edge": "--target",
    "workloads": "--workload",
    "strategy": "--strategy",
    "priority": "--priority",
    "constraints": "--constraint",
    "bandwidth_limit_mbps": "--bandwidth-mbps",
    "sync_batch_size": "--batch-size",
    "checkpoint_interval": "--checkpoint-interval",
    "test_endpoints": "--test-endpoint",
}
"""The flag that sets each plan parameter, named first in a refusal's message."""


def _number_or_text(text: str) -> str | float:
    try:
        return float(text)
    except ValueError:
        return text


def endpoint(args: argparse.Namespace) -> tuple[str, str]:
    url = args.daemon or os.environ.get(DAEMON_ENV)
    if not url:
        raise ConfigError(f"no daemon: give --daemon URL or set {DAEMON_ENV}")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--daemon: expected an http(s) URL, got {url!r}")
    token = token_from_args(args)
    assert token is not None  # required=True
    return url.rstrip("/"), token
