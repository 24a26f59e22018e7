"""``edge-actors plan|migrate|status|list|pause|resume|rollback|cancel`` (cli layer).

Each command talks to a daemon started with ``edge-actors daemon --supervisor`` through
:class:`~edge_actors.edge.MigrationClient` (its ``/admin/migrations`` routes). The daemon
comes from ``--daemon URL`` or ``EDGE_ACTORS_DAEMON``, the token from ``--token-file`` or
``EDGE_ACTORS_CLUSTER_TOKEN`` (never argv: ``--token`` is refused). Results go to
stdout (``--json``: one JSON object), errors
are one stderr line: exit 2 for bad flags or a plan the daemon refuses as malformed, 1 for
other failures (unknown migration, illegal transition, unreachable daemon) and for a
``migrate`` (or ``status --watch``) that did not end ``completed``. A paused migration is
not waited for (it would wait forever): both say it is paused and how to resume it, exit
1. ``migrate ID`` on a migration that already ended reports it without running anything.
Ctrl-C while following stops the watching only (exit 130) and says how to follow again.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

import aiohttp
import anyio

from edge_actors.edge import (
    AdminUnauthorized,
    BadRequest,
    EdgeHTTPError,
    MigrationClient,
)
from edge_actors.errors import ConfigError

from ._migration_flags import (
    connection_flags,
    endpoint,
    parse_constraint_flags,
    plan_flags,
    plan_request,
)
from ._progress import (
    PROG,
    ProgressDisplay,
    metrics_lines,
    one_line_errors,
    progress_line,
    write_error,
    write_json,
    write_out,
)
from ._tokens import tls_client_context

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable

    from edge_actors.migration import MigrationProgress, MigrationStatus

__all__ = [
    "CommandFailed",
    "add_command",
    "command_hint",
    "parse_constraint_flags",
    "plan_request",
    "register",
]

FINAL_STATES = frozenset(("completed", "rolled_back", "cancelled", "failed"))
_POLL_S = 0.2
_MAX_SECONDS = 7 * 24 * 3600.0
"""Longest ``--timeout`` / ``--wait-timeout`` accepted (a week)."""


class CommandFailed(Exception):
    """A command ends with one error line and an exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# -- running ----------------------------------------------------------------------------


def _seconds(flag: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and 0 < value <= _MAX_SECONDS):
        raise ConfigError(f"{flag}: expected seconds in (0, {_MAX_SECONDS:g}], got {value}")


def _run(
    args: argparse.Namespace, body: Callable[[MigrationClient, argparse.Namespace], Awaitable[int]]
) -> int:
    _seconds("--timeout", args.timeout)
    _seconds("--wait-timeout", getattr(args, "wait_timeout", None))
    url, token = endpoint(args)
    context = tls_client_context(args)

    async def main() -> int:
        async with MigrationClient(url, token, timeout=args.timeout, ssl_context=context) as client:
            return await body(client, args)

    try:
        return anyio.run(main, backend="asyncio")
    except KeyboardInterrupt:
        following: str | None = getattr(args, "following", None)
        if following is None:
            raise
        # Ctrl-C stops the watching only: say so, and how to pick the migration up again.
        if sys.stdout.isatty():
            sys.stdout.write("\n")  # end the progress line rewritten in place
        write_error(
            args.command,
            f"interrupted: migration {following} keeps running on the daemon; follow it "
            f"with '{command_hint(args, 'status', following, '--watch')}' or pause it with "
            f"'{command_hint(args, 'pause', following)}'",
        )
        return 130
    except CommandFailed as exc:
        write_error(args.command, str(exc))
        return exc.code
    except BadRequest as exc:
        write_error(args.command, f"{exc.code}: {exc.message}")
        return 2
    except AdminUnauthorized:
        write_error(args.command, f"the daemon at {url} refused the cluster token")
        return 1
    except EdgeHTTPError as exc:
        if exc.status == 404 and exc.code == "http_404":
            write_error(
                args.command,
                f"the daemon at {url} hosts no migration supervisor "
                "(start it with 'edge-actors daemon --supervisor')",
            )
        else:
            write_error(args.command, f"{exc.code}: {exc.message}")
        return 1
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        write_error(args.command, f"cannot reach the daemon at {url}: {_reason(exc)}")
        return 1


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text if text else type(exc).__name__


