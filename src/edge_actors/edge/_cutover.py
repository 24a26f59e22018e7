"""The one-call cutover of a workload, run on its source edge (edge layer).

:class:`CutoverSaga` runs ``POST /admin/workloads/{w}/cutover``: check the target, hold
writes, ship the final delta, have the target confirm LSN and digest and go ``active``,
flip the route here to ``moved`` and release the held writes (which the router then
forwards to the target). A small final delta (the usual case: the writes since the last
delta round) goes inside the activation call, which the target applies to its
``incoming`` copy before its checks; a larger one over a peer stream, before the call
(:mod:`._final_delta`).
Every step after the hold is undone on failure: target back to ``incoming``, route here
unchanged, hold released. Failures are raised as :class:`CutoverFailed` naming the step;
the HTTP layer maps it.

Fencing (:mod:`._fence`): the request's epoch is admitted here first, and the target's
activation carries the same epoch, so activating the target and retiring the source are
one epoch step. Before it holds writes this edge durably marks the workload
``retiring_to`` the target (so the hold waits for no fsync of it): if it is killed before
its ``moved`` route is durable, it comes back redirecting the workload's requests to the
target instead of serving them (never two copies accepting writes). The mark is
*unarmed* until the activation call: writes that passed the gate still apply here (the
target cannot be active yet); armed, it redirects them (:meth:`EpochFence.arm`, which
also notes this edge's digest at the hold LSN, written with the flip's clearing of the
mark). The mark is cleared once the ``moved`` route is durable, or, after the held writes
were released, when the cutover was undone before its activation, the undo has put the
target back to ``incoming``, or the target refused the activation in time (a crash in
between comes back redirecting to an incoming target, which the control plane settles
back to this edge); it stays when the undo could not reach the target.

The flip is off the hold's critical path: it sets the route ``moved`` in memory and
releases the held writes at once (the router forwards them, and every later request, to
the target), then makes the route durable (fsync in a worker thread) and only then clears
the mark, before it answers. A ``kill -9`` at any point of that:

* before the route is durable: the restarted edge has the route ``active`` and the mark,
  so it redirects to the target, which is active (the writes it forwarded and the
  target acknowledged are there); the control plane settles ownership (target, by epoch);
* after the route is durable, before the mark is cleared: ``moved`` and the mark, both
  redirect to the target;
* no write was acknowledged here after the hold: held writes are only ever forwarded.

The same order (route durable first, then the mark cleared) holds for every explicit
route change (``WorkloadRouter.set_route``), so no crash leaves an unmarked ``active``
route behind a target that went active.

Deadline (``CutoverRequest.deadline_ms``; the migration sends ``max_downtime``, all of
it): every step from the hold to the release, the flip included, is planned to fit in it,
counted from the hold (:mod:`._hold_budget`, from this edge's measured step times). The
activation is started only if its planned time and the flip still fit, else the cutover
is undone before it (nothing on the target changed: no call, the hold ends at once); the
final delta is cut when that activation could no longer follow it; a started activation
is cut at the deadline less the flip's reserve and the undo call's. An undo before the
activation releases the hold at once: the final delta's transfer winds down after the
release (it only ever sends records up to the hold LSN to a target that is still
``incoming``). An activation cut at its deadline is undone with a call to the target
(which answers at once when it had not begun its durable writes:
``WorkloadRouter.undo_unbegun``) that may take up to the budget again (its timeout): a
stalled target therefore holds writes here for at most twice the budget (then they are
released to this edge, or redirected to the target when the undo could not reach it),
never for the admin calls' own timeouts. That call says ``keep_if_active``: a target
whose activation had begun its durable write waits for it and, if it stood, keeps it and
answers ``active`` (:mod:`._activation_writes`); the cutover then flips, late, instead of
waiting for a second durable write to undo what was about to stand and trying again.
The cut activation's own call is not abandoned: it races the undo call
(:class:`._activation_call.ActivationCall`), and whichever first says the target is
active ends the hold (the undo call, which could then only keep it, is dropped). In the
wide-plan benchmark every hold over its deadline was such a kept activation, kept by an
undo call 5-47 ms after the cut while the activation's answer was on its way.

Holds first (:mod:`._urgent`): from just before the hold to the release, the cutover is
registered as urgent work on this edge, so every background copy leaving it (other
workloads' bulk and delta transfers) pauses at its next chunk boundary and the loop is
left to the hold's own steps; the final delta itself never waits. On the target the
activation is urgent work the same way. Each registration is bounded (twice the deadline,
or the hold's lease without one), so copies are never stalled by a hold gone wrong.
The cuts are timers on a loop that other work may keep busy: the plan keeps the loop's
recent lateness (:mod:`._loop_lag`) in reserve, so a cut that fires late still ends the
hold inside its deadline.
"""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from edge_actors.clock import SYSTEM_CLOCK

