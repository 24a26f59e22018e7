"""The undo of a cutover that failed after its hold (edge layer).

:class:`CutoverUndo` puts things back for :class:`~._cutover.CutoverSaga`: the route here
as it was, the target back to ``incoming`` when it may have gone active (one admin call,
:meth:`CutoverUndo.call`, which may find the activation durable and keep it), the hold
released, and the ``retiring_to`` mark cleared once nothing can be active on the target.
When the target cannot be reached, the mark stays, so this edge redirects rather than
serve a second active copy until the control plane settles ownership.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import aiohttp
import anyio

from ._errors import EdgeHTTPError

if TYPE_CHECKING:
    from ._client import AdminClient
    from ._hold_budget import HoldBudget, StepTimes
    from ._models import WorkloadInfo
    from ._router import WorkloadRouter

__all__ = ["CutoverUndo", "UndoCall", "late_answer"]


class UndoCall(NamedTuple):
    """How the call that undoes an activation went: ``undone`` (the target is back to
    ``incoming``), ``kept`` (its activation had become durable: its answer, ``kept``), or
    ``unreached`` (failed or timed out: ``error``)."""

    outcome: Literal["undone", "kept", "unreached"]
    kept: WorkloadInfo | None
    error: str | None


def late_answer(log: Any, info: WorkloadInfo) -> UndoCall:
    """A cut activation whose own answer said active before its undo call answered."""
    log.info("cutover_late_answer", status=info.status)
    return UndoCall("kept", info, None)


class CutoverUndo:
    """Undoes the failed cutovers of ``router`` (the source), timing the calls that put
    a target back to ``incoming`` into ``times`` (the next holds' plans keep them in
    reserve)."""

    def __init__(self, router: WorkloadRouter, times: StepTimes) -> None:
        self._router = router
        self._times = times

    async def call(
        self,
        name: str,
        target: AdminClient,
        budget: HoldBudget,
        epoch: int | None,
        log: Any,
        *,
        keep_if_active: bool = False,
    ) -> UndoCall:
        """Ask the target to put ``name`` back to ``incoming`` at ``epoch``.

        ``keep_if_active`` (an activation cut at its deadline): a target whose activation
        at ``epoch`` is durable, or finishes its durable write meanwhile, keeps it and
        answers ``active`` (outcome ``kept``): one fsync's wait instead of two, and the
        cutover goes on to its flip. A target from before that field refuses the body
        (400); the call is then made again without it.
        """
        started = time.perf_counter()
        try:
            with anyio.fail_after(budget.undo_timeout_s):
                info = await _set_back(target, name, epoch, keep_if_active=keep_if_active)
        except (EdgeHTTPError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            # A call that failed or timed out is planned for too (a cancelled one is not:
            # it was dropped, not slow).
            self._times.record("undo_call", time.perf_counter() - started)
            log.warning("cutover_undo_target_failed", error=str(exc))
            return UndoCall("unreached", None, str(exc))
        self._times.record("undo_call", time.perf_counter() - started)
        kept = keep_if_active and info.status == "active"
        call_ms = round((time.perf_counter() - started) * 1000, 3)
        log.info("cutover_undo_call", call_ms=call_ms, kept=kept)
        return UndoCall("kept", info, None) if kept else UndoCall("undone", None, None)

    async def undo(
        self,
        name: str,
        target: AdminClient,
        activating: bool,
        budget: HoldBudget,
        epoch: int | None,
        log: Any,
        *,
        refused: bool = False,
        called: UndoCall | None = None,
    ) -> tuple[str, float]:
        """Put routing back as it was before a failed cutover and release the hold.

        ``called``: the undo call already made for a cut activation (not made again,
        unless the target kept the activation and a later step failed).

        The call that puts the target back to ``incoming`` is expected to fit in the
        budget's reserve; it may take up to the whole budget again (its timeout), so a
        target that stalls cannot hold writes here past twice the budget.
        When the target may have gone active and cannot be put back to ``incoming``, the
        ``retiring_to`` mark stays: this edge redirects to the target rather than serve
        a second active copy (the control plane settles it).

        Once the target is back to ``incoming``, or it ``refused`` the activation in time
        (it wrote nothing: no call), the held writes are released first and the
        ``retiring_to`` mark is cleared after (its fsync is not inside the hold): a crash
        in between comes back redirecting to an incoming target, never serving a second
        copy; the control plane settles it.

        Returns:
            What the undo did, for the error message, and how long writes were held (ms).
        """
        router = self._router
        clear_mark = refused
        done = f"{router.name} still serves it, held writes released"
        if refused:
            done += "; the target refused the activation in time (nothing changed there)"
        route = router.route_of(name)
        if route is not None and route.status == "moved":
            try:
                await router.set_route(name, "active", None)  # shielded: see CutoverSaga.run
            except Exception:
                log.exception("cutover_undo_route_failed")
        if activating and not refused:
            if called is None or called.outcome == "kept":
                # A kept activation whose flip then failed (the hold was lost) is undone
                # for real: the target must not stay active beside this edge.
                called = await self.call(name, target, budget, epoch, log)
            if called.outcome == "unreached":
                done = (
                    f"setting the target back to incoming failed ({called.error}): "
                    f"{router.name} redirects to the target until ownership is settled, "
                    "held writes released"
                )
            else:
                clear_mark = True
                done += "; the target is back to incoming"
        _, held_ms = await router.release(name, None, reason="cutover_failed")
        if clear_mark:
            await router.fence.retire(name, None)
        return done, held_ms


async def _set_back(
    target: AdminClient, name: str, epoch: int | None, *, keep_if_active: bool
) -> WorkloadInfo:
    """``PUT .../status`` ``incoming`` at ``epoch`` on ``target``; an edge from before
    ``keep_if_active`` refuses that field (400), so the call is then made without it."""
    try:
        return await target.set_status(name, "incoming", epoch=epoch, keep_if_active=keep_if_active)
    except EdgeHTTPError as exc:
        if not keep_if_active or exc.status != 400:
            raise
    return await target.set_status(name, "incoming", epoch=epoch)