async def _follow(
    client: MigrationClient, migration_id: str, *, quiet: bool, deadline: float | None
) -> tuple[MigrationStatus, MigrationProgress]:
    """Poll until a final state or ``paused``, showing progress unless ``quiet``.

    A paused migration does not move until someone resumes it, so following it would wait
    forever: the caller says it is paused and how to resume instead.
    """
    display = None if quiet else ProgressDisplay()
    failed_seen: float | None = None
    with anyio.fail_after(deadline):
        while True:
            view = await client.get(migration_id)
            status, progress = view.status, view.progress
            if display is not None:
                display.update(progress)
            if status.state == "paused":
                break
            if status.state in FINAL_STATES:
                # An auto-rollback starts right after the failure: give it a moment.
                if status.state != "failed" or not status.auto_rollback:
                    break
                now = anyio.current_time()
                failed_seen = now if failed_seen is None else failed_seen
                if now - failed_seen > 10.0:
                    break
            await anyio.sleep(_POLL_S)
    if display is not None:
        display.finish(progress)
    return status, progress


def command_hint(args: argparse.Namespace, command: str, *rest: str) -> str:
    """The ``edge-actors`` command line that runs ``command`` on the same daemon."""
    daemon = f" --daemon {args.daemon}" if getattr(args, "daemon", None) else ""
    return " ".join((PROG, command, *rest)) + daemon


def _paused(args: argparse.Namespace, status: MigrationStatus) -> CommandFailed:
    mid = status.migration_id
    phase = f" in {status.phase}" if status.phase else ""
    return CommandFailed(
        f"migration {mid} is paused{phase}; it moves again once resumed: "
        f"'{command_hint(args, 'resume', mid)}', then follow it with "
        f"'{command_hint(args, 'status', mid, '--watch')}'"
    )


def _status_lines(status: MigrationStatus) -> list[str]:
    lines = [f"migration {status.migration_id}: {status.state}"]
    if status.phase is not None:
        lines.append(f"phase: {status.phase}")
    lines.append(f"strategy: {status.strategy}, priority {status.priority}")
    if status.detail:
        lines.append(f"detail: {status.detail}")
    if status.error:
        lines.append(f"error: {status.error}")
    return lines


# -- commands ---------------------------------------------------------------------------


async def _plan(client: MigrationClient, args: argparse.Namespace) -> int:
    plan = await client.plan(plan_request(args))
    if args.json:
        write_json(plan)
    else:
        write_out(plan.migration_id)
    return 0


async def _migrate(client: MigrationClient, args: argparse.Namespace) -> int:
    if args.migration_id is not None:
        if args.source or args.target or args.workload:
            raise ConfigError("give either a migration ID or --source/--target/--workload")
        migration_id = args.migration_id
        status = await client.status(migration_id)
        if status.state in FINAL_STATES:
            return await _ended(client, args, status, already=True)
        if status.state == "paused":
            raise _paused(args, status)
        if status.state == "planned":
            await client.execute(migration_id, auto_rollback=args.auto_rollback)
            started = "executing"
        else:
            started = f"is {status.state}" + ("" if args.detach else "; following it")
    else:
        request = plan_request(args)
        plan = await client.plan(request, execute=True, auto_rollback=args.auto_rollback)
        migration_id = plan.migration_id
        started = "executing"
    if not args.json:
        write_out(f"migration {migration_id} {started}")
    if args.detach:
        if args.json:
            write_json({"migration_id": migration_id, "status": await client.status(migration_id)})
        return 0
    args.following = migration_id
    try:
        status, progress = await _follow(
            client, migration_id, quiet=args.json, deadline=args.wait_timeout
        )
    except TimeoutError:
        raise CommandFailed(
            f"migration {migration_id} not finished after {args.wait_timeout}s "
            f"(it keeps running on the daemon; follow it with "
            f"'{command_hint(args, 'status', migration_id, '--watch')}')"
        ) from None
    args.following = None
    if status.state == "paused":
        raise _paused(args, status)
    return await _ended(client, args, status, progress)