from ._activation_call import ActivationCall
from ._client import AdminClient
from ._cutover_undo import CutoverUndo, UndoCall, late_answer
from ._errors import EdgeError, EdgeHTTPError
from ._final_delta import FinalDelta, Sent
from ._hold_budget import HoldBudget, StepLaps, StepTimes
from ._loop_lag import LoopLag
from ._models import CutoverAnswer
from ._prepare import announce, prepare_target
from ._refusals import ActivationTooLate, CutoverFailed, WorkloadNotActive
from ._test_hooks import PauseHook
from ._urgent import UrgentWork

if TYPE_CHECKING:
    from collections.abc import Callable

    import aiohttp
    from anyio.abc import TaskGroup

    from edge_actors.clock import Clock

    from ._models import (
        ActivateRequest,
        CutoverRequest,
        PrepareActivation,
        PreparedActivation,
        WorkloadInfo,
    )
    from ._router import WorkloadRouter
    from ._transfer_api import Transfers

__all__ = ["CutoverSaga"]

_PEER_CALL_TIMEOUT_S = 10.0  # a cutover's admin calls to the target


def _failed_before_hold(
    name: str, req: CutoverRequest, step: str, edge: str, exc: Exception
) -> CutoverFailed:
    """The error of a cutover that failed at ``step``, before anything was held."""
    return CutoverFailed(
        f"cutover of {name!r} to {req.target_name} failed at step {step!r}: {exc}; "
        f"nothing was held, {edge} still serves it"
    )


