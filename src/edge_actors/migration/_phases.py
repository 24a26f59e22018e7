"""The forward phases of a migration run (layer: migration).

planning -> pre_sync -> sync (pre-copy rounds or a bulk copy) -> cutover -> validation ->
cleanup -> completed, stage by stage as the strategy says. A wide stage is *pipelined*
(``_pipeline.py``): its cutovers run while later workloads still copy. Everything here
runs as the migration actor's phase task: an intent on the lane (pause, preempt, cancel,
rollback) cancels it between two awaits, except inside the shielded cutover calls, which
the source edge finishes or undoes itself.

Time: the time window, checkpoint interval and lease deadline read the injected clock;
measured durations of real I/O (round times, bandwidth, dirty rate, a cutover call) and
the pacing of delta rounds read real time (``time.monotonic``), as they measure the wire.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import TYPE_CHECKING, Any

import anyio

from edge_actors._test_hooks import PauseHook

from ._errors import EdgeUnreachable
from ._pipeline import Pipeline
from ._runner import MigrationFailure
from ._validation import probe_endpoints

if TYPE_CHECKING:
    from ._gateway import EdgeWorkload

__all__ = ["Phases"]


def _digest_at(info: EdgeWorkload, lsn: int | None) -> str | None:
    """The edge's digest of the workload at ``lsn``: its live one if it is still there,
    else the one it recorded when an activation or a cutover confirmed ``lsn``."""
    if lsn is None:
        return None
    if info.lsn == lsn and info.digest:
        return info.digest
    if info.activated_lsn == lsn and info.activated_digest:
        return info.activated_digest
    return None


def _fmt_duration(seconds: float) -> str:
    minutes = math.ceil(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


class Phases(Pipeline):
    """The forward phases, on top of the run's state, plumbing and round scheduling."""

    async def migrate(self) -> None:
        """Run the phases from the loaded position to ``completed``."""
        strategy = self.ctx.strategy
        if self.phase == "planning":
            await self.enter("planning")
            await self._check_plan()
            await self.enter("pre_sync")
        if self.phase == "pre_sync":
            await self.enter("pre_sync")
            await self._pre_sync()
            await self.enter("sync")
        else:
            await self._reconcile()
        await self._apply_link_rate()
        stages = strategy.stages(self.plan.workloads)
        while self.stage < len(stages):
            names = stages[self.stage]
            last = self.stage == len(stages) - 1
            pending = [w for w in names if self.wl[w].routing == "source"]
            if pending:
                await self.enter("sync")
                await self._wait_for_window()
                if strategy.freeze_writes:
                    await self._ensure_targets(pending)
                    await self._bulk(pending)
                elif self._pipelines(pending):
                    await self._pipeline(pending)
                else:
                    await self._ensure_targets(pending)
                    await self._precopy(pending)
                    await self._cutover(pending)
            if strategy.validate_after_stage(self.plan.constraints, last) and not all(
                self.wl[w].validated for w in names
            ):
                await self.enter("validation")
                await self._validate(names)
            self.stage += 1
            if not last:
                await self.checkpoint(f"stage {self.stage} done")
        await self.enter("cleanup")
        await self._cleanup()
        await PauseHook.from_env().reached("cleaned_up")  # a fault test's hook; off by default
        await self.check_converged()
        self._finish_progress()  # published before ``completed``: a watcher reads 100 %
        await self.enter("completed")

    async def _check_plan(self) -> None:
        plan = self.plan
        for edge in (plan.source_edge, plan.target_edge):
            if not await self.gw.health(edge):
                raise EdgeUnreachable(f"edge {edge!r} does not answer its health check", edge=edge)
        total = 0
        infos = await self.infos(plan.source_edge, list(plan.workloads))
        for w in plan.workloads:
            info = infos[w]
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
        self.progress.records_total = sum(e.records for e in plan.estimates)
        window = plan.constraints.time_window
        if window is not None and self.ctx.strategy.respects_time_window:
            now = dt.datetime.fromtimestamp(self.clock.time(), dt.UTC)
            if not window.contains(now):
                await self.detail(
                    f"outside time window {window}: stages wait "
                    f"(opens in {_fmt_duration(window.opens_in(now))})"
                )

    async def _pre_sync(self) -> None:
        """Create the target copies the first stage starts with: all of the plan's, or
        only the first wave's when that stage is pipelined (the others are created just
        before their copy, :meth:`_ensure_targets`)."""
        first = list(self.ctx.strategy.stages(self.plan.workloads)[0])
        eager = first[: self._wave_size()] if self._pipelines(first) else self.plan.workloads
        await self.each(eager, self._create_target)

    async def _reconcile(self) -> None:
        """Learn from the edges what a crash may have left half done (and settle it)."""
        for w in self.plan.workloads:
            await self.learn_routing(w)

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
            now = dt.datetime.fromtimestamp(self.clock.time(), dt.UTC)
            if window.contains(now):
                if self.progress.detail.startswith(("waiting for time window", "outside")):
                    await self.detail("")
                return
            wait_s = window.opens_in(now)
            await self.detail(
                f"waiting for time window {window} (opens in {_fmt_duration(wait_s)})"
            )
            # The wait is the schedule itself: the stage may start when the window opens.
            await self.clock.sleep(min(wait_s, 60.0))

    async def _precopy(self, names: list[str]) -> None:
        """Pre-copy rounds of ``names`` until their holds are predicted to fit."""
        plan, strategy, c = self.plan, self.ctx.strategy, self.plan.constraints
        p = self.progress
        self._estimate(names)
        interval = strategy.sync_interval_s(c)
        prev_round: tuple[float, dict[str, int]] | None = None
        rounds_here = 0
        started = time.monotonic()
        while True:
            src = await self.infos(plan.source_edge, names)
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
                    # A wider plan refines at cutover time, workload by workload
                    # (``_rounds``): here some workload would always be worth a round.
                    and len(names) <= self.gate.per_plan
                    and any(self.estimators[w].worth_a_smaller_final_delta(gaps[w]) for w in names)
                )
            ):
                break
            if (
                rounds_here == 0
                and all(gaps[w] == 0 for w in names)
                and any(self.wl[w].acked_lsn for w in names)
            ):
                break
            if rounds_here >= 2 and len(names) > self.gate.per_plan:
                # A wide plan after its copy and one delta round: all of them converged
                # at once is unlikely while writes go on; the cutover phase gives each
                # straggler its own rounds (``_rounds``), counted per workload.
                break
            if self.round >= c.max_rounds:
                reasons = "; ".join(
                    self.estimators[w].not_converging_reason(
                        self.round, c.max_rounds, self.metrics.restarts
                    )
                    for w in names
                )
                raise MigrationFailure(reasons)
            if rounds_here > 0:
                gaps, src = await self._pace(names, gaps, src, prev_round, interval)
            round_start = time.monotonic()
            targets = {w: src[w].lsn for w in names}
            await self._ship_round(self._due(names, gaps, rounds_here, interval), targets, gaps)
            prev_round = (round_start, targets)
            rounds_here += 1
            await self._checkpoint_due()
        sync_s = time.monotonic() - started
        m = self.metrics
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
            await self.detail(f"next delta round in {left:.1f}s (delta {int(delta)} B)")
            await anyio.sleep(min(left, 0.25) if threshold is not None else left)
            src = await self.infos(self.plan.source_edge, names)
            gaps = {w: max(0, src[w].lsn - self.wl[w].acked_lsn) for w in names}
        await self.detail("")
        return gaps, src

    async def _bulk(self, names: list[str]) -> None:
        """Bulk: hold writes for the whole copy, copy in parallel streams, switch."""
        plan = self.plan
        started = time.monotonic()
        holds: dict[str, int] = {}
        await self.detail("bulk copy: writes held")
        try:
            owners = {w: await self.hand_over(w, plan.source_edge, plan.target_edge) for w in names}
            for w in names:
                with anyio.CancelScope(shield=True):
                    holds[w] = await self.gw.hold(
                        plan.source_edge, w, lease_s=600.0, epoch=owners[w].epoch
                    )
            await self.ship_all({w: (self.wl[w].acked_lsn, holds[w]) for w in names})
            await self.enter("cutover")
            with anyio.CancelScope(shield=True):
                for w in names:
                    target = await self.gw.workload_info(plan.target_edge, w)
                    if target.lsn < holds[w]:
                        raise EdgeUnreachable(f"target LSN of {w!r} behind hold {holds[w]}")
                    epoch = owners[w].epoch
                    await self.gw.set_status(plan.target_edge, w, "active", epoch=epoch)
                    released = await self.gw.release(
                        plan.source_edge, w, self.target_url, epoch=epoch, migration_id=self.mid
                    )
                    await self.settle_owner(w, plan.target_edge, epoch)
                    wc = self.wl[w]
                    wc.routing, wc.cutover_lsn, wc.target_digest = "target", holds[w], target.digest
                    self.metrics.downtime_ms[w] = released.held_ms or (
                        (time.monotonic() - started) * 1000
                    )
                    self._count_hold(self.metrics.downtime_ms[w])
                    del holds[w]
        finally:
            with anyio.CancelScope(shield=True):
                for w in list(holds):
                    await self.gw.release(plan.source_edge, w, None, epoch=owners[w].epoch)
        self._record_downtime()
        await self.detail("")
        await self.checkpoint("cutover done")

    async def _validate(self, names: tuple[str, ...]) -> None:
        await PauseHook.from_env().reached("validating")  # a fault test's hook; off by default
        plan = self.plan
        for w in names:
            wc = self.wl[w]
            if wc.validated:
                continue
            source = await self.gw.workload_info(plan.source_edge, w)
            if wc.target_digest is None:
                target = await self.gw.workload_info(plan.target_edge, w)
                wc.target_digest = _digest_at(target, wc.cutover_lsn)
            source_digest = _digest_at(source, wc.cutover_lsn)
            if wc.target_digest is None or source_digest is None:
                # Never report "validated" without a comparison: refuse instead.
                side = "target" if wc.target_digest is None else "source"
                raise MigrationFailure(
                    f"cannot validate {w!r}: no digest of the {side} at the cutover LSN "
                    f"{wc.cutover_lsn} (it has moved on and recorded none)"
                )
            if source_digest != wc.target_digest:
                raise MigrationFailure(
                    f"digest mismatch for {w!r}: source {source_digest[:16]} vs target "
                    f"{wc.target_digest[:16]} at LSN {wc.cutover_lsn}"
                )
            self.log.info(
                "migration.digests_compared", workload=w, lsn=wc.cutover_lsn, digest=source_digest
            )
            probes = await probe_endpoints(self.gw, plan.target_edge, plan.test_endpoints, [w])
            for probe in probes:
                if not probe.ok:
                    raise MigrationFailure(
                        f"validation probe {probe.path} on {plan.target_edge!r} "
                        f"answered {probe.status}"
                    )
            wc.validated = True
        await self.checkpoint("validated")

    async def _cleanup(self) -> None:
        async def drop(w: str) -> None:
            epoch = (await self.owner(w)).epoch
            await self.gw.drop_workload(self.plan.source_edge, w, keep_route=True, epoch=epoch)

        await self.each((w for w in self.plan.workloads if self.wl[w].routing == "target"), drop)

    def _finish_progress(self) -> None:
        p = self.progress
        p.bytes_remaining = 0
        p.percent = 100.0
        p.eta_s = 0.0
        p.detail = ""
        self.publish(force=True)
