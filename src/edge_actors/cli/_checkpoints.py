"""``edge-actors checkpoints ID``: list a migration's checkpoints for ``rollback`` (cli layer).

The ids it prints are what ``edge-actors rollback ID --checkpoint C`` takes. It reads the
daemon's ``GET /admin/migrations/{id}/checkpoints`` through
:class:`~edge_actors.edge.MigrationClient`; connection flags, errors and exit codes are
those of the other migration commands (:mod:`._migrations`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from edge_actors.errors import ConfigError

from ._migrations import add_command, command_hint
from ._progress import write_json, write_out

if TYPE_CHECKING:
    import argparse

    from edge_actors.edge import MigrationClient
    from edge_actors.migration import Checkpoint

__all__ = ["checkpoint_lines", "register"]

_ENDED = frozenset(("completed", "rolled_back", "cancelled"))
"""Terminal states: no rollback applies any more (``failed`` can still roll back)."""


def _when(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _workloads(checkpoint: Checkpoint) -> str:
    return ", ".join(
        f"{name} lsn {w.acked_lsn} ({w.routing})" for name, w in checkpoint.workloads.items()
    )


def checkpoint_lines(checkpoints: list[Checkpoint]) -> list[str]:
    """One table row per checkpoint, oldest first, under a header."""
    width = max(len("CHECKPOINT"), *(len(c.checkpoint_id) for c in checkpoints))
    why = max(len("REASON"), *(len(c.reason or "-") for c in checkpoints))
    lines = [
        f"{'CHECKPOINT':<{width}}  {'TAKEN (UTC)':<24}  {'PHASE':<10}  ROUND  "
        f"{'REASON':<{why}}  WORKLOADS (acked LSN, routing)"
    ]
    for c in checkpoints:
        lines.append(
            f"{c.checkpoint_id:<{width}}  {_when(c.created_at):<24}  {c.phase:<10}  "
            f"{c.round:<5}  {c.reason or '-':<{why}}  {_workloads(c) or '-'}"
        )
    return lines


async def _checkpoints(client: MigrationClient, args: argparse.Namespace) -> int:
    checkpoints = await client.checkpoints(args.migration_id)
    shown = checkpoints[-args.last :] if args.last else checkpoints
    if args.json:
        write_json({"migration_id": args.migration_id, "checkpoints": shown})
        return 0
    if not checkpoints:
        write_out(f"migration {args.migration_id} has no checkpoints yet")
        return 0
    write_out(*checkpoint_lines(shown))
    if len(shown) < len(checkpoints):
        write_out(f"({len(checkpoints) - len(shown)} older not shown; --last 0 shows all)")
    state = (await client.status(args.migration_id)).state
    if state in _ENDED:
        write_out(f"(migration {args.migration_id} is {state}: it cannot be rolled back)")
    else:
        newest = shown[-1].checkpoint_id
        hint = command_hint(args, "rollback", args.migration_id, "--checkpoint", newest)
        write_out(f"roll back to one with: {hint}")
    return 0


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"--last: expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise ConfigError(f"--last: expected a whole number >= 0, got {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``checkpoints`` subcommand."""
    parser = add_command(
        subparsers,
        "checkpoints",
        "list a migration's checkpoints (ids for 'rollback --checkpoint')",
        _checkpoints,
    )
    parser.add_argument("migration_id", metavar="ID")
    parser.add_argument(
        "--last",
        type=_count,
        default=20,
        metavar="N",
        help="show the N newest (default 20; 0: all)",
    )