class CutoverSaga:
    """Cuts workloads over from this edge to a target edge, one call each.

    Args:
        router: This edge's router (routes, holds, stores).
        transfers: This edge's outgoing transfers (the final delta runs as one).
        session: Returns the daemon's pooled HTTP session (admin calls to the target).
        pause: The test hook that pauses a step (:mod:`._test_hooks`; off by default).
        clock: The clock holds are timed by (the daemon's; the deadline is counted on it).
        urgent: Where holds and activations register as urgent work, so background
            copies give way (the daemon's; default: a private one no copy waits at).
        loop_lag: The loop's recent timer lateness during holds, kept in reserve by every
            hold's plan (the daemon's, probed by its task; default: a fresh one, which
            reports 0).
    """

    def __init__(
        self,
        router: WorkloadRouter,
        transfers: Transfers,
        session: Callable[[], aiohttp.ClientSession],
        pause: PauseHook | None = None,
        clock: Clock = SYSTEM_CLOCK,
        *,
        urgent: UrgentWork | None = None,
        loop_lag: LoopLag | None = None,
    ) -> None:
        self._router = router
        self._transfers = transfers
        self._session = session
        self._pause = pause or PauseHook()
        self._clock = clock
        self._urgent = urgent or UrgentWork(router.name, router.metrics, clock)
        self._loop_lag = loop_lag or LoopLag(self._urgent)
        self.times = StepTimes()
        """Recent step times of this edge's cutovers: what the next hold's plan expects."""
        self._final = FinalDelta(router, transfers, self.times)
        self._undo = CutoverUndo(router, self.times)

    async def activate(self, name: str, req: ActivateRequest) -> WorkloadInfo:
        """The target's side of a cutover: confirm ``req.min_lsn`` (and digest), go active.

        Pauses first at the ``activating`` test step (off by default), so a test can make
        the activation act late, after the source has undone the cutover.

        Raises:
            StaleEpoch: ``req.epoch`` is lower than one seen here, or was burned here by
                an undo (a late activation: nothing changed).
            CutoverInProgress, NoSuchWorkload, WorkloadIsMoved, LsnBehind,
                DigestMismatch: Not activated (nothing changed).
        """
        received = time.perf_counter()
        try:
            await self._pause.reached("activating")
            self._router.check_no_cutover(name)
            with self._urgent.running(self._clock.monotonic() + _PEER_CALL_TIMEOUT_S):
                return await self._router.activate(
                    name,
                    req.min_lsn,
                    req.digest,
                    req.epoch,
                    delta=req.delta,
                    within_s=None if req.within_ms is None else req.within_ms / 1000,
                    received=received,
                )
        finally:
            self._urgent.expected_done(name)

    async def prepare(self, name: str, req: PrepareActivation) -> PreparedActivation:
        """The target's side of a cutover, before the source holds anything
        (:func:`._prepare.prepare_target`).

        Raises:
            NoSuchWorkload: Unknown workload (nothing expected).
        """
        return await prepare_target(self._router, self._urgent, self._clock, name, req)

    async def run(self, name: str, req: CutoverRequest) -> CutoverAnswer:
        """Cut ``name`` over to ``req.target_url`` in one call (this edge is the source).

        Checks the target first (reachable, token accepted, not ``moved``; nothing held
        yet), then holds writes (waiting for in-flight ones), ships the final delta
        ``(req.from_lsn, hold LSN]`` over the peer stream, has the target confirm LSN and
        digest and go ``active`` (one admin call), flips the route here to ``moved``,
        releases the held writes, which are forwarded to the target, and persists the
        route before answering (module doc).
        The steps run shielded: a client that goes away does not stop them halfway.

        Raises:
            NoSuchWorkload: Unknown workload (or no data here).
            StaleEpoch: ``req.epoch`` is lower than one seen here (nothing held).
            WorkloadNotActive: Not active here.
            CutoverInProgress: A cutover of ``name`` is already running.
            CutoverFailed: A step failed (named), after the undo: target back to
                ``incoming``, route here unchanged, hold released.
        """
        router = self._router
        route = router.route_with_data(name)
        router.fence.check(name, req.epoch)  # a stale command is refused first
        try:
            # A running cutover's own mark serves reads here; an interrupted one's must
            # go on redirecting them, so none runs beside it, not even to be refused.
            router.fence.check_unmarked(name)
        except EdgeError as exc:
            raise _failed_before_hold(name, req, "mark", router.name, exc) from exc
        if route.status != "active":
            raise WorkloadNotActive(
                f"workload {name!r} is {route.status} on {router.name}; only an active "
                "workload can be cut over"
            )
        # Marked running before the first await: a second cutover, a hold or a route
        # change is refused from here on, while the epoch and the binding are written.
        with router.cutting_over(name):
            # The moved copy a cutover leaves is the source side of this migration's
            # rollback: bound to it first, with the epoch, in one write (on a refused
            # cutover, nothing else changed).
            await router.admit_and_bind(name, req.epoch, req.migration_id)
            with anyio.CancelScope(shield=True):
                answer = await self._run(name, req)
        return answer

    async def _run(self, name: str, req: CutoverRequest) -> CutoverAnswer:
        router = self._router
        target = AdminClient(
            req.target_url, req.target_token, session=self._session(), timeout=_PEER_CALL_TIMEOUT_S
        )
        log = router.log.bind(workload=name, migration_id=req.migration_id, target=req.target_name)
        step = "check_target"
        try:
            # Before holding anything: the target answers, accepts the token and has the
            # workload incoming, expects the activation and has no flush in flight (this
            # also warms the pooled connection for "activate", and times a call to the
            # target for the hold's plan, its wait for flushes left out).
            before, round_trip_s = await announce(target, name, req, router)
            if before.status == "moved":
                raise EdgeError(f"the target has {name!r} as moved, not incoming")
            # The retiring_to mark is made durable before the hold, so the hold waits for
            # no write here; unarmed, it redirects nothing while writes still apply here.
            step = "mark"
            called = time.perf_counter()
            await router.fence.mark_retiring(name, req.target_url)
            self.times.record("state_write", time.perf_counter() - called)
        except Exception as exc:
            log.warning("cutover_failed", step=step, error=str(exc))
            raise _failed_before_hold(name, req, step, router.name, exc) from exc
        try:
            await self._pause.reached("retiring_marked")
            return await self._held(name, req, target, round_trip_s, log)
        finally:
            # A cutover undone before its activation (the mark never armed) clears it
            # here, after the hold's release: writes apply here meanwhile.
            await self._clear_unarmed(name, log)

    async def _clear_unarmed(self, name: str, log: Any) -> None:
        """Clear a retiring_to mark that was never armed; log a failed write (the file
        then keeps the mark, which only redirects after a crash, until settled)."""
        try:
            await self._router.fence.clear_unarmed(name)
        except (EdgeError, OSError) as exc:
            log.warning("cutover_mark_not_cleared", error=str(exc))

    async def _held(
        self, name: str, req: CutoverRequest, target: AdminClient, round_trip_s: float, log: Any
    ) -> CutoverAnswer:
        """Hold writes and run the steps inside the hold (:meth:`_hold`) as urgent work."""
        router = self._router
        gate = router.gate(name)
        laps = StepLaps()
        deadline_s = None if req.deadline_ms is None else req.deadline_ms / 1000
        lease_s = router.hold_timeout_s if req.lease_s is None else req.lease_s
        urgent_s = lease_s if deadline_s is None else min(lease_s, 2 * deadline_s)
        outcome: CutoverAnswer | BaseException
        with self._urgent.running(self._clock.monotonic() + urgent_s) as urgent_done:
            hold_lsn, _ = await router.hold(name, req.lease_s)
            laps.lap("hold")
            held_since = gate.held_since
            budget = HoldBudget(
                self._clock,
                self._clock.monotonic() if held_since is None else held_since,
                deadline_s,
                self.times,
                round_trip_s,
                lag_s=self._loop_lag.recent_s(),
            )
            # The final delta's transfer runs in this group: a cut one winds down here
            # after the undo released the hold, not inside it (nor as urgent work).
            async with anyio.create_task_group() as winding_down:
                try:
                    outcome = await self._hold(
                        name, req, target, hold_lsn, budget, laps, winding_down, log
                    )
                except BaseException as exc:  # re-raised below, outside the task group
                    outcome = exc
                finally:
                    urgent_done()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def _hold(
        self,
        name: str,
        req: CutoverRequest,
        target: AdminClient,
        hold_lsn: int,
        budget: HoldBudget,
        laps: StepLaps,
        tasks: TaskGroup,
        log: Any,
    ) -> CutoverAnswer:
        """The steps inside the hold (see :meth:`run`), each within ``budget``."""
        router = self._router
        store = router.registry.get(name)
        gate = router.gate(name)
        hold_id = gate.hold_id
        activating = False
        undo_call: UndoCall | None = None
        cut_ms: float | None = None  # when the activation was cut (from the hold)
        step = "final_delta"
        try:
            sent = await self._final.inline(name, req, hold_lsn, budget)
            if sent is None:
                sent = Sent.streamed(await self._final.stream(name, req, hold_lsn, budget, tasks))
            laps.lap("final_delta")
            self.times.record("final_delta", laps.steps["final_delta"] / 1000)
            step = "activate"
            if budget.bounded and not budget.activation_fits():
                plan = budget.describe()  # before the refusal counts (it may start a probe)
                self.times.refused_by_forecast()
                raise EdgeError(
                    "undone before the activation, within the cutover's deadline of "
                    f"{req.deadline_ms:g} ms (counted from the hold): {plan}"
                )
            own = await store.stats()
            activating = True  # from here the target may be active: undone on failure
            router.fence.arm(name, (hold_lsn, own.digest))
            if sent.changes:  # a stream's frames are counted by the transfer layer
                router.metrics.transfer_sent_bytes.labels(router.name, req.target_name).inc(
                    sent.wire_bytes
                )
            call = ActivationCall(
                partial(
                    target.activate,
                    name,
                    min_lsn=hold_lsn,
                    digest=own.digest,
                    epoch=req.epoch,
                    delta=sent.changes,
                    within_ms=budget.target_within_ms(),
                )
            )
            async with anyio.create_task_group() as calls:
                calls.start_soon(call.run)
                with anyio.move_on_after(budget.activation_left()) as cut:
                    await call.answered.wait()
                laps.lap("activate")  # until the answer, or until the cut
                if cut.cancelled_caught:
                    plan = budget.describe()
                    cut_ms = budget.held_ms()
                    undo_call = await call.or_undo(
                        partial(
                            self._undo.call,
                            name,
                            target,
                            budget,
                            req.epoch,
                            log,
                            keep_if_active=True,
                        ),
                        partial(late_answer, log),
                    )
                calls.cancel_scope.cancel()  # an activation the undo call answered for
            if undo_call is None:
                confirmed = call.result()  # or its error (a refusal in time, a failure)
            elif undo_call.kept is None:
                raise EdgeError(
                    f"the activation was cut to keep the hold within the cutover's "
                    f"deadline of {req.deadline_ms:g} ms (counted from the hold): {plan}"
                )
            else:
                confirmed = undo_call.kept  # it had become durable: flip, late
                laps.lap("kept")  # until it was found durable: why this hold ran late
            activated_ms = laps.steps["activate"] + laps.steps.get("kept", 0.0)
            self.times.record("activate", activated_ms / 1000)
            await self._pause.reached("target_activated")
            step = "flip"
            if not gate.held or gate.hold_id != hold_id or store.lsn != hold_lsn:
                raise EdgeError(
                    f"the hold was lost (lease expired or released; LSN now {store.lsn}, "
                    f"hold LSN {hold_lsn})"
                )
            held_writes, held_ms = router.flip(name, req.target_url)
            laps.lap("flip")
            self.times.record("flip", laps.steps["flip"] / 1000)
        except BaseException as exc:
            undo_began_ms = budget.held_ms() if cut_ms is None else cut_ms
            refused_in_time = isinstance(exc, EdgeHTTPError) and exc.code == ActivationTooLate.code
            undone, held_ms = await self._undo.undo(
                name,
                target,
                activating,
                budget,
                req.epoch,
                log,
                refused=refused_in_time,
                called=undo_call,
            )
            if budget.final_delta_cut_ms is not None:
                # How late the cut ended the hold (timer, cancellation, undo): the next
                # plans keep that in reserve too.
                self.times.record("cut_late", (held_ms - budget.final_delta_cut_ms) / 1000)
            log.warning(
                "cutover_failed",
                step=step,
                error=str(exc),
                undo=undone,
                held_ms=round(held_ms, 3),
                undo_began_ms=round(undo_began_ms, 3),
                reserve_ms=round(budget.reserve_s * 1000, 3),
            )
            if isinstance(exc, Exception):
                raise CutoverFailed(
                    f"cutover of {name!r} to {req.target_name} failed at step {step!r}: "
                    f"{exc}; {undone} (writes were held {held_ms:.1f} ms)",
                    held_ms=held_ms,
                ) from exc
            raise
        # Released: the writes go to the target now. The route is made durable before the
        # answer; until then the retiring_to mark covers a crash (module doc).
        await self._pause.reached("source_flipped")
        persisting = time.perf_counter()
        await router.persist_flip(name)
        log.info(
            "cutover_done",
            hold_lsn=hold_lsn,
            target_lsn=confirmed.lsn,
            held_writes=held_writes,
            held_ms=round(held_ms, 3),
            steps_ms=laps.steps,
            persist_ms=round((time.perf_counter() - persisting) * 1000, 3),
        )
        return CutoverAnswer(
            hold_lsn=hold_lsn,
            target_lsn=confirmed.lsn,
            digest=confirmed.digest,
            held_writes=held_writes,
            held_ms=round(held_ms, 3),
            moved_to=req.target_url.rstrip("/"),
            records=sent.records,
            steps_ms=laps.steps,
            raw_bytes=sent.raw_bytes,
            wire_bytes=sent.wire_bytes,
        )
