"""Test hooks: pause a migration step so a fault lands there (a shared leaf: any layer).

**For fault-injection tests only; off by default.** Read once, when the daemon is
created, from the environment:

* ``EDGE_ACTORS_TEST_PAUSE_AT``: the step after which to pause, one of
  :data:`PAUSE_STEPS` (the first four run in an edge daemon, the last two in the migration
  supervisor):

  - ``retiring_marked`` (on the *source*): a cutover made its ``retiring_to`` mark
    durable; it has not held writes yet (they are still served here).
  - ``activating`` (on the *target*): an activation request arrived; the target has not
    acted on it yet (no epoch admitted, not ``active``). Other requests are served
    meanwhile, so the source's deadline can run out and its undo reach this edge first.
  - ``target_activated``: the target confirmed LSN and digest and went ``active``; the
    source has not flipped its route (writes still held here, ``retiring_to`` set).
  - ``source_flipped``: the source's route is ``moved`` and the held writes were
    released (forwarded to the target from here on); the cutover has not answered yet.
  - ``validating`` (in the supervisor): the cutover is done and journaled; the
    validation phase is about to read both edges' digests.
  - ``cleaned_up`` (in the supervisor): the cleanup phase dropped the source's copies
    (``moved`` routes kept); the run has not entered ``completed``.

* ``EDGE_ACTORS_TEST_PAUSE_FILE``: a path. On reaching the step the daemon creates
  ``<path>.reached`` (so the test knows the daemon is there), then waits until ``<path>``
  exists (checked every 10 ms) and goes on. A test kills the daemon (``SIGKILL``) while
  it waits, or creates ``<path>`` to let it continue.

Both variables must be set for the hook to be on; an unknown step is a startup error.
The pause waits for a file the test creates: it stands in for no work.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, get_args

import anyio

from .errors import EdgeActorsError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "PAUSE_AT_ENV",
    "PAUSE_FILE_ENV",
    "PAUSE_STEPS",
    "PauseHook",
    "PauseHookError",
    "PauseStep",
]

PauseStep = Literal[
    "retiring_marked",
    "activating",
    "target_activated",
    "source_flipped",
    "validating",
    "cleaned_up",
]
PAUSE_STEPS: Final = get_args(PauseStep)
PAUSE_AT_ENV: Final = "EDGE_ACTORS_TEST_PAUSE_AT"
PAUSE_FILE_ENV: Final = "EDGE_ACTORS_TEST_PAUSE_FILE"
_POLL_S = 0.01


class PauseHookError(EdgeActorsError, ValueError):
    """The test hook's environment names an unknown step."""


class PauseHook:
    """Pauses at one named step until a file appears (see module doc).

    Args:
        step: The step to pause after (``None``: the hook is off).
        path: The file to wait for (``<path>.reached`` is created on arrival).
    """

    def __init__(self, step: PauseStep | None = None, path: Path | None = None) -> None:
        self.step = step
        self.path = path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> PauseHook:
        """The hook as the environment sets it (off unless both variables are set).

        Raises:
            PauseHookError: ``EDGE_ACTORS_TEST_PAUSE_AT`` names no known step.
        """
        step = environ.get(PAUSE_AT_ENV)
        path = environ.get(PAUSE_FILE_ENV)
        if not step or not path:
            return cls()
        if step not in PAUSE_STEPS:
            raise PauseHookError(
                f"{PAUSE_AT_ENV}: expected one of {', '.join(PAUSE_STEPS)}, got {step!r}"
            )
        return cls(step, Path(path))  # type: ignore[arg-type]  # checked against PAUSE_STEPS

    async def reached(self, step: PauseStep) -> None:
        """Pause here if the hook names ``step``; otherwise return at once.

        Cancellation: the wait ends; nothing else changes.
        """
        if self.step != step or self.path is None:
            return
        path = self.path
        await anyio.to_thread.run_sync(Path(f"{path}.reached").touch)
        # Another process creates the file: there is no event in this one to wait on.
        while not await anyio.to_thread.run_sync(path.exists):  # noqa: ASYNC110
            await anyio.sleep(_POLL_S)
