"""A wide stage, pipelined: later workloads copy while earlier ones are cut over (layer: migration).

A live stage (rounds not paced by ``sync_interval``) with more than :data:`WAVE_SLOTS`
times ``parallel_transfers`` workloads is not copied whole before its first cutover. Its
workloads, in plan order, form *waves* of that many:

* their ``incoming`` target copies are created one wave ahead of the copies (``pre_sync``
  creates the first wave's; each later wave's once the copies reach the wave before);
* ``parallel_transfers`` copy workers take the workloads one by one, with no barrier
  between waves: each copies one workload's whole gap (one round) and measures its
  bandwidth and dirty rate. While there are workloads to cut over, at most half of
  them copy at once: every hold then shares the source and the target with at most
  that many copies (a queued plan's holds share them with one);
* a wave whose every workload is copied goes, in order, to the run's cutover task
  (:meth:`Rounds._cutover` with a :class:`WaveHandoff`), which cuts workloads over in
  groups, with the delta rounds each still needs, while the copies go on. The copy
  workers wait while the cutover pool holds :data:`WAVE_SLOTS` waves: copies never run
  far ahead of cutovers, and start no new copy while a workload's cutover keeps being
  undone (:data:`QUIET_AFTER_UNDONE`): its retries then run with no copy starting.

Copies and cutovers share the plan's and the link's transfer slots (a waiting cutover
gets the next free slot: the slots are first come, first served). The journal stays in
``sync`` until the last wave is copied, then enters ``cutover``; a pause, a crash or a
restart picks up from the workloads still on the source. So a wide plan overlaps target
creation, cutovers and copies as queued plans do.
"""

from __future__ import annotations

import time
from functools import partial

import anyio

from ._errors import WorkloadNotOnEdge
from ._handoff import WaveHandoff
from ._rounds import Rounds
from ._runner import MigrationFailure, first_error

__all__ = ["WAVE_SLOTS", "Pipeline"]

WAVE_SLOTS = 2
"""A pipelined stage's waves hold this many times the plan's ``parallel_transfers``
workloads: enough to keep every transfer slot busy, few enough that the first cutovers
start early and the last wave's cutovers (overlapped with nothing) are short."""


class Pipeline(Rounds):
    """Target creation and the pipelined copy of a wide stage."""

    def _wave_size(self) -> int:
        return WAVE_SLOTS * self.gate.per_plan

    def _pipelines(self, names: list[str]) -> bool:
        """Whether a stage of ``names`` is pipelined: live (writes not frozen), rounds not
        paced by ``sync_interval``, and wider than one wave."""
        strategy = self.ctx.strategy
        return (
            not strategy.freeze_writes
            and not strategy.sync_interval_s(self.plan.constraints)
            and len(names) > self._wave_size()
        )

    async def _ensure_targets(self, names: list[str]) -> None:
        """Create the target copies of ``names`` not created yet, and journal them (a
        rollback from this checkpoint drops them)."""
        missing = [w for w in names if not self.wl[w].created_on_target]
        if missing:
            await self.each(missing, self._create_target)
            await self.checkpoint("targets created")

    async def _create_target(self, w: str) -> None:
        """Create ``w``'s ``incoming`` copy on the target (idempotent: an ``incoming``
        copy already there, left by this run or another, is taken over)."""
        plan = self.plan
        try:
            info = await self.gw.workload_info(plan.target_edge, w)
        except WorkloadNotOnEdge:
            epoch = (await self.owner(w)).epoch  # fenced: a newer owner step refuses it
            await self.gw.create_workload(
                plan.target_edge, w, "incoming", migration_id=self.mid, epoch=epoch
            )
            self.wl[w].created_on_target = True
            return
        if info.status != "incoming":
            raise MigrationFailure(
                f"workload {w!r} already exists on target {plan.target_edge!r} as {info.status}"
            )
        if info.migration_id != self.mid:
            # A copy left by another run (or made by hand): only this migration's peer
            # streams may fill it from now on.
            await self.gw.set_status(plan.target_edge, w, "incoming", migration_id=self.mid)
        self.wl[w].created_on_target = True

    async def _pipeline(self, names: list[str]) -> None:
        """Copy ``names`` while the cutover task cuts the copied waves over (see the
        module doc). The first failure of any task cancels the others and is raised as
        itself, as a loop's failure would be."""
        size = self._wave_size()
        waves = [names[i : i + size] for i in range(0, len(names), size)]
        wave_of = {w: i for i, wave in enumerate(waves) for w in wave}
        created = [anyio.Event() for _ in waves]
        reached = [anyio.Event() for _ in waves]  # a copy worker took the wave's first
        left = [len(wave) for wave in waves]  # workloads of each wave not copied yet
        handoff = WaveHandoff(
            limit=WAVE_SLOTS * size,
            copies=self.gate.per_plan,
            copies_beside=self.gate.per_plan // 2,
        )
        handing = anyio.Lock()
        handed = 0  # waves handed over, in order
        self._estimate(names)
        started = time.monotonic()

        async def create_ahead() -> None:
            for i, wave in enumerate(waves):
                if i >= 2:
                    await reached[i - 1].wait()  # one wave ahead of the copies
                await self._ensure_targets(wave)
                created[i].set()

        async def hand_over_copied() -> None:
            nonlocal handed
            async with handing:
                while handed < len(waves) and left[handed] == 0:
                    if handed == len(waves) - 1:
                        await self.enter("cutover")
                    waited = time.monotonic()
                    await handoff.put(waves[handed])
                    self.metrics.rounds += 1
                    self.log.info(
                        "migration.wave_copied",
                        wave=handed,
                        workloads=len(waves[handed]),
                        at_s=round(time.monotonic() - started, 3),
                        handed_over_after_s=round(time.monotonic() - waited, 3),
                    )
                    handed += 1

        queue = iter(names)  # one iterator shared by the copy workers

        async def copy_worker() -> None:
            for w in queue:
                i = wave_of[w]
                reached[i].set()
                await created[i].wait()
                async with handoff.copy_slot():
                    await self._copy_one(w)
                left[i] -= 1
                await hand_over_copied()

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(partial(self._cutover, [], handoff=handoff))
                try:
                    async with anyio.create_task_group() as copies:
                        copies.start_soon(self._ticker)
                        copies.start_soon(create_ahead)
                        async with anyio.create_task_group() as workers:
                            for _ in range(min(self.gate.per_plan, len(names))):
                                workers.start_soon(copy_worker)
                        copies.cancel_scope.cancel()  # the ticker
                finally:
                    handoff.close()
        except BaseExceptionGroup as group:
            raise first_error(group) from None
        m = self.metrics
        sync_s = m.phase_durations_s.get("sync", 0) + time.monotonic() - started
        m.throughput_bps = m.bytes_raw / max(sync_s, 1e-6)

    async def _copy_one(self, w: str) -> None:
        """Ship ``w``'s whole gap (its copy, or what a restarted run has left), within a
        transfer slot, and measure its bandwidth and the source's dirty rate meanwhile."""
        source = self.plan.source_edge
        est = self.estimators[w]
        before = await self.gw.workload_info(source, w)
        started = time.monotonic()
        lo, hi = self.wl[w].acked_lsn, before.lsn
        raw, records, elapsed = 0, 0, 0.0
        if hi > lo:
            async with self.transfer_slot():
                slot_at = time.monotonic()
                final = await self.transfer(w, lo, hi)
                elapsed = time.monotonic() - slot_at
            raw, records = final.raw_bytes, final.records
        after = await self.gw.workload_info(source, w)
        est.record_round(raw or int(est.delta_bytes(hi - lo)), elapsed, 0, records)
        est.dirty_rate_Bps = (
            max(0, after.lsn - hi) * est.avg_change_bytes / max(time.monotonic() - started, 1e-6)
        )