async def _ended(
    client: MigrationClient,
    args: argparse.Namespace,
    status: MigrationStatus,
    progress: MigrationProgress | None = None,
    *,
    already: bool = False,
) -> int:
    """Report a migration in a final state; exit 0 only if it completed."""
    migration_id = status.migration_id
    metrics = await client.metrics(migration_id)
    if args.json:
        if progress is None:
            progress = await client.progress(migration_id)
        write_json(
            {
                "migration_id": migration_id,
                "status": status,
                "progress": progress,
                "metrics": metrics,
            }
        )
    else:
        first = _status_lines(status)[0]
        if already:
            first = f"migration {migration_id} already ended: {status.state} (nothing to run)"
        write_out(first, *metrics_lines(metrics)[1:])
    return _exit_code(args, status)


def _exit_code(args: argparse.Namespace, status: MigrationStatus) -> int:
    """0 for a completed migration; otherwise 1, with the reason on stderr (text mode)."""
    if status.state == "completed":
        return 0
    if not args.json:
        reason = status.error or status.detail or status.state
        write_error(args.command, f"migration {status.migration_id} ended {status.state}: {reason}")
    return 1


async def _status(client: MigrationClient, args: argparse.Namespace) -> int:
    if args.watch:
        args.following = args.migration_id
        try:
            status, progress = await _follow(
                client, args.migration_id, quiet=args.json, deadline=args.wait_timeout
            )
        except TimeoutError:
            raise CommandFailed(
                f"migration {args.migration_id} not finished after {args.wait_timeout}s"
            ) from None
    else:
        view = await client.get(args.migration_id)
        status, progress = view.status, view.progress
    metrics = await client.metrics(args.migration_id)
    if args.json:
        write_json({"status": status, "progress": progress, "metrics": metrics})
    else:
        write_out(
            *_status_lines(status),
            f"progress: {progress_line(progress)}",
            *metrics_lines(metrics)[1:],
        )
    if not args.watch:
        return 0
    if status.state == "paused":
        raise _paused(args, status)
    return _exit_code(args, status)


async def _list(client: MigrationClient, args: argparse.Namespace) -> int:
    if args.all:
        statuses = await client.statuses()
        if args.json:
            write_json({"migrations": statuses})
            return 0
        if not statuses:
            write_out("no migrations")
            return 0
        write_out(f"{'MIGRATION':<24} {'STATE':<12} {'PHASE':<10} {'STRATEGY':<11} PRI  ERROR")
        for s in statuses:
            write_out(
                f"{s.migration_id:<24} {s.state:<12} {s.phase or '-':<10} {s.strategy:<11} "
                f"{s.priority:<4} {s.error or ''}".rstrip()
            )
        return 0
    summaries = await client.active()
    if args.json:
        write_json({"migrations": summaries})
        return 0
    if not summaries:
        write_out("no active migrations")
        return 0
    write_out(
        f"{'MIGRATION':<24} {'STATE':<12} {'PHASE':<10} {'STRATEGY':<11} PRI  "
        f"{'DONE':>6}  ROUTE  WORKLOADS"
    )
    for m in summaries:
        write_out(
            f"{m.migration_id:<24} {m.state:<12} {m.phase or '-':<10} {m.strategy:<11} "
            f"{m.priority:<4} {m.percent:5.1f}%  {m.source_edge} -> {m.target_edge}  "
            f"{','.join(m.workloads)}"
        )
    return 0


def _control_output(args: argparse.Namespace, status: MigrationStatus) -> None:
    if args.json:
        write_json(status)
    else:
        write_out(*_status_lines(status))


async def _pause(client: MigrationClient, args: argparse.Namespace) -> int:
    _control_output(args, await client.pause(args.migration_id))
    return 0


