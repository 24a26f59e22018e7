"""``edge-actors workload create|list``: workloads on a running edge daemon (cli layer).

``create NAME`` makes a workload on one edge through its authenticated admin API
(``POST /admin/workloads``) and, with ``--seed N``, writes N records of ``--value-bytes``
bytes through the data API in batches (``POST /v1/workloads/NAME/batch``), so a workload
can be created and filled for a migration without writing code. Values are compressible
sample text, the same for the same key on every run (:class:`._demo_load.Corpus`); keys
are ``PREFIX000000``, ``PREFIX000001``, ... ``list`` prints every workload of an edge.

The edge is ``--edge NAME`` of ``--topology FILE`` (its URL, token and CA come from
there) or ``--daemon URL`` with ``--token-file`` (or ``EDGE_ACTORS_CLUSTER_TOKEN``).
Errors are one stderr line: exit 2 for bad flags, 1 for refusals (a workload that exists,
an unreachable edge, a refused token).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple, TypeVar

import aiohttp
import anyio
import msgspec

from edge_actors.edge import (
    AdminClient,
    AdminUnauthorized,
    EdgeClient,
    EdgeHTTPError,
    load_topology,
)
from edge_actors.errors import ConfigError

from ._demo_load import Corpus
from ._migration_flags import DAEMON_ENV, endpoint
from ._progress import format_bytes, one_line_errors, write_error, write_json, write_out
from ._tokens import add_tls_client_flags, add_token_flags, tls_client_context

if TYPE_CHECKING:
    import argparse
    import ssl
    from collections.abc import Awaitable, Callable

    from edge_actors.edge import WorkloadInfo

__all__ = ["register"]

T = TypeVar("T")
_BATCH = 500
"""Records per batch request (well under the data API's batch limits)."""
_MAX_RECORDS = 10_000_000
_MAX_VALUE_BYTES = 1 << 20


class _Edge(NamedTuple):
    name: str | None
    url: str
    token: str
    ssl_context: ssl.SSLContext | None


async def _name(admin: AdminClient, edge: _Edge) -> str:
    """The edge's name: from the topology, else from its ``/admin/health`` answer."""
    return edge.name if edge.name is not None else (await admin.health()).name


def _edge(args: argparse.Namespace) -> _Edge:
    """The edge to talk to, from ``--edge``/``--topology`` or ``--daemon``.

    Raises:
        ConfigError: Neither or both given, an unknown edge, a malformed file or URL.
    """
    if args.edge is not None:
        if args.topology is None:
            raise ConfigError("--edge NAME needs --topology FILE (or give --daemon URL)")
        if args.daemon is not None:
            raise ConfigError("give either --edge (with --topology) or --daemon, not both")
        topology = load_topology(args.topology)
        if args.edge not in topology:
            known = ", ".join(sorted(topology)) or "none"
            raise ConfigError(f"--edge: unknown edge {args.edge!r} (known edges: {known})")
        end = topology[args.edge]
        return _Edge(args.edge, end.url, end.token, tls_client_context(args, end.tls_ca))
    if not (args.daemon or os.environ.get(DAEMON_ENV)):
        raise ConfigError(f"give --edge NAME --topology FILE, or --daemon URL (or {DAEMON_ENV})")
    url, token = endpoint(args)
    return _Edge(None, url, token, tls_client_context(args))


def _check(args: argparse.Namespace) -> None:
    if not 0 <= args.seed <= _MAX_RECORDS:
        raise ConfigError(f"--seed: expected 0..{_MAX_RECORDS:,} records, got {args.seed}")
    if not 1 <= args.value_bytes <= _MAX_VALUE_BYTES:
        raise ConfigError(
            f"--value-bytes: expected 1..{_MAX_VALUE_BYTES:,} bytes, got {args.value_bytes}"
        )


async def _create(edge: _Edge, args: argparse.Namespace) -> tuple[str, WorkloadInfo]:
    corpus = Corpus()
    async with AdminClient(edge.url, edge.token, ssl_context=edge.ssl_context) as admin:
        await admin.create_workload(args.name)
        args.written = 0
        async with EdgeClient(edge.url, token=edge.token, ssl_context=edge.ssl_context) as data:
            for start in range(0, args.seed, _BATCH):
                keys = (
                    f"{args.key_prefix}{i:06d}"
                    for i in range(start, min(args.seed, start + _BATCH))
                )
                ops: list[tuple[str, bytes | None]] = [
                    (key, corpus.value(key, 0, args.value_bytes)) for key in keys
                ]
                await data.batch(args.name, ops)
                args.written += len(ops)
        return await _name(admin, edge), await admin.workload(args.name)


async def _list(edge: _Edge, args: argparse.Namespace) -> tuple[str, list[WorkloadInfo]]:
    async with AdminClient(edge.url, edge.token, ssl_context=edge.ssl_context) as admin:
        return await _name(admin, edge), await admin.workloads()


def _info_line(w: WorkloadInfo) -> str:
    moved = f" -> {w.moved_to}" if w.moved_to else ""
    return (
        f"{w.name}: {w.status}{moved} | {w.records:,} records | {format_bytes(w.bytes)} | "
        f"lsn {w.lsn} | digest {w.digest or '-'}"
    )


def run_create(args: argparse.Namespace) -> int:
    """Create (and seed) the workload; print its records, size and digest."""
    _check(args)
    edge = _edge(args)
    answer = _call(args, edge, lambda: _create(edge, args))
    if answer is None:
        return 1
    name, info = answer
    if args.json:
        write_json({"edge": name, "workload": info})
    else:
        write_out(f"created on {name}: {_info_line(info)}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Print every workload of the edge."""
    edge = _edge(args)
    answer = _call(args, edge, lambda: _list(edge, args))
    if answer is None:
        return 1
    name, workloads = answer
    if args.json:
        write_json({"edge": name, "workloads": workloads})
    elif not workloads:
        write_out(f"no workloads on {name}")
    else:
        write_out(*(_info_line(w) for w in workloads))
    return 0


def _call(args: argparse.Namespace, edge: _Edge, body: Callable[[], Awaitable[T]]) -> T | None:
    """Run ``body``; a refusal or an unreachable edge is one stderr line and ``None``."""
    command = f"workload {args.action}"
    try:
        return anyio.run(body, backend="asyncio")
    except AdminUnauthorized:
        write_error(command, f"the edge at {edge.url} refused the cluster token")
    except EdgeHTTPError as exc:
        write_error(command, f"{exc.code}: {exc.message}{_written(args)}")
    except msgspec.MsgspecError as exc:
        write_error(command, f"the daemon at {edge.url} is not an edge daemon: {exc}")
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        write_error(command, f"cannot reach the edge at {edge.url}: {reason}{_written(args)}")
    return None


def _written(args: argparse.Namespace) -> str:
    written: int | None = getattr(args, "written", None)
    if written is None:
        return ""
    return f" (workload {args.name} created, {written:,} of {args.seed:,} records written)"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``workload create`` and ``workload list``."""
    parser = subparsers.add_parser(
        "workload",
        help="create, seed and list workloads on a running edge daemon",
        description="Create and seed workloads on a running edge daemon, or list them.",
    )
    one_line_errors(parser, "workload")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a workload (and fill it with --seed N)")
    create.add_argument("name", metavar="NAME", help="the workload's name")
    create.add_argument(
        "--seed", type=int, default=0, metavar="N", help="write N sample records (default 0)"
    )
    create.add_argument(
        "--value-bytes", type=int, default=1024, metavar="B", help="bytes per value (1024)"
    )
    create.add_argument("--key-prefix", default="k", metavar="P", help="key prefix (k)")
    create.set_defaults(run=run_create)
    listing = actions.add_parser("list", help="list an edge's workloads")
    listing.set_defaults(run=run_list)
    for sub, name in ((create, "workload create"), (listing, "workload list")):
        one_line_errors(sub, name)
        sub.add_argument("--edge", metavar="NAME", help="edge name in --topology")
        sub.add_argument("--topology", metavar="FILE", help="TOML or YAML topology file")
        sub.add_argument("--daemon", metavar="URL", help=f"the edge's URL (or {DAEMON_ENV})")
        add_token_flags(sub)
        add_tls_client_flags(sub)
        sub.add_argument("--json", action="store_true", help="print one JSON object")
