"""The root of every error edge_actors raises on purpose.

Each layer subclasses :class:`EdgeActorsError` for its own conditions, so an app can catch
everything the library refuses with one ``except`` and still branch on the precise class.
"""

from __future__ import annotations

__all__ = ["ConfigError", "EdgeActorsError"]


class EdgeActorsError(Exception):
    """Base class of all errors raised deliberately by edge_actors."""


class ConfigError(EdgeActorsError, ValueError):
    """A parameter, constraint, config file value or CLI flag is malformed.

    The message names the offending field and the value that was given.
    """
