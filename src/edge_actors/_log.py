"""Structured logging set-up shared by every layer (bottom of the import order).

Library code asks :func:`get_logger` for a structlog logger and binds context
(``migration_id``, ``workload``, ``edge``) once per actor. An application that configures
structlog itself keeps its configuration; otherwise the first logger configures a quiet
default: events at ``EDGE_ACTORS_LOG_LEVEL`` (default ``warning``) and above, to stderr,
filtered before any formatting work is done.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

import structlog

from edge_actors.errors import ConfigError

__all__ = ["LOG_LEVELS", "configure_default_logging", "get_logger"]

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
"""Level names accepted by ``--log-level`` and ``EDGE_ACTORS_LOG_LEVEL``."""

_configure_lock = threading.Lock()


def configure_default_logging(level: str | None = None, *, strict: bool = False) -> None:
    """Configure structlog for edge_actors' own processes (the CLI, daemons, the demo).

    Args:
        level: a level name (``debug``, ``info``, ``warning``, ``error``); default from
            ``EDGE_ACTORS_LOG_LEVEL`` or ``warning``.
        strict: refuse an unknown level name (the CLI) instead of using ``warning``.

    Raises:
        ConfigError: ``strict`` and the level (or ``EDGE_ACTORS_LOG_LEVEL``) is unknown.
    """
    env = os.environ.get("EDGE_ACTORS_LOG_LEVEL")
    name = (level or env or "warning").upper()
    if strict and name.lower() not in LOG_LEVELS:
        source = "--log-level" if level else "EDGE_ACTORS_LOG_LEVEL"
        raise ConfigError(
            f"{source}: unknown log level {name.lower()[:40]!r} (use {', '.join(LOG_LEVELS)})"
        )
    numeric = logging.getLevelNamesMapping().get(name, logging.WARNING)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(component: str, **context: Any) -> Any:
    """Return a structlog bound logger for ``component`` with ``context`` already bound."""
    if not structlog.is_configured():
        with _configure_lock:
            if not structlog.is_configured():
                configure_default_logging()
    return structlog.get_logger("edge_actors").bind(component=component, **context)
