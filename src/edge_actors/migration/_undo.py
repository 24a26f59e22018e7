"""Undoing a migration run: cancel and rollback (layer: migration).

Cancel drops the target's partial copy of workloads not yet cut over. Rollback restores
routing to the source, syncing the target's later writes back first, and either drops the
target's copies (``rolled_back``) or returns to a named checkpoint (``paused``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from ._errors import EdgeUnreachable, WorkloadNotOnEdge
from ._models import WorkloadCheckpoint
from ._phases import Phases

if TYPE_CHECKING:
    from ._models import Checkpoint

__all__ = ["Migration"]


class Migration(Phases):
    """A whole migration run: the forward phases plus cancel and rollback."""

    async def cancel(self) -> None:
        """Release holds, drop the target's copies not cut over, journal ``cancelled``."""
        await self.release_source_holds()
        for w in self.plan.workloads:
            wc = self.wl[w]
            if wc.routing == "source" and wc.created_on_target:
                await self._drop_target(w)
                wc.created_on_target = False
        await self.check_converged()
        await self.enter("cancelled")

    async def _drop_target(self, w: str) -> None:
        epoch = (await self.owner(w)).epoch  # fenced: a newer owner step refuses the drop
        try:
            await self.gw.drop_workload(self.plan.target_edge, w, keep_route=True, epoch=epoch)
        except WorkloadNotOnEdge:
            return

    async def _sync_back(self, w: str) -> None:
        """Return a cut-over workload to the source, with the target's later writes."""
        plan, wc = self.plan, self.wl[w]
        with anyio.CancelScope(shield=True):
            owner = await self.hand_over(w, plan.target_edge, plan.source_edge)
            epoch = owner.epoch
            hold_lsn = await self.gw.hold(
                plan.target_edge, w, lease_s=self.hold_lease_s(), epoch=epoch
            )
            try:
                start = wc.cutover_lsn or 0
                if hold_lsn > start:
                    await self.transfer(w, start, hold_lsn, back=True)
                source = await self.gw.workload_info(plan.source_edge, w)
                if source.lsn < hold_lsn:
                    raise EdgeUnreachable(
                        f"source LSN {source.lsn} of {w!r} behind the target's {hold_lsn}"
                    )
                await self.gw.set_status(plan.source_edge, w, "active", epoch=epoch)
                await self.gw.release(plan.target_edge, w, self.source_url, epoch=epoch)
            except BaseException:
                await self.gw.release(plan.target_edge, w, None, epoch=epoch)
                raise
            await self.settle_owner(w, plan.source_edge, epoch)
        self.log.info("migration.synced_back", workload=w, from_lsn=wc.cutover_lsn, to=hold_lsn)
        wc.routing = "source"
        wc.cutover_lsn = None
        wc.target_digest = None
        wc.validated = False

    async def rollback(
        self, checkpoint: Checkpoint | None, *, checkpoint_id: str | None = None
    ) -> None:
        """Restore routing to the source (syncing back the target's writes first).

        Without a checkpoint the target's copies are dropped and the migration ends
        ``rolled_back``. With one, the target keeps its copy (``incoming``), the state
        returns to that checkpoint (its acked LSNs, phase at most ``sync``) and the
        migration is ``paused``: a later resume continues from there.
        """
        await self.enter("rolling_back")
        await self.release_source_holds()
        for w in self.plan.workloads:
            try:
                await self.learn_routing(w, deactivate_target=False)
            except WorkloadNotOnEdge:
                continue
        for w in self.plan.workloads:
            if self.wl[w].routing == "target":
                await self._sync_back(w)
        self.metrics.rollbacks += 1
        if checkpoint is None:
            for w in self.plan.workloads:
                if self.wl[w].created_on_target:
                    await self._drop_target(w)
                    self.wl[w].created_on_target = False
            await self.checkpoint("rolled back")
            await self.check_converged()
            await self.enter("rolled_back")
            return
        for w, c in checkpoint.workloads.items():
            created = c.created_on_target
            try:
                info = await self.gw.workload_info(self.plan.target_edge, w)
            except WorkloadNotOnEdge:  # a checkpoint from before pre_sync made the copy
                created = False
            else:
                if info.status != "incoming":
                    owner = await self.owner(w)
                    await self.gw.set_status(
                        self.plan.target_edge, w, "incoming", epoch=owner.epoch
                    )
            self.wl[w] = WorkloadCheckpoint(acked_lsn=c.acked_lsn, created_on_target=created)
        self.round, self.stage = checkpoint.round, checkpoint.stage
        phase = checkpoint.phase
        self.phase = "sync" if phase in ("cutover", "validation", "cleanup") else phase
        self.live_acked = {w: c.acked_lsn for w, c in self.wl.items()}
        await self.checkpoint(f"rolled back to {checkpoint.checkpoint_id}")
        await self.enter("paused", f"rolled back to checkpoint {checkpoint_id}")
