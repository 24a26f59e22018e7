"""Delta rounds and cutover groups of a run's workloads (layer: migration).

:class:`Rounds` is the part of a migration run that decides which workloads a delta round
ships and which cutovers run together: a wide plan (many workloads) ships each round only
for the workloads that need it, within the plan's and the link's transfer slots
(:mod:`._slots`), and cuts them over in groups whose estimated holds fit ``max_downtime``
(:mod:`._cutovers`). A cutover its source undid goes back to the pool and is retried later
in the same run (new epoch, backoff, up to ``cutover_attempts``): the other workloads'
cutovers and rounds go on. The phases (``_phases.py``) build on it.
"""

from __future__ import annotations

import math
import time
import uuid
from typing import TYPE_CHECKING

import anyio

from ._cutovers import (
    MAX_CATCH_UPS,
    QUIET_AFTER_UNDONE,
    RETRY_BACKOFF,
    CutoverBrake,
    CutoverUndone,
    needs_round,
    next_group,
)
from ._errors import EdgeUnreachable, MigrationError
from ._gateway import CutoverSpec
from ._runner import MigrationFailure
from ._settle import Ownership
from ._strategies import RoundEstimator

if TYPE_CHECKING:
    from ._gateway import EdgeWorkload
    from ._handoff import WaveHandoff

__all__ = ["Rounds"]


