"""The ``edge-actors`` command line (cli layer, top of the import order).

``main(argv)`` parses arguments and runs a subcommand; each subcommand lives in its own
private module with a ``register(subparsers)`` function (see ``_main.py``).
"""

from __future__ import annotations

from ._main import build_parser as build_parser
from ._main import main as main

__all__ = ["build_parser", "main"]
