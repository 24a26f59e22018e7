"""The migration actor: one per migration, runs the phase state machine (layer: migration).

planning -> pre_sync -> sync -> cutover -> validation -> cleanup -> completed, with
pause, cancel and rollback as intents the supervisor signals through :class:`RunControl`.
Every transition and checkpoint is an ask to the supervisor (which validates and journals
it) before the actor goes on. A crash (an unexpected error, an edge that does not answer,
``ActorSystem.kill``) is left to the actor engine: the restarted instance asks for the
latest checkpoint and resumes from its acknowledged LSNs.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from edge_actors._log import get_logger
from edge_actors.actors import Actor, Refusal
from edge_actors.errors import ConfigError

from ._errors import EdgeUnreachable, MigrationError, WorkloadNotOnEdge
from ._gateway import CutoverSpec, EdgeWorkload, TransferRequest
from ._messages import (
    GetResume,
    Restarted,
    ResumePoint,
    Run,
    RunContext,
    RunEnded,
    SaveCheckpoint,
    SetDetail,
    Transition,
)
from ._models import PHASES, Checkpoint, MigrationStatus, Phase, WorkloadCheckpoint
from ._strategies import RoundEstimator

if TYPE_CHECKING:
    from edge_actors.transfer import TransferProgress

__all__ = ["MigrationActor", "MigrationFailure"]

_ASK_TIMEOUT_S = 30.0


class MigrationFailure(MigrationError):
    """A deterministic failure (digest mismatch, not converging, ...): no restart helps."""


def _fmt_duration(seconds: float) -> str:
    minutes = math.ceil(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


class MigrationActor(Actor[Run]):
    """Runs one migration; the factory closes over its :class:`RunContext`."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    async def on_start(self) -> None:
        self.ref.tell_nowait(Run())

    async def on_restart(self, error: BaseException) -> None:
        await self.ctx.supervisor.tell(Restarted(self.ctx.plan.migration_id, repr(error)))
        self.ref.tell_nowait(Run())

    async def receive(self, message: Run) -> None:
        try:
            await _Runner(self.ctx).run()
        except Refusal as exc:
            # The supervisor refused one of our own steps (an illegal transition): for this
            # actor that is a crash the engine restarts from the checkpoint, not a reply.
            raise MigrationError(f"migration run refused by the supervisor: {exc}") from exc


