"""Errors of the monitoring layer (``edge_actors.monitoring``).

Bad parameters (time ranges, metric names, threshold directions) raise
:class:`~edge_actors.errors.ConfigError`; conditions of the service itself raise a
:class:`MonitoringError` subclass. Messages name the offending value.
"""

from __future__ import annotations

from edge_actors.errors import EdgeActorsError

__all__ = ["MonitoringError", "ServiceNotRunning"]


class MonitoringError(EdgeActorsError):
    """Base class of the monitoring layer's own errors."""


class ServiceNotRunning(MonitoringError, RuntimeError):
    """An operation that probes edges was called outside ``async with MonitoringService()``."""
