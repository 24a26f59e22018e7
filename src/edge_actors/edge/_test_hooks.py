"""Test hooks of the edge daemon: pause a cutover step so a fault lands there (edge layer).

**For fault-injection tests only; off by default.** The hook itself is the shared leaf
:mod:`edge_actors._test_hooks` (the migration supervisor pauses its ``validating`` step
with it too); the daemon reads it from the environment once, when it is created. The
edge's steps: ``activating`` (on the target: an activation arrived, not acted on yet),
``target_activated`` and ``source_flipped`` (on the source, inside its cutover).
"""

from __future__ import annotations

from edge_actors._test_hooks import PAUSE_AT_ENV as PAUSE_AT_ENV
from edge_actors._test_hooks import PAUSE_FILE_ENV as PAUSE_FILE_ENV
from edge_actors._test_hooks import PAUSE_STEPS as PAUSE_STEPS
from edge_actors._test_hooks import PauseHook as PauseHook
from edge_actors._test_hooks import PauseHookError as PauseHookError
from edge_actors._test_hooks import PauseStep as PauseStep

__all__ = [
    "PAUSE_AT_ENV",
    "PAUSE_FILE_ENV",
    "PAUSE_STEPS",
    "PauseHook",
    "PauseHookError",
    "PauseStep",
]