class _Runner:
    """One execution of a migration, from a resume point to an outcome."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.plan = ctx.plan
        self.gw = ctx.gateway
        self.mid = ctx.plan.migration_id
        self.log = get_logger(
            "migration.actor",
            migration_id=self.mid,
            source=ctx.plan.source_edge,
            target=ctx.plan.target_edge,
        )
        self.state = "planned"
        self.phase: Phase = "planning"
        self.round = 0
        self.stage = 0
        self.wl: dict[str, WorkloadCheckpoint] = {}
        self.estimators: dict[str, RoundEstimator] = {}
        self.live_acked: dict[str, int] = {}
        self.live_bytes: dict[str, tuple[int, int, int]] = {}
        self.shipped: dict[str, tuple[int, int]] = {}  # last round: raw bytes, records
        self.bytes_done_base = 0
        self.records_done_base = 0
        self.last_checkpoint = time.monotonic()
        self.target_url = ""
        self.source_url = ""

    # -- plumbing -----------------------------------------------------------------------

    async def _ask(self, message: object) -> Any:
        return await self.ctx.supervisor.ask(message, timeout=_ASK_TIMEOUT_S)

    async def _enter(self, state: str, detail: str = "", error: str | None = None) -> None:
        if self.state == state:
            return
        status: MigrationStatus = await self._ask(Transition(self.mid, state, detail, error))
        self.state = status.state
        self.log.info("migration.transition", state=state, detail=detail, error=error)
        if state in PHASES:
            self.phase = state
            await self._checkpoint(f"entered {state}")

    async def _detail(self, detail: str) -> None:
        self.ctx.progress.detail = detail
        await self._ask(SetDetail(self.mid, detail))

    async def _checkpoint(self, reason: str) -> Checkpoint:
        workloads = {w: msgspec.structs.replace(c) for w, c in self.wl.items()}
        for w, acked in self.live_acked.items():
            if w in workloads and acked > workloads[w].acked_lsn:
                workloads[w].acked_lsn = acked
        checkpoint: Checkpoint = await self._ask(
            SaveCheckpoint(self.mid, self.phase, self.round, self.stage, workloads, reason)
        )
        self.last_checkpoint = time.monotonic()
        return checkpoint

    def _load(self, checkpoint: Checkpoint | None) -> None:
        self.wl = {w: WorkloadCheckpoint() for w in self.plan.workloads}
        if checkpoint is not None:
            for w, c in checkpoint.workloads.items():
                self.wl[w] = msgspec.structs.replace(c)
            self.phase = checkpoint.phase
            self.round = checkpoint.round
            self.stage = checkpoint.stage
        self.live_acked = {w: c.acked_lsn for w, c in self.wl.items()}

    # -- the run ------------------------------------------------------------------------

    async def run(self) -> None:
        """Run from the latest checkpoint until an outcome, then tell the supervisor."""
        point: ResumePoint = await self._ask(GetResume(self.mid))
        self.state = point.status.state
        self._load(point.checkpoint)
        self.source_url = self.gw.resolve(self.plan.source_edge)
        self.target_url = self.gw.resolve(self.plan.target_edge)
        control = self.ctx.control
        try:
            with anyio.CancelScope() as scope:
                control.attach(scope)
                try:
                    if point.mode == "cancel":
                        await self._cancel()
                    elif point.mode == "rollback" or self.state == "rolling_back":
                        await self._rollback(
                            point.rollback_to, checkpoint_id=point.status.rollback_checkpoint
                        )
                    else:
                        await self._migrate()
                except (MigrationFailure, ConfigError, WorkloadNotOnEdge) as exc:
                    await self._fail(str(exc))
            control.detach()
            if scope.cancelled_caught:
                await self._handle_intent(point)
        finally:
            control.detach()
        await self.ctx.supervisor.tell(RunEnded(self.mid))

    async def _fail(self, reason: str) -> None:
        self.log.warning("migration.failed", reason=reason)
        await self._release_source_holds()
        await self._enter("failed", error=reason)

    async def _handle_intent(self, point: ResumePoint) -> None:
        control = self.ctx.control
        intent = control.intent
        if intent in ("pause", "preempt"):
            await self._checkpoint(intent)
            self.ctx.metrics.pauses += 1
            await self._enter("paused" if intent == "pause" else "queued", control.detail)
            if control.intent == intent:  # a later request (cancel, ...) is the supervisor's
                control.clear()
        elif intent == "cancel":
            await self._cancel()  # kept pending until done: a restarted run cancels again
            if control.intent == intent:
                control.clear()
        elif intent == "rollback":
            checkpoint_id = control.checkpoint_id
            control.clear()
            target = None
            if checkpoint_id is not None:
                point = await self._ask(GetResume(self.mid))
                target = point.rollback_to
            await self._rollback(target, checkpoint_id=checkpoint_id)

    # -- phases -------------------------------------------------------------------------

    async def _migrate(self) -> None:
        strategy = self.ctx.strategy
        if self.phase == "planning":
            await self._enter("planning")
            await self._check_plan()
            await self._enter("pre_sync")
        if self.phase == "pre_sync":
            await self._enter("pre_sync")
            await self._pre_sync()
            await self._enter("sync")
        else:
            await self._reconcile()
        await self._apply_link_rate()
        stages = strategy.stages(self.plan.workloads)
        while self.stage < len(stages):
            names = stages[self.stage]
            last = self.stage == len(stages) - 1
            pending = [w for w in names if self.wl[w].routing == "source"]
            if pending:
                await self._enter("sync")
                await self._wait_for_window()
                if strategy.freeze_writes:
                    await self._bulk(pending)
                else:
                    await self._precopy(pending)
                    await self._cutover(pending)
            if strategy.validate_after_stage(self.plan.constraints, last) and not all(
                self.wl[w].validated for w in names
            ):
                await self._enter("validation")
                await self._validate(names)
            self.stage += 1
            if not last:
                await self._checkpoint(f"stage {self.stage} done")
        await self._enter("cleanup")
        await self._cleanup()
        await self._enter("completed")
        self._finish_progress()

    async def _check_plan(self) -> None:
        plan = self.plan
        for edge in (plan.source_edge, plan.target_edge):
            if not await self.gw.health(edge):
                raise EdgeUnreachable(f"edge {edge!r} does not answer its health check")
        total = 0
        for w in plan.workloads:
            info = await self.gw.workload_info(plan.source_edge, w)
            if info.status != "active":
                raise MigrationFailure(f"workload {w!r} is {info.status} on the source")
            total += info.bytes
        if not plan.constraints.force_migration:
            cap = await self.gw.capacity(plan.target_edge)
            if cap.free_bytes is not None and cap.free_bytes < total:
                raise MigrationFailure(
                    f"target edge {plan.target_edge!r} has {cap.free_bytes} bytes free but "
                    f"the workloads need {total} bytes"
                )
        self.ctx.progress.records_total = sum(e.records for e in plan.estimates)
        window = plan.constraints.time_window
        if window is not None and self.ctx.strategy.respects_time_window:
            now = dt.datetime.now(dt.UTC)
            if not window.contains(now):
                await self._detail(
                    f"outside time window {window}: stages wait "
                    f"(opens in {_fmt_duration(window.opens_in(now))})"
                )

    async def _pre_sync(self) -> None:
        plan = self.plan
        for w in plan.workloads:
            try:
                info = await self.gw.workload_info(plan.target_edge, w)
            except WorkloadNotOnEdge:
                await self.gw.create_workload(plan.target_edge, w, "incoming")
                self.wl[w].created_on_target = True
                continue
            if info.status != "incoming":
                raise MigrationFailure(
                    f"workload {w!r} already exists on target {plan.target_edge!r} as {info.status}"
                )
            self.wl[w].created_on_target = True

    async def _reconcile(self) -> None:
        """Learn from the edges what a crash may have left half done."""
        plan = self.plan
        for w in plan.workloads:
            wc = self.wl[w]
            info = await self._settled_info(plan.source_edge, w)
            if info.status == "moved" and info.moved_to == self.target_url:
                if wc.routing != "target":
                    wc.routing = "target"
                    wc.cutover_lsn = wc.cutover_lsn or info.lsn
            elif info.held and wc.routing == "source":
                self.log.warning("migration.releasing_stale_hold", workload=w)
                await self.gw.release(plan.source_edge, w, None)
            if wc.routing == "source" and wc.created_on_target:
                # A cutover whose undo could not reach the target may have left it active.
                try:
                    target = await self.gw.workload_info(plan.target_edge, w)
                except WorkloadNotOnEdge:
                    continue
                if target.status == "active":
                    self.log.warning("migration.deactivating_target", workload=w)
                    await self.gw.set_status(plan.target_edge, w, "incoming")

    async def _apply_link_rate(self) -> None:
        plan = self.plan
        if plan.bandwidth_bps is not None:
            await self.gw.set_link_rate(plan.source_edge, plan.target_edge, plan.bandwidth_bps)
        elif self.ctx.strategy.ignores_link_limit:
            await self.gw.set_link_rate(plan.source_edge, plan.target_edge, None)

    async def _wait_for_window(self) -> None:
        window = self.plan.constraints.time_window
        if window is None or not self.ctx.strategy.respects_time_window:
            return
        while True:
            now = dt.datetime.now(dt.UTC)
            if window.contains(now):
                if self.ctx.progress.detail.startswith(("waiting for time window", "outside")):
                    await self._detail("")
                return
            wait_s = window.opens_in(now)
            await self._detail(
                f"waiting for time window {window} (opens in {_fmt_duration(wait_s)})"
            )
            # The wait is the schedule itself: the stage may start when the window opens.
            await anyio.sleep(min(wait_s, 60.0))

    # -- transfers ----------------------------------------------------------------------

    def _on_progress(self, workload: str, progress: TransferProgress) -> None:
        self.live_acked[workload] = max(self.live_acked.get(workload, 0), progress.acked_lsn)
        self.live_bytes[workload] = (progress.raw_bytes, progress.wire_bytes, progress.records)
        p = self.ctx.progress
        raw = sum(b[0] for b in self.live_bytes.values())
        recs = sum(b[2] for b in self.live_bytes.values())
        p.bytes_done = self.bytes_done_base + raw
        p.records_done = self.records_done_base + recs
        p.workload = workload
        p.goodput_bps = progress.raw_rate_bps / 8
        remaining = max(0, self.plan.estimated_bytes - p.bytes_done)
        p.bytes_remaining = remaining
        if self.plan.estimated_bytes:
            p.percent = min(100.0, 100.0 * p.bytes_done / max(1, self.plan.estimated_bytes))
        p.eta_s = remaining / p.goodput_bps if p.goodput_bps > 0 else None
        p.updated_at = time.time()

    def _account(self, workload: str) -> None:
        raw, wire, recs = self.live_bytes.pop(workload, (0, 0, 0))
        m = self.ctx.metrics
        m.bytes_raw += raw
        m.bytes_wire += wire
        m.records += recs
        m.compression_ratio = m.bytes_raw / m.bytes_wire if m.bytes_wire else 1.0
        self.bytes_done_base += raw
        self.records_done_base += recs

    async def _transfer(
        self, workload: str, from_lsn: int, to_lsn: int, *, back: bool = False
    ) -> TransferProgress:
        plan = self.plan
        source, target = (
            (plan.target_edge, plan.source_edge) if back else (plan.source_edge, plan.target_edge)
        )
        request = TransferRequest(
            transfer_id=f"{self.mid}-{workload}-{uuid.uuid4().hex[:8]}",
            migration_id=self.mid,
            workload=workload,
            from_lsn=from_lsn,
            to_lsn=to_lsn,
            batch_size=plan.sync_batch_size,
            compression=plan.enable_compression,
        )
        try:
            final = await self.gw.transfer(
                source, target, request, lambda p: self._on_progress(workload, p)
            )
        finally:
            self._account(workload)
        if final.state != "done" or final.acked_lsn < to_lsn:
            raise EdgeUnreachable(
                f"transfer of {workload!r} {source}->{target} ended {final.state} at "
                f"LSN {final.acked_lsn} of {to_lsn}: {final.error}"
            )
        if not back:
            self.wl[workload].acked_lsn = max(self.wl[workload].acked_lsn, final.acked_lsn)
            self.live_acked[workload] = self.wl[workload].acked_lsn
        return final

    async def _ticker(self) -> None:
        interval = self.plan.checkpoint_interval_s
        while True:
            await anyio.sleep(max(0.0, self.last_checkpoint + interval - time.monotonic()))
            if time.monotonic() - self.last_checkpoint >= interval:
                await self._checkpoint("interval")

    async def _ship_all(self, jobs: dict[str, tuple[int, int]]) -> dict[str, float]:
        """Ship ``(from, to]`` per workload in parallel streams; return elapsed seconds."""
        elapsed: dict[str, float] = {}

        async def ship(w: str, lo: int, hi: int) -> None:
            started = time.monotonic()
            if hi > lo:
                final = await self._transfer(w, lo, hi)
                self.shipped[w] = (final.raw_bytes, final.records)
            elapsed[w] = time.monotonic() - started

        async with anyio.create_task_group() as outer:
            outer.start_soon(self._ticker)
            async with anyio.create_task_group() as tg:
                for w, (lo, hi) in jobs.items():
                    tg.start_soon(ship, w, lo, hi)
            outer.cancel_scope.cancel()
        return elapsed

    async def _infos(self, edge: str, names: list[str]) -> dict[str, Any]:
        infos: dict[str, Any] = {}

        async def one(w: str) -> None:
            started = time.monotonic()
            infos[w] = await self.gw.workload_info(edge, w)
            if w in self.estimators:
                self.estimators[w].record_call(time.monotonic() - started)

        async with anyio.create_task_group() as tg:
            for w in names:
                tg.start_soon(one, w)
        return infos

    async def _precopy(self, names: list[str]) -> None:
        plan, strategy, c = self.plan, self.ctx.strategy, self.plan.constraints
        p, m = self.ctx.progress, self.ctx.metrics
        sizes = {e.workload: e for e in plan.estimates}
        for w in names:
            est = sizes.get(w)
            avg = est.bytes / est.records if est is not None and est.records else 1024.0
            self.estimators.setdefault(w, RoundEstimator(avg))
        interval = strategy.sync_interval_s(c)
        prev_round: tuple[float, dict[str, int]] | None = None
        rounds_here = 0
        started = time.monotonic()
        while True:
            src = await self._infos(plan.source_edge, names)
            now = time.monotonic()
            gaps = {w: max(0, src[w].lsn - self.wl[w].acked_lsn) for w in names}
            if prev_round is not None:
                t0, shipped_to = prev_round
                for w in names:
                    self.estimators[w].dirty_rate_Bps = (
                        max(0, src[w].lsn - shipped_to[w])
                        * self.estimators[w].avg_change_bytes
                        / max(now - t0, 1e-6)
                    )
            expected = max(self.estimators[w].expected_downtime_s(gaps[w]) for w in names)
            p.round = self.round
            p.dirty_rate_bps = sum(self.estimators[w].dirty_rate_Bps for w in names)
            p.expected_downtime_ms = None if math.isinf(expected) else expected * 1000
            p.bytes_remaining = int(sum(self.estimators[w].delta_bytes(gaps[w]) for w in names))
            if (
                rounds_here > 0
                and all(self.estimators[w].converged(gaps[w], c.max_downtime_s) for w in names)
                and not (
                    not interval
                    and self.round < c.max_rounds
                    and any(self.estimators[w].worth_another_round(gaps[w]) for w in names)
                )
            ):
                break
            if (
                rounds_here == 0
                and all(gaps[w] == 0 for w in names)
                and any(self.wl[w].acked_lsn for w in names)
            ):
                break
            if self.round >= c.max_rounds:
                reasons = "; ".join(self.estimators[w].not_converging_reason() for w in names)
                raise MigrationFailure(reasons)
            if rounds_here > 0:
                gaps, src = await self._pace(names, gaps, src, prev_round, interval)
            round_start = time.monotonic()
            targets = {w: src[w].lsn for w in names}
            elapsed = await self._ship_all(
                {w: (self.wl[w].acked_lsn, targets[w]) for w in names if gaps[w] > 0}
            )
            for w in names:
                raw, records = self.shipped.pop(w, (0, 0))
                # Nothing acknowledged (the target already had it): count the gap instead.
                raw = raw or int(self.estimators[w].delta_bytes(gaps[w]))
                self.estimators[w].record_round(raw, elapsed.get(w, 0.0), 0, records)
            prev_round = (round_start, targets)
            self.round += 1
            rounds_here += 1
            m.rounds += 1
            if time.monotonic() - self.last_checkpoint >= plan.checkpoint_interval_s:
                await self._checkpoint("interval")
        sync_s = time.monotonic() - started
        if sync_s > 0:
            m.throughput_bps = m.bytes_raw / max(m.phase_durations_s.get("sync", 0) + sync_s, 1e-6)

    async def _pace(
        self,
        names: list[str],
        gaps: dict[str, int],
        src: dict[str, Any],
        prev_round: tuple[float, dict[str, int]] | None,
        interval: float | None,
    ) -> tuple[dict[str, int], dict[str, Any]]:
        """Wait out ``sync_interval`` since the last round start, or until the delta
        exceeds ``delta_threshold`` (incremental); return fresh gaps."""
        if not interval or prev_round is None:
            return gaps, src
        threshold = self.plan.constraints.delta_threshold_bytes
        deadline = prev_round[0] + interval
        while time.monotonic() < deadline:
            delta = sum(self.estimators[w].delta_bytes(gaps[w]) for w in names)
            if self.ctx.strategy.paced_rounds and threshold is not None and delta >= threshold:
                break
            left = deadline - time.monotonic()
            await self._detail(f"next delta round in {left:.1f}s (delta {int(delta)} B)")
            await anyio.sleep(min(left, 0.25) if threshold is not None else left)
            src = await self._infos(self.plan.source_edge, names)
            gaps = {w: max(0, src[w].lsn - self.wl[w].acked_lsn) for w in names}
        await self._detail("")
        return gaps, src

    async def _cutover(self, names: list[str]) -> None:
        await self._enter("cutover")
        async with anyio.create_task_group() as tg:
            for w in names:
                tg.start_soon(self._cutover_one, w)
        self._record_downtime()
        await self._checkpoint("cutover done")

    def _record_downtime(self) -> None:
        m, p = self.ctx.metrics, self.ctx.progress
        m.max_downtime_ms = max(m.downtime_ms.values(), default=0.0)
        p.measured_downtime_ms = m.max_downtime_ms

    def _hold_lease_s(self) -> float:
        return max(30.0, 20 * self.plan.constraints.max_downtime_s)

    async def _cutover_one(self, w: str) -> None:
        """Cut ``w`` over with one call to the source edge (hold, final delta, target
        confirm + activate, flip, release all happen there; a failure is undone there)."""
        plan, wc = self.plan, self.wl[w]
        est = self.estimators.get(w)
        if est is not None:
            info = await self.gw.workload_info(plan.source_edge, w)
            expected = est.expected_downtime_s(max(0, info.lsn - wc.acked_lsn))
            if not math.isinf(expected):
                self.ctx.metrics.expected_downtime_ms[w] = expected * 1000
        spec = CutoverSpec(
            transfer_id=f"{self.mid}-{w}-cutover-{uuid.uuid4().hex[:8]}",
            migration_id=self.mid,
            workload=w,
            from_lsn=wc.acked_lsn,
            batch_size=plan.sync_batch_size,
            compression=plan.enable_compression,
            lease_s=self._hold_lease_s(),
        )
        # The source finishes or undoes the cutover itself; do not abandon the call.
        with anyio.CancelScope(shield=True):
            started = time.monotonic()
            result = await self.gw.cutover(plan.source_edge, plan.target_edge, spec)
            own_ms = (time.monotonic() - started) * 1000
        wc.routing = "target"
        wc.cutover_lsn = result.hold_lsn
        wc.acked_lsn = max(wc.acked_lsn, result.hold_lsn)
        self.live_acked[w] = wc.acked_lsn
        # The digest is the target's at the hold LSN (confirmed equal to the source's).
        wc.target_digest = result.digest if result.target_lsn == result.hold_lsn else None
        self.ctx.metrics.records += result.records
        self.ctx.metrics.downtime_ms[w] = result.held_ms if result.held_ms > 0 else own_ms
        self.log.info(
            "migration.cutover",
            workload=w,
            hold_lsn=result.hold_lsn,
            held_ms=result.held_ms,
            held_writes=result.held_writes,
            steps_ms=result.steps_ms,
            call_ms=round(own_ms, 3),
        )

    async def _settled_info(self, edge: str, w: str) -> EdgeWorkload:
        """The workload's info once no cutover runs on ``edge`` (an unknown outcome of a
        cutover call settles within the hold lease: done, or undone)."""
        deadline = time.monotonic() + self._hold_lease_s() + 5.0
        while True:
            info = await self.gw.workload_info(edge, w)
            if not info.cutover or time.monotonic() > deadline:
                return info
            await anyio.sleep(0.05)

    async def _bulk(self, names: list[str]) -> None:
        """Bulk: hold writes for the whole copy, copy in parallel streams, switch."""
        plan = self.plan
        started = time.monotonic()
        holds: dict[str, int] = {}
        await self._detail("bulk copy: writes held")
        try:
            for w in names:
                with anyio.CancelScope(shield=True):
                    holds[w] = await self.gw.hold(plan.source_edge, w, lease_s=600.0)
            await self._ship_all({w: (self.wl[w].acked_lsn, holds[w]) for w in names})
            await self._enter("cutover")
            with anyio.CancelScope(shield=True):
                for w in names:
                    target = await self.gw.workload_info(plan.target_edge, w)
                    if target.lsn < holds[w]:
                        raise EdgeUnreachable(f"target LSN of {w!r} behind hold {holds[w]}")
                    await self.gw.set_status(plan.target_edge, w, "active")
                    released = await self.gw.release(plan.source_edge, w, self.target_url)
                    wc = self.wl[w]
                    wc.routing, wc.cutover_lsn, wc.target_digest = "target", holds[w], target.digest
                    self.ctx.metrics.downtime_ms[w] = released.held_ms or (
                        (time.monotonic() - started) * 1000
                    )
                    del holds[w]
        finally:
            with anyio.CancelScope(shield=True):
                for w in list(holds):
                    await self.gw.release(plan.source_edge, w, None)
        self._record_downtime()
        await self._detail("")
        await self._checkpoint("cutover done")

    async def _release_source_holds(self) -> None:
        with anyio.CancelScope(shield=True):
            for w in self.plan.workloads:
                try:
                    info = await self._settled_info(self.plan.source_edge, w)
                    if info.held and info.status != "moved":
                        await self.gw.release(self.plan.source_edge, w, None)
                except MigrationError:
                    continue

    async def _validate(self, names: tuple[str, ...]) -> None:
        plan = self.plan
        for w in names:
            wc = self.wl[w]
            if wc.validated:
                continue
            source = await self.gw.workload_info(plan.source_edge, w)
            if wc.target_digest is None:
                target = await self.gw.workload_info(plan.target_edge, w)
                wc.target_digest = target.digest if target.lsn == wc.cutover_lsn else None
            if wc.target_digest is not None and source.digest != wc.target_digest:
                raise MigrationFailure(
                    f"digest mismatch for {w!r}: source {source.digest[:16]} vs target "
                    f"{wc.target_digest[:16]} at LSN {wc.cutover_lsn}"
                )
            for path in plan.test_endpoints:
                url_path = path.replace("{workload}", w)
                status = await self.gw.probe(plan.target_edge, url_path)
                if status >= 400:
                    raise MigrationFailure(
                        f"validation probe {url_path} on {plan.target_edge!r} answered {status}"
                    )
            wc.validated = True
        await self._checkpoint("validated")

    async def _cleanup(self) -> None:
        for w in self.plan.workloads:
            if self.wl[w].routing == "target":
                await self.gw.drop_workload(self.plan.source_edge, w, keep_route=True)

    def _finish_progress(self) -> None:
        p = self.ctx.progress
        p.bytes_remaining = 0
        p.percent = 100.0
        p.eta_s = 0.0
        p.detail = ""
        p.updated_at = time.time()

    # -- undo ---------------------------------------------------------------------------

    async def _cancel(self) -> None:
        await self._release_source_holds()
        for w in self.plan.workloads:
            wc = self.wl[w]
            if wc.routing == "source" and wc.created_on_target:
                await self._drop_target(w)
                wc.created_on_target = False
        await self._enter("cancelled")

    async def _drop_target(self, w: str) -> None:
        try:
            await self.gw.drop_workload(self.plan.target_edge, w, keep_route=True)
        except WorkloadNotOnEdge:
            return

    async def _sync_back(self, w: str) -> None:
        """Return a cut-over workload to the source, with the target's later writes."""
        plan, wc = self.plan, self.wl[w]
        with anyio.CancelScope(shield=True):
            hold_lsn = await self.gw.hold(plan.target_edge, w, lease_s=self._hold_lease_s())
            try:
                start = wc.cutover_lsn or 0
                if hold_lsn > start:
                    await self._transfer(w, start, hold_lsn, back=True)
                source = await self.gw.workload_info(plan.source_edge, w)
                if source.lsn < hold_lsn:
                    raise EdgeUnreachable(
                        f"source LSN {source.lsn} of {w!r} behind the target's {hold_lsn}"
                    )
                await self.gw.set_status(plan.source_edge, w, "active")
                await self.gw.release(plan.target_edge, w, self.source_url)
            except BaseException:
                await self.gw.release(plan.target_edge, w, None)
                raise
        self.log.info("migration.synced_back", workload=w, from_lsn=wc.cutover_lsn, to=hold_lsn)
        wc.routing = "source"
        wc.cutover_lsn = None
        wc.target_digest = None
        wc.validated = False

    async def _rollback(
        self, checkpoint: Checkpoint | None, *, checkpoint_id: str | None = None
    ) -> None:
        """Restore routing to the source (syncing back the target's writes first).

        Without a checkpoint the target's copies are dropped and the migration ends
        ``rolled_back``. With one, the target keeps its copy (``incoming``), the state
        returns to that checkpoint (its acked LSNs, phase at most ``sync``) and the
        migration is ``paused``: a later resume continues from there.
        """
        await self._enter("rolling_back")
        await self._release_source_holds()
        for w in self.plan.workloads:
            try:
                await self._reconcile_one(w)
            except WorkloadNotOnEdge:
                continue
        for w in self.plan.workloads:
            if self.wl[w].routing == "target":
                await self._sync_back(w)
        self.ctx.metrics.rollbacks += 1
        if checkpoint is None:
            for w in self.plan.workloads:
                if self.wl[w].created_on_target:
                    await self._drop_target(w)
                    self.wl[w].created_on_target = False
            await self._checkpoint("rolled back")
            await self._enter("rolled_back")
            return
        for w, c in checkpoint.workloads.items():
            created = c.created_on_target
            try:
                info = await self.gw.workload_info(self.plan.target_edge, w)
            except WorkloadNotOnEdge:  # a checkpoint from before pre_sync made the copy
                created = False
            else:
                if info.status != "incoming":
                    await self.gw.set_status(self.plan.target_edge, w, "incoming")
            self.wl[w] = WorkloadCheckpoint(acked_lsn=c.acked_lsn, created_on_target=created)
        self.round, self.stage = checkpoint.round, checkpoint.stage
        phase = checkpoint.phase
        self.phase = "sync" if phase in ("cutover", "validation", "cleanup") else phase
        self.live_acked = {w: c.acked_lsn for w, c in self.wl.items()}
        await self._checkpoint(f"rolled back to {checkpoint.checkpoint_id}")
        await self._enter("paused", f"rolled back to checkpoint {checkpoint_id}")

    async def _reconcile_one(self, w: str) -> None:
        info = await self._settled_info(self.plan.source_edge, w)
        wc = self.wl[w]
        if info.status == "moved" and info.moved_to == self.target_url and wc.routing != "target":
            wc.routing = "target"
            wc.cutover_lsn = wc.cutover_lsn or info.lsn
