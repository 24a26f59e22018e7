"""Errors of the embedded engine and the runtime (layer: runtime).

Only misuse and engine lifecycle problems raise; a failing node never does (its result
says ``failed``).
"""

from __future__ import annotations

from edge_actors.errors import EdgeActorsError

__all__ = ["EngineError"]


class EngineError(EdgeActorsError, RuntimeError):
    """The engine cannot do what was asked.

    Raised when it is shut down (or shut down while a call ran), when a blocking call is
    made from inside a running event loop, or when a service could not be created.
    """
