"""The guide's runtime: :class:`LocalRuntime` runs workflows on the engine (layer: runtime).

``execute`` is for synchronous code (it blocks the calling thread); ``execute_async`` is
for code already inside an event loop (it never blocks that loop). Both run the workflow
on the process-wide engine loop, so services and background work are shared by every
``LocalRuntime`` of the process and outlive each call.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from edge_actors.errors import ConfigError
from edge_actors.workflow import Workflow, WorkflowError

from ._engine import Engine, _in_running_loop, default_engine
from ._errors import EngineError
from ._run import run_workflow

if TYPE_CHECKING:
    from edge_actors.clock import Clock

__all__ = ["LocalRuntime"]

Results = dict[str, dict[str, object]]


class LocalRuntime:
    """Runs built workflows: nodes in dependency order, independent ones concurrently.

    Args:
        engine: the engine to run on; ``None`` (default) uses :func:`default_engine` at
            each call, which is what makes services shared across runtimes.
        max_concurrency: how many nodes of one run may run at the same time (default 8).
        clock: run on a private :class:`Engine` whose services read this clock (a
            ``ManualClock`` sets the hour a time window sees). Services belong to an
            engine, so a runtime with its own clock does not share them with the
            process default; stop it with ``runtime.engine.shutdown()`` (or at exit).

    Raises:
        ConfigError: ``max_concurrency`` is not a positive integer, or both ``engine``
            and ``clock`` are given and the engine runs on another clock.
    """

    __slots__ = ("_engine", "_max_concurrency")

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        max_concurrency: int = 8,
        clock: Clock | None = None,
    ) -> None:
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
            raise ConfigError(f"max_concurrency: expected an integer, got {max_concurrency!r}")
        if max_concurrency < 1:
            raise ConfigError(f"max_concurrency: must be at least 1, got {max_concurrency}")
        if clock is not None:
            if engine is None:
                engine = Engine(clock=clock)
            elif engine.clock is not clock:
                raise ConfigError(
                    f"clock: the given engine runs on {engine.clock!r}, not {clock!r} "
                    "(pass the clock to Engine(clock=...) or leave one of them out)"
                )
        self._engine = engine
        self._max_concurrency = max_concurrency

    @property
    def engine(self) -> Engine:
        """The engine this runtime runs on (the process default unless one was given)."""
        return self._engine if self._engine is not None else default_engine()

    @property
    def clock(self) -> Clock:
        """The clock this runtime's services read (the engine's)."""
        return self.engine.clock

    @property
    def max_concurrency(self) -> int:
        """How many nodes of one run may run at the same time."""
        return self._max_concurrency

    def _prepare(self, workflow: object) -> tuple[Workflow, str]:
        if not isinstance(workflow, Workflow):
            hint = " (call .build() on the builder first)" if hasattr(workflow, "build") else ""
            raise WorkflowError(
                f"LocalRuntime runs a built Workflow, got {type(workflow).__name__}{hint}"
            )
        return workflow, str(uuid.uuid4())

    def execute(self, workflow: Workflow) -> tuple[Results, str]:
        """Run ``workflow`` and block until every node has finished, failed or been skipped.

        Returns:
            ``(results, run_id)``: each node's result dict by node id (in the order the
            nodes were added) and the id of this run (also bound to the run's logs).

        Raises:
            WorkflowError: ``workflow`` is not a built :class:`Workflow`.
            EngineError: called from inside a running event loop (use
                ``await runtime.execute_async(...)``), or the engine was shut down.
        """
        built, run_id = self._prepare(workflow)
        if _in_running_loop():
            raise EngineError(
                "LocalRuntime.execute() was called from inside a running event loop and would "
                "block it: use await runtime.execute_async(...)"
            )
        engine = self.engine
        results = engine.call(self._run, built, engine, run_id)
        return results, run_id

    async def execute_async(self, workflow: Workflow) -> tuple[Results, str]:
        """Run ``workflow`` on the engine loop and await it without blocking this loop.

        Cancelling the caller cancels the run (every running node) and waits for it to
        wind down.

        Returns:
            The same as :meth:`execute`.

        Raises:
            WorkflowError: ``workflow`` is not a built :class:`Workflow`.
            EngineError: the engine was shut down, or shut down during the run.
        """
        built, run_id = self._prepare(workflow)
        engine = self.engine
        results = await engine.call_async(self._run, built, engine, run_id)
        return results, run_id

    async def _run(self, workflow: Workflow, engine: Engine, run_id: str) -> Results:
        return await run_workflow(
            workflow, services=engine, run_id=run_id, max_concurrency=self._max_concurrency
        )
