"""Public module path ``edge_actors.runtime.local`` (layer: runtime): the local runtime."""

from __future__ import annotations

from ._local import LocalRuntime as LocalRuntime

__all__ = ["LocalRuntime"]
