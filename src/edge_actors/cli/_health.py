"""``edge-actors health``: probe edges' ``/admin/health`` once and print their state (cli layer).

Edges come from ``--topology FILE`` (all of them, or the ``EDGE`` names given) or from
``--daemon URL`` with ``--token-file`` (or ``EDGE_ACTORS_CLUSTER_TOKEN``) for one edge.
``https`` edges signed by a private CA need ``--tls-ca FILE`` (or the topology's
``tls_ca``; the flag wins); edges that require client certificates (mutual TLS) need
``--tls-cert`` / ``--tls-key``.
Probes run concurrently through
:meth:`edge_actors.monitoring.MonitoringService.probe_now`, so the status rules are the
monitoring node's (``healthy``, ``degraded``, ``unhealthy``, ``unreachable``). Exit code 0
when every edge is healthy or degraded, 1 when any is unhealthy or unreachable, 2 for bad
flags or an unknown edge name.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import aiohttp
import anyio
import msgspec

from edge_actors.edge import AdminClient, EdgeHTTPError, load_topology
from edge_actors.errors import ConfigError
from edge_actors.monitoring import MonitoringConfig, MonitoringService, ProbeTarget

from ._progress import format_bytes, one_line_errors, write_json, write_out
from ._tokens import (
    add_tls_client_flags,
    add_token_flags,
    refuse_argv_token,
    tls_client_context,
    token_from_args,
)

if TYPE_CHECKING:
    import argparse
    import ssl

    from edge_actors.monitoring import EdgeHealth

    _Group = tuple[ssl.SSLContext | None, list[ProbeTarget]]

__all__ = ["register", "run_health"]

DAEMON_ENV = "EDGE_ACTORS_DAEMON"
_OK = frozenset(("healthy", "degraded"))
_UNNAMED = "?"
"""Placeholder name of a ``--daemon`` edge until its ``/admin/health`` answer names it."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``health`` subcommand."""
    parser = subparsers.add_parser(
        "health",
        help="probe edges' /admin/health and print status, capacity and load",
        description="Probe each edge once (concurrently) and print its status, capacity "
        "and load. Exit 0 when all are healthy or degraded, 1 otherwise.",
    )
    one_line_errors(parser, "health")
    parser.add_argument("edges", nargs="*", metavar="EDGE", help="edge names (default: all)")
    parser.add_argument("--topology", metavar="FILE", help="TOML or YAML topology file")
    parser.add_argument("--daemon", metavar="URL", help=f"one edge's URL (or {DAEMON_ENV})")
    add_token_flags(parser)
    add_tls_client_flags(parser)
    parser.add_argument("--timeout", type=float, default=5.0, metavar="S", help="probe timeout (5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run_health)


def probe_targets(args: argparse.Namespace) -> list[tuple[ProbeTarget, str | None]]:
    """The edges to probe, from ``--topology`` or ``--daemon``, each with its topology CA.

    Raises:
        ConfigError: Neither or both given, an unknown edge name, a malformed file.
    """
    refuse_argv_token(args)
    if args.topology is not None:
        if args.daemon is not None:
            raise ConfigError("give either --topology or --daemon, not both")
        topology = load_topology(args.topology)
        names = list(args.edges) or list(topology)
        unknown = [n for n in names if n not in topology]
        if unknown:
            known = ", ".join(sorted(topology)) or "none"
            raise ConfigError(f"unknown edge(s) {', '.join(unknown)} (known edges: {known})")
        return [
            (ProbeTarget(n, topology[n].url, topology[n].token), topology[n].tls_ca) for n in names
        ]
    if args.edges:
        raise ConfigError("edge names need --topology")
    url = args.daemon or os.environ.get(DAEMON_ENV)
    if not url:
        raise ConfigError(f"give --topology FILE or --daemon URL (or set {DAEMON_ENV})")
    token = token_from_args(args)
    assert token is not None  # required=True
    return [(ProbeTarget(_UNNAMED, url.rstrip("/"), token), None)]


def _by_context(
    args: argparse.Namespace, targets: list[tuple[ProbeTarget, str | None]]
) -> list[_Group]:
    """Targets grouped by the TLS context that verifies them (one per distinct CA)."""
    by_ca: dict[str | None, list[ProbeTarget]] = {}
    for target, ca in targets:
        by_ca.setdefault(ca, []).append(target)
    return [(tls_client_context(args, ca), group) for ca, group in by_ca.items()]


async def _probe(groups: list[_Group], probe_timeout_s: float) -> dict[str, EdgeHealth]:
    """Probe every group concurrently, each through a session of its own TLS context.

    A ``--daemon`` edge (named ``?`` until now) is asked its name by ``/admin/health``
    meanwhile, so its line is labelled by name like a topology edge's (by its URL when it
    does not answer).
    """
    config = MonitoringConfig(probe_timeout_s=probe_timeout_s)
    results: dict[str, EdgeHealth] = {}
    names: dict[str, str] = {}

    async def one(context: ssl.SSLContext | None, targets: list[ProbeTarget]) -> None:
        async with MonitoringService(config, ssl_context=context) as monitoring:
            results.update(await monitoring.probe_now(targets))

    async def name_of(context: ssl.SSLContext | None, target: ProbeTarget) -> None:
        client = AdminClient(target.url, target.token, timeout=probe_timeout_s, ssl_context=context)
        try:
            async with client:
                names[target.name] = (await client.health()).name
        except (EdgeHTTPError, aiohttp.ClientError, OSError, TimeoutError, msgspec.MsgspecError):
            names[target.name] = target.url  # the probe's own line says what went wrong

    async with anyio.create_task_group() as tg:
        for context, targets in groups:
            tg.start_soon(one, context, targets)
            for target in targets:
                if target.name == _UNNAMED:
                    tg.start_soon(name_of, context, target)
    for placeholder, name in names.items():
        results[placeholder] = msgspec.structs.replace(results[placeholder], edge=name)
    return results


def _line(h: EdgeHealth) -> str:
    latency = f"{h.latency_ms:.1f}ms" if h.latency_ms is not None else "-"
    if h.capacity is not None:
        cap = h.capacity
        limit = format_bytes(cap.max_bytes) if cap.max_bytes is not None else "unlimited"
        workloads = f"{cap.used_workloads}/{cap.max_workloads or '-'}"
        capacity = f"{format_bytes(cap.used_bytes)} of {limit}, workloads {workloads}"
    else:
        capacity = "-"
    if h.load is not None:
        ld = h.load
        load = (
            f"requests {ld.requests_total}, errors {ld.errors_total}, inflight {ld.inflight}, "
            f"held writes {ld.held_writes}, transfers {ld.active_transfers}"
        )
    else:
        load = "-"
    reasons = f" ({'; '.join(h.reasons)})" if h.reasons else ""
    return f"{h.edge}: {h.status}{reasons} | latency {latency} | capacity {capacity} | load {load}"


def run_health(args: argparse.Namespace) -> int:
    """Probe and print; the exit code says whether every edge is usable."""
    if not args.timeout > 0:
        raise ConfigError(f"--timeout: expected > 0, got {args.timeout}")
    targets = probe_targets(args)
    groups = _by_context(args, targets)
    results = anyio.run(_probe, groups, args.timeout, backend="asyncio")
    ordered = [results[t.name] for t, _ in targets]
    if args.json:
        write_json({"edges": {h.edge: h for h in ordered}})
    else:
        write_out(*(_line(h) for h in ordered))
    return 0 if all(h.status in _OK for h in ordered) else 1
