"""The guide's runtime: LocalRuntime and the embedded engine (layer: runtime, the top).

Imports from every layer below (see docs/architecture.md). :class:`LocalRuntime` runs
built workflows; all of them run on one process-wide :class:`Engine` (a background event
loop with a registry of shared services), reached with :func:`default_engine`.
"""

from __future__ import annotations

from ._engine import Engine as Engine
from ._engine import EngineState as EngineState
from ._engine import default_engine as default_engine
from ._errors import EngineError as EngineError
from ._local import LocalRuntime as LocalRuntime

__all__ = ["Engine", "EngineError", "EngineState", "LocalRuntime", "default_engine"]