class Rounds(Ownership):
    """Round and cutover scheduling, on top of the run's state and plumbing."""

    hold_bias_s = 0.0
    """What this run's holds took beyond their estimates, smoothed (each cutover's
    measured hold against the estimate made before it); every later estimate adds it,
    so the first cutovers of a wide plan calibrate the rest."""

    def _estimate(self, names: list[str]) -> None:
        """Give each of ``names`` without one a round estimator, seeded with its planned
        average change size (1 KiB when the plan has no estimate of it)."""
        sizes = {e.workload: e for e in self.plan.estimates}
        for w in names:
            est = sizes.get(w)
            avg = est.bytes / est.records if est is not None and est.records else 1024.0
            self.estimators.setdefault(w, RoundEstimator(avg))

    def _count_hold(self, held_ms: float) -> None:
        """Count one cutover attempt's write hold, successful or undone."""
        m = self.metrics
        m.cutover_attempts += 1
        m.downtime_worst_ms = max(m.downtime_worst_ms, held_ms)
        m.downtime_total_ms += held_ms
        if held_ms > self.plan.constraints.max_downtime_s * 1000:
            m.holds_over_max_downtime += 1

    async def _cutover_undone(self, w: str, exc: EdgeUnreachable, call_ms: float) -> CutoverUndone:
        """Count a failed cutover's hold and journal the undone attempt (a run restarted
        from this checkpoint knows it: ``undone_cutovers``); return what to raise."""
        held_ms = exc.held_ms if exc.held_ms is not None else call_ms
        self._count_hold(held_ms)
        self.wl[w].undone_cutovers += 1
        self.log.warning(
            "migration.cutover_undone",
            workload=w,
            held_ms=round(held_ms, 3),
            measured_by="source" if exc.held_ms is not None else "call",
            undone=self.wl[w].undone_cutovers,
            error=str(exc),
        )
        await self.checkpoint("cutover undone")
        return CutoverUndone(exc, held_ms)

    async def _cutover_one(self, w: str) -> None:
        """Cut ``w`` over with one call to the source edge (hold, final delta, target
        confirm + activate, flip, release all happen there; a failure is undone there).

        The call carries the hold's deadline: ``max_downtime``, all of it and nothing
        added (the source counts it from the hold and fits every step in it, the flip or
        the undo included). Every attempt's hold is counted; a failed one is journaled,
        and the round scheduling (``_rounds``) retries it later.

        Raises:
            CutoverUndone: The call failed (the source undid the cutover, or did not
                answer: the retry first learns the outcome from the edges).
        """
        plan, wc = self.plan, self.wl[w]
        info = await self.gw.workload_info(plan.source_edge, w)
        est = self.estimators.get(w)
        if est is not None:
            expected = est.expected_downtime_s(max(0, info.lsn - wc.acked_lsn))
            if not math.isinf(expected):
                self.metrics.expected_downtime_ms[w] = expected * 1000
        owner = await self.hand_over(w, plan.source_edge, plan.target_edge)
        spec = CutoverSpec(
            epoch=owner.epoch,
            transfer_id=f"{self.mid}-{w}-cutover-{uuid.uuid4().hex[:8]}",
            migration_id=self.mid,
            workload=w,
            from_lsn=wc.acked_lsn,
            batch_size=plan.sync_batch_size,
            compression=plan.enable_compression,
            lease_s=self.hold_lease_s(),
            deadline_ms=plan.constraints.max_downtime_s * 1000,
        )
        # The source finishes or undoes the cutover itself; do not abandon the call. Only
        # the call is shielded: an ask to a supervisor that is stopping would never be
        # answered, so the outcome is journaled outside (a stop cancels there, and the
        # next run learns the cutover from the edges).
        started = time.monotonic()
        failed: EdgeUnreachable | None = None
        with anyio.CancelScope(shield=True):
            try:
                result = await self.gw.cutover(plan.source_edge, plan.target_edge, spec)
            except EdgeUnreachable as exc:
                failed = exc
        own_ms = (time.monotonic() - started) * 1000
        if failed is not None:
            raise await self._cutover_undone(w, failed, own_ms) from failed
        # The hold and the final delta happened: count them before the ask below, which a
        # pause or a stop may cancel (the next run learns the cutover from the edges).
        self.account_shipped(result.raw_bytes, result.wire_bytes, result.records)
        self.metrics.downtime_ms[w] = result.held_ms if result.held_ms > 0 else own_ms
        self._count_hold(self.metrics.downtime_ms[w])
        await self.settle_owner(w, plan.target_edge, owner.epoch)
        wc.routing = "target"
        wc.cutover_lsn = result.hold_lsn
        wc.acked_lsn = max(wc.acked_lsn, result.hold_lsn)
        self.live_acked[w] = wc.acked_lsn
        # The digest is the target's at the hold LSN (confirmed equal to the source's).
        wc.target_digest = result.digest if result.target_lsn == result.hold_lsn else None
        self.log.info(
            "migration.cutover",
            workload=w,
            hold_lsn=result.hold_lsn,
            held_ms=result.held_ms,
            held_writes=result.held_writes,
            steps_ms=result.steps_ms,
            call_ms=round(own_ms, 3),
        )

    def _due(
        self, names: list[str], gaps: dict[str, int], rounds_here: int, interval: float | None
    ) -> list[str]:
        """The workloads the next round ships. Unpaced delta rounds of a wide plan ship
        only those not converged or worth another round (one busy workload does not
        make every other one pay a transfer's fixed cost per round); the first round
        and paced rounds ship every gap."""
        if rounds_here == 0 or interval:
            return names
        c = self.plan.constraints
        due = [
            w
            for w in names
            if gaps[w] > 0
            and (
                not self.estimators[w].converged(gaps[w], c.max_downtime_s)
                or self.estimators[w].worth_another_round(gaps[w])
            )
        ]
        return due or names

    async def _ship_round(
        self,
        names: list[str],
        targets: dict[str, int],
        gaps: dict[str, int],
        *,
        counted: bool = True,
    ) -> None:
        """One delta round: ship each workload's gap up to ``targets`` (within the
        plan's and the link's transfer slots) and feed the estimators. ``counted``: the
        round spends one of ``max_rounds`` (``metrics.rounds`` counts every round)."""
        elapsed = await self.ship_all(
            {w: (self.wl[w].acked_lsn, targets[w]) for w in names if gaps[w] > 0}
        )
        for w in names:
            raw, records = self.shipped.pop(w, (0, 0))
            # Nothing acknowledged (the target already had it): count the gap instead.
            raw = raw or int(self.estimators[w].delta_bytes(gaps[w]))
            self.estimators[w].record_round(raw, elapsed.get(w, 0.0), 0, records)
        if counted:
            self.round += 1
        self.metrics.rounds += 1

    async def _checkpoint_due(self) -> None:
        if self.clock.monotonic() - self.last_checkpoint >= self.plan.checkpoint_interval_s:
            await self.checkpoint("interval")

    async def _cutover(self, names: list[str], *, handoff: WaveHandoff | None = None) -> None:
        """Cut ``names`` over in groups whose estimated holds fit ``max_downtime``
        (:mod:`._cutovers`); a workload whose own estimate does not fit gets another
        delta round first (all such workloads of the plan in one round when the phase
        starts, then per window). Each cutover holds one of the plan's and the link's
        transfer slots from before its hold (its final delta is a transfer).

        A cutover the source undid does not end the run: the workload waits out
        :data:`RETRY_BACKOFF` in the pool (the others go on), then is grouped again (with
        a delta round first if its gap needs one); its ``cutover_attempts``-th undone
        attempt in this run is a crash, as every undone cutover was before (the run
        restarts from its checkpoint). While most of the recent attempts were undone
        (:class:`CutoverBrake`), cutovers run one at a time.

        ``handoff``: a pipelined stage's copied waves (:meth:`Pipeline._pipeline`). They
        join the pool as they come (a workload waiting for its retry does not hold them
        back), the phase stays ``sync`` (the copy task enters ``cutover`` with its last
        wave), and the pool's size goes back to the copy task; while the brake is on, or
        a workload of the pool has been undone :data:`QUIET_AFTER_UNDONE` times, no new
        copy starts and each cutover waits for the copies in flight."""
        if handoff is None:
            await self.enter("cutover")
        c = self.plan.constraints
        pending: list[str] = []
        self._resume_bias()
        catch_ups: dict[str, int] = {}
        undone: dict[str, int] = {}  # undone attempts per workload in this run
        retry_at: dict[str, float] = {}  # the clock's monotonic time of the next attempt
        brake = CutoverBrake()
        quiet = False
        arrived = list(names)
        while True:
            if handoff is not None:
                arrived += handoff.take()
            if arrived:
                await self._admit(arrived, catch_ups)
                pending += arrived
                arrived = []
            if handoff is not None:
                handoff.report(len(pending))
                # Cutovers undone again and again: let them retry with no copy running.
                quiet = brake.engaged or any(
                    undone.get(w, 0) >= QUIET_AFTER_UNDONE for w in pending
                )
                handoff.quiet(quiet)
            if not pending:
                if handoff is None or handoff.drained:
                    break
                await handoff.wait(self.clock)
                continue
            window = [w for w in pending if retry_at.get(w, 0.0) <= self.clock.monotonic()]
            if not window:
                # Every workload left waits for its retry: wait for the first one (or a wave).
                wait_s = min(retry_at[w] for w in pending) - self.clock.monotonic()
                if handoff is None or handoff.drained:
                    await self.clock.sleep(wait_s)
                else:
                    await handoff.wait(self.clock, wait_s)
                continue
            window = window[: self.gate.per_plan]
            if quiet and handoff is not None:
                await handoff.until_no_copy()
            src = await self.infos(self.plan.source_edge, window)
            gaps = {w: max(0, src[w].lsn - self.wl[w].acked_lsn) for w in window}
            for w in window:
                self.estimators[w].bias_s = self.hold_bias_s
            margin = {w for w in window if catch_ups.get(w, 0) < MAX_CATCH_UPS}
            group, too_slow = next_group(
                [(w, self.estimators[w], gaps[w]) for w in window],
                c.max_downtime_s,
                brake.group_size(self.gate.per_plan),
                margin=margin,
            )
            if too_slow:
                await self._catch_up_round(too_slow, src, gaps, catch_ups)
                continue
            failed: dict[str, CutoverUndone] = {}
            try:
                async with anyio.create_task_group() as tg:
                    for w in group:
                        tg.start_soon(self._cutover_slotted, w, failed)
            finally:
                for w in group:
                    self.estimators[w].sharing_s = 0.0
                # The group's holds reach the supervisor even when a member's failure
                # ends the run (the members that did cut over are not cut over again).
                self._record_downtime()
                self.publish(force=True)
            for w in group:
                if brake.record(w in failed):
                    self._braked(brake)
            for w, exc in failed.items():
                await self._retry_later(w, exc, undone, retry_at)
            pending = [w for w in pending if self.wl[w].routing != "target"]
            await self._checkpoint_due()
        await self.checkpoint("cutover done")

    def _braked(self, brake: CutoverBrake) -> None:
        """Count and log the brake's change (:class:`CutoverBrake`)."""
        if brake.engaged:
            self.metrics.cutover_brakes += 1
            self.log.warning("migration.cutover_brake", engaged=True, times=brake.engagements)
        else:
            self.log.info("migration.cutover_brake", engaged=False)

    async def _admit(self, names: list[str], catch_ups: dict[str, int]) -> None:
        """Take ``names`` into the cutover pool: estimators calibrated by the run's
        measured excess, and a delta round first for those that need one."""
        for w in names:
            self.estimators.setdefault(w, RoundEstimator(1024.0)).bias_s = self.hold_bias_s
        await self._catch_up(names, catch_ups)

    async def _retry_later(
        self, w: str, exc: CutoverUndone, undone: dict[str, int], retry_at: dict[str, float]
    ) -> None:
        """Put ``w``, whose cutover was undone, back in the pool for a later attempt.

        First the edges say what the attempt left (:meth:`learn_routing`): the owner
        record is settled back to the source (the retry takes a new epoch; the undone one
        stays burned on the target), an undo that could not reach the target is finished
        or undone, and a cutover whose answer was lost but that did switch counts as done.

        Raises:
            EdgeUnreachable: An edge does not answer (waited out by the run, as before).
            MigrationError: ``w``'s ``cutover_attempts``-th undone attempt in this run: a
                crash, as an undone cutover was before retries (the run restarts from
                its checkpoint within the restart policy).
        """
        await self.learn_routing(w)
        if self.wl[w].routing == "target":
            return
        undone[w] = undone.get(w, 0) + 1
        attempts = self.plan.constraints.cutover_attempts
        if undone[w] >= attempts:
            raise MigrationError(
                f"the cutover of {w!r} was undone {undone[w]} times in this run "
                f"(cutover_attempts {attempts}); last: {exc.error}"
            ) from exc.error
        delay = RETRY_BACKOFF.delay(undone[w] - 1)
        retry_at[w] = self.clock.monotonic() + delay
        self.log.info(
            "migration.cutover_retry", workload=w, attempt=undone[w] + 1, in_s=round(delay, 3)
        )

    def _resume_bias(self) -> None:
        """Take up the excess of the holds this migration journaled (a restarted run
        starts from the earlier runs' calibration, not from zero)."""
        m = self.metrics
        excess = [
            held - m.expected_downtime_ms[w]
            for w, held in m.downtime_ms.items()
            if w in m.expected_downtime_ms
        ]
        if excess:
            self.hold_bias_s = max(self.hold_bias_s, max(0.0, sum(excess) / len(excess)) / 1000)

    async def _catch_up(self, pending: list[str], catch_ups: dict[str, int]) -> None:
        """One delta round, when the cutover phase starts, for every workload that
        :func:`needs_round` (a restarted run's fresh estimators measure in one round)."""
        src = await self.infos(self.plan.source_edge, pending)
        gaps = {w: max(0, src[w].lsn - self.wl[w].acked_lsn) for w in pending}
        budget = self.plan.constraints.max_downtime_s
        due = [w for w in pending if needs_round(self.estimators[w], gaps[w], budget, margin=True)]
        if due:
            await self._catch_up_round(due, src, gaps, catch_ups)

    async def _catch_up_round(
        self,
        names: list[str],
        src: dict[str, EdgeWorkload],
        gaps: dict[str, int],
        catch_ups: dict[str, int],
    ) -> None:
        """Ship ``names``' gaps before their cutovers. Rounds here are counted per
        workload (``metrics.rounds`` counts them all): a workload still over the whole
        budget after ``max_rounds`` of them fails the run as not converging."""
        c = self.plan.constraints
        over = [
            w for w in names if self.estimators[w].expected_downtime_s(gaps[w]) > c.max_downtime_s
        ]
        spent = [w for w in over if catch_ups.get(w, 0) >= c.max_rounds]
        if spent:
            raise MigrationFailure(
                "; ".join(
                    self.estimators[w].not_converging_reason(
                        self.round + catch_ups[w], c.max_rounds, self.metrics.restarts
                    )
                    for w in spent
                )
            )
        for w in names:
            catch_ups[w] = catch_ups.get(w, 0) + 1
        self.log.info("migration.cutover_catch_up", workloads=names, over_budget=over)
        await self._ship_round(names, {w: src[w].lsn for w in names}, gaps, counted=False)

    async def _cutover_slotted(self, w: str, failed: dict[str, CutoverUndone]) -> None:
        """Cut ``w`` over within a transfer slot; an undone attempt goes to ``failed``.
        Every attempt's measured hold calibrates the later estimates (an undone one held
        at least until its deadline: the model missed at least that much)."""
        est = self.estimators[w]
        est.bias_s = self.hold_bias_s
        held_ms: float | None
        try:
            async with self.transfer_slot():
                await self._cutover_one(w)
        except CutoverUndone as exc:
            failed[w] = exc
            held_ms = exc.held_ms
        else:
            held_ms = self.metrics.downtime_ms.get(w)
        expected_ms = self.metrics.expected_downtime_ms.get(w)
        if held_ms is not None and expected_ms is not None:
            # What the model missed on this hold (bias excluded), smoothed, never < 0.
            missed = held_ms / 1000 - (expected_ms / 1000 - est.bias_s)
            self.hold_bias_s = max(0.0, 0.5 * self.hold_bias_s + 0.5 * missed)

    def _record_downtime(self) -> None:
        m, p = self.metrics, self.progress
        m.max_downtime_ms = max(m.downtime_ms.values(), default=0.0)
        p.measured_downtime_ms = m.max_downtime_ms
