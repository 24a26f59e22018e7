"""The ``edge-actors`` command: argument parsing and subcommand discovery (cli layer).

Subcommands live in their own private modules of this package. A module takes part by
defining ``register(subparsers)``, which adds its parser and sets ``run`` as its handler::

    def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        parser = subparsers.add_parser("daemon", help="run an edge daemon")
        parser.add_argument("--name")
        parser.set_defaults(run=run_daemon)   # run(args) -> exit code

Modules are found by name (every ``edge_actors.cli._*`` module except this one), so adding
a subcommand never edits this file. Errors the library raises on purpose become one line
on stderr: exit code 2 for bad flags or configuration, 1 for other refusals.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import TYPE_CHECKING, NoReturn

from edge_actors import __version__
from edge_actors.errors import ConfigError, EdgeActorsError

from ._progress import one_line

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["build_parser", "main"]

PROG = "edge-actors"


def _subcommand_modules() -> list[str]:
    package = importlib.import_module("edge_actors.cli")
    names = [
        info.name
        for info in pkgutil.iter_modules(package.__path__)
        if info.name.startswith("_") and info.name not in ("_main", "__main__")
    ]
    return [f"edge_actors.cli.{name}" for name in sorted(names)]


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every discovered subcommand."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Live migration of stateful workloads between edge nodes.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")

    def error(message: str) -> NoReturn:
        # One stderr line, like the subcommands' errors; --help keeps the full usage.
        print(f"{PROG}: error: {one_line(message)} (see '{PROG} --help')", file=sys.stderr)
        raise SystemExit(2)

    setattr(parser, "error", error)  # noqa: B010 - mypy refuses assigning to a method
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _subcommand_modules():
        module = importlib.import_module(module_name)
        register: Callable[..., None] | None = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``edge-actors`` command and return its exit code.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when ``None``.

    Returns:
        0 on success, 2 for bad flags or configuration, 1 for other errors, 130 when
        interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help, --version and bad flags
        return exc.code if isinstance(exc.code, int) else 2
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        commands = ", ".join(sorted(_commands(parser)))
        print(
            f"{PROG}: error: a command is required ({commands}; see '{PROG} --help')",
            file=sys.stderr,
        )
        return 2
    try:
        return run(args)
    except ConfigError as exc:
        print(f"{PROG} {args.command}: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except EdgeActorsError as exc:
        print(f"{PROG} {args.command}: error: {one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one line, never a traceback
        reason = one_line(f"{type(exc).__name__}: {exc}")
        print(f"{PROG} {args.command}: error: unexpected {reason}", file=sys.stderr)
        return 1


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []
