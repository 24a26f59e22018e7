"""Undoing a migration run: cancel and rollback (layer: migration).

Cancel drops the target's partial copy of workloads not yet cut over. Rollback restores
routing to the source, syncing the target's later writes back first, and either drops the
target's copies (``rolled_back``) or returns to a named checkpoint (``paused``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from edge_actors.actors import Backoff

from ._errors import EdgeUnreachable, WorkloadNotOnEdge
from ._models import WorkloadCheckpoint
from ._phases import Phases
from ._runner import MigrationFailure

if TYPE_CHECKING:
    from ._gateway import ReleaseResult
    from ._models import Checkpoint

__all__ = ["Migration"]

_FLIP_BACKOFF = Backoff(initial_s=0.05, factor=2.0, max_s=1.0)
"""Between retries of a sync-back's flip of the target (the source is active, the target
held: the hold's lease bounds the retries)."""


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

    async def _copy_back(self, w: str, epoch: int) -> int:
        """Make sure the source has a copy of ``w`` to sync back into; return its LSN.

        The copy the source kept since the cutover is at the cutover LSN. One that the
        cleanup dropped is restored as an empty store under the source's ``moved`` route
        (data requests still go to the target) and filled with the target's whole content
        up to its current LSN, while the target keeps serving: the hold that follows only
        covers the writes made meanwhile. A restarted rollback resumes from the LSN the
        restored store reached. Not shielded: cancelled, it leaves a partial copy behind a
        ``moved`` route, which serves nothing. ``epoch`` is the sync-back's handover: a
        drop of the cleanup still in flight (an older epoch) is refused by the source
        after the restore instead of dropping the restored store.
        """
        plan, wc = self.plan, self.wl[w]
        source = await self.gw.workload_info(plan.source_edge, w)
        if source.status == "moved":
            await self.gw.restore_workload(plan.source_edge, w, epoch=epoch, migration_id=self.mid)
            source = await self.gw.workload_info(plan.source_edge, w)
        start = min(source.lsn, wc.cutover_lsn or 0)
        if start < (wc.cutover_lsn or 0):
            target = await self.gw.workload_info(plan.target_edge, w)
            self.log.info("migration.copying_back", workload=w, from_lsn=start, to_lsn=target.lsn)
            if target.lsn > start:
                await self.transfer(w, start, target.lsn, back=True)
                start = target.lsn
        return start

    async def _source_active(self, w: str) -> bool:
        """Whether the source serves ``w`` (``True`` when it cannot tell: a failed
        activation of unknown outcome leaves the target held, not serving)."""
        try:
            info = await self.gw.workload_info(self.plan.source_edge, w)
        except EdgeUnreachable:
            return True
        return info.status == "active"

    async def _flip_back(self, w: str, epoch: int) -> ReleaseResult:
        """Release the target's hold with ``moved_to=<source>`` (its held writes go to the
        source, which is active), retrying a failed call until the hold's lease would run
        out (:data:`_FLIP_BACKOFF` on the run's clock). A run that gives up, or crashes
        here, leaves the target held and the owner record handing over to the source:
        the next run finishes the flip (:meth:`learn_routing`).

        Returns:
            The target's answer (how long it held writes).

        Raises:
            EdgeUnreachable: The target did not take the flip within the hold's lease.
        """
        deadline = self.clock.monotonic() + self.hold_lease_s()
        attempt = 0
        while True:
            try:
                return await self.gw.release(self.plan.target_edge, w, self.source_url, epoch=epoch)
            except EdgeUnreachable as exc:
                delay = _FLIP_BACKOFF.delay(attempt)
                if self.clock.monotonic() + delay >= deadline:
                    raise
                self.log.warning("migration.flip_back_retry", workload=w, error=str(exc))
                await self.clock.sleep(delay)
                attempt += 1

    async def _sync_back(self, w: str) -> None:
        """Return a cut-over workload to the source, with the target's later writes (and
        the whole copy when the cleanup dropped the source's, :meth:`_copy_back`)."""
        plan, wc = self.plan, self.wl[w]
        with anyio.CancelScope(shield=True):
            epoch = (await self.hand_over(w, plan.target_edge, plan.source_edge)).epoch
        start = await self._copy_back(w, epoch)
        with anyio.CancelScope(shield=True):
            hold_lsn = await self.gw.hold(
                plan.target_edge, w, lease_s=self.hold_lease_s(), epoch=epoch
            )
            try:
                if hold_lsn > start:
                    await self.transfer(w, start, hold_lsn, back=True)
                source = await self.gw.workload_info(plan.source_edge, w)
                if source.lsn < hold_lsn:
                    raise EdgeUnreachable(
                        f"source LSN {source.lsn} of {w!r} behind the target's {hold_lsn}"
                    )
                target = await self.gw.workload_info(plan.target_edge, w)
                if source.digest != target.digest:
                    raise MigrationFailure(
                        f"digest mismatch syncing {w!r} back at LSN {hold_lsn}: source "
                        f"{source.digest[:16]} vs target {target.digest[:16]}; the target "
                        "keeps serving"
                    )
            except BaseException:
                await self.gw.release(plan.target_edge, w, None, epoch=epoch)
                raise
            try:
                await self.gw.set_status(plan.source_edge, w, "active", epoch=epoch)
            except BaseException:
                if not await self._source_active(w):
                    await self.gw.release(plan.target_edge, w, None, epoch=epoch)
                raise
            # From here the source serves: the target's hold must end in the flip, never
            # in place (that would make two active copies).
            released = await self._flip_back(w, epoch)
            await self.settle_owner(w, plan.source_edge, epoch)
        self.log.info(
            "migration.synced_back",
            workload=w,
            from_lsn=start,
            to=hold_lsn,
            cutover_lsn=wc.cutover_lsn,
            held_ms=released.held_ms,
        )
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
