"""One activation call of a cutover, owned by a task (edge layer).

A cutover's source cuts its wait for the target's activation at the hold's deadline
(:mod:`._hold_budget`), but the call itself may still answer: :class:`ActivationCall`
runs it in a task of the cutover, so its answer can be awaited until the cut and still
taken after it, raced with the undo call (:meth:`ActivationCall.or_undo`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import anyio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._models import WorkloadInfo

__all__ = ["ActivationCall"]

UndoT = TypeVar("UndoT")


class ActivationCall:
    """The target's answer to one activation, once it has one.

    Args:
        call: makes the call (the target's ``activate``); run once by :meth:`run`.
    """

    def __init__(self, call: Callable[[], Awaitable[WorkloadInfo]]) -> None:
        self._call = call
        self.answered = anyio.Event()
        self.info: WorkloadInfo | None = None
        """The activated workload, when the call succeeded."""
        self.error: Exception | None = None
        """Why the call failed (a refusal, a connection error), when it did."""

    async def run(self) -> None:
        """Make the call and keep its outcome (a cancelled call keeps none)."""
        try:
            self.info = await self._call()
        except Exception as exc:  # kept for the cutover, which raises it in its own task
            self.error = exc
        self.answered.set()

    def result(self) -> WorkloadInfo:
        """The activated workload, or the call's error raised.

        Raises:
            Exception: what the call raised.
            RuntimeError: the call has not answered.
        """
        if self.error is not None:
            raise self.error
        if self.info is None:
            raise RuntimeError("the activation call has not answered")
        return self.info

    async def or_undo(
        self, undo: Callable[[], Awaitable[UndoT]], kept: Callable[[WorkloadInfo], UndoT]
    ) -> UndoT:
        """After the cut: ``undo`` (the call that sets the target back to ``incoming``
        unless its activation stands) raced with this call's late answer. An answer that
        the target is active ends the race at once, as ``kept(info)`` (the undo could
        only have kept it; it is dropped); otherwise the undo's outcome decides (a late
        refusal changed nothing on the target)."""
        outcome: list[UndoT] = []
        async with anyio.create_task_group() as race:

            async def undo_then_stop() -> None:
                outcome.append(await undo())
                race.cancel_scope.cancel()

            race.start_soon(undo_then_stop)
            await self.answered.wait()
            if self.info is not None:
                race.cancel_scope.cancel()
                return kept(self.info)
        return outcome[0]