async def _resume(client: MigrationClient, args: argparse.Namespace) -> int:
    _control_output(args, await client.resume(args.migration_id))
    return 0


async def _cancel(client: MigrationClient, args: argparse.Namespace) -> int:
    _control_output(args, await client.cancel(args.migration_id))
    return 0


async def _rollback(client: MigrationClient, args: argparse.Namespace) -> int:
    status = await client.rollback(args.migration_id, args.checkpoint)
    wanted = "paused" if args.checkpoint else "rolled_back"
    if not args.no_wait:
        try:
            with anyio.fail_after(args.wait_timeout):
                while status.state not in (wanted, "failed"):
                    await anyio.sleep(_POLL_S)
                    status = await client.status(args.migration_id)
        except TimeoutError:
            raise CommandFailed(
                f"rollback of {args.migration_id} not finished after {args.wait_timeout}s "
                f"(state {status.state})"
            ) from None
    _control_output(args, status)
    if args.no_wait:
        return 0
    if status.state != wanted:
        if not args.json:
            reason = status.error or status.state
            write_error(args.command, f"rollback of {args.migration_id} ended {reason}")
        return 1
    return 0


# -- registration -----------------------------------------------------------------------


def add_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    body: Callable[[MigrationClient, argparse.Namespace], Awaitable[int]],
) -> argparse.ArgumentParser:
    """Add a subcommand that runs ``body`` with a client of the supervisor daemon."""
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    one_line_errors(parser, name)
    connection_flags(parser)

    def run(args: argparse.Namespace) -> int:
        return _run(args, body)

    parser.set_defaults(run=run)
    return parser


def _wait_flag(parser: argparse.ArgumentParser, what: str, default: float | None = None) -> None:
    limit = "no limit" if default is None else f"{default:g}"
    parser.add_argument(
        "--wait-timeout",
        type=float,
        default=default,
        metavar="S",
        help=f"give up waiting for {what} after S seconds (default: {limit})",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``plan``, ``migrate``, ``status``, ``list``, ``pause``, ``resume``,
    ``rollback`` and ``cancel``."""
    plan = add_command(subparsers, "plan", "plan a migration and print its id", _plan)
    plan_flags(plan, required=True)

    migrate = add_command(
        subparsers,
        "migrate",
        "plan and run a migration (or run planned ID), showing progress until it ends",
        _migrate,
    )
    migrate.add_argument("migration_id", nargs="?", metavar="ID", help="a planned migration")
    plan_flags(migrate, required=False)
    migrate.add_argument(
        "--auto-rollback", action="store_true", help="roll back automatically on failure"
    )
    migrate.add_argument(
        "--detach", action="store_true", help="return once it is queued (do not follow)"
    )
    _wait_flag(migrate, "the end")

    status = add_command(
        subparsers, "status", "show a migration's state, progress and metrics", _status
    )
    status.add_argument("migration_id", metavar="ID")
    status.add_argument(
        "--watch", action="store_true", help="follow until it ends (exit 0 only if completed)"
    )
    _wait_flag(status, "the end")

    listing = add_command(subparsers, "list", "list active migrations", _list)
    listing.add_argument("--all", action="store_true", help="include finished ones")

    for name, help_text, body in (
        ("pause", "pause a running migration (journaled, resumable)", _pause),
        ("resume", "resume a paused migration from its last acked LSNs", _resume),
        ("cancel", "cancel a migration not yet cut over", _cancel),
    ):
        parser = add_command(subparsers, name, help_text, body)
        parser.add_argument("migration_id", metavar="ID")

    rollback = add_command(
        subparsers,
        "rollback",
        "roll a migration back to the source (or to a checkpoint)",
        _rollback,
    )
    rollback.add_argument("migration_id", metavar="ID")
    rollback.add_argument("--checkpoint", metavar="C", help="checkpoint id to return to")
    rollback.add_argument("--no-wait", action="store_true", help="return once it has started")
    _wait_flag(rollback, "the rollback", 120.0)
