"""The guide's runtime: LocalRuntime and the embedded engine (layer: runtime, the top).

Imports from every layer below (see docs/architecture.md). :class:`LocalRuntime` runs
built workflows; all of them run on one process-wide :class:`Engine` (a background event
loop with a registry of shared services), reached with :func:`default_engine`.
"""

from __future__ import annotations

from ._engine import Engine as Engine
from ._engine import EngineState as EngineState
from ._engine import default_engine as default_engine
from ._environment import EdgeEnvironment as EdgeEnvironment
from ._environment import configure_environment as configure_environment
from ._environment import configure_environment_async as configure_environment_async
from ._environment import get_environment as get_environment
from ._environment_config import EnvironmentConfig as EnvironmentConfig
from ._errors import EngineError as EngineError
from ._local import LocalRuntime as LocalRuntime

__all__ = [
    "EdgeEnvironment",
    "Engine",
    "EngineError",
    "EngineState",
    "EnvironmentConfig",
    "LocalRuntime",
    "configure_environment",
    "configure_environment_async",
    "default_engine",
    "get_environment",
]
