"""Structured logging set-up shared by every layer (bottom of the import order).

Library code never configures logging globally; it asks :func:`get_logger` for a structlog
logger and binds context (``migration_id``, ``workload``, ``edge``) once per actor.
"""

from __future__ import annotations

from typing import Any

import structlog

__all__ = ["get_logger"]


def get_logger(component: str, **context: Any) -> structlog.stdlib.BoundLogger:
    """Return a structlog logger for ``component`` with ``context`` already bound."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger("edge_actors").bind(
        component=component, **context
    )
    return logger
