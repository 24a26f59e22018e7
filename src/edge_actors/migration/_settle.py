"""Ownership steps of a migration run and settling them after a crash (layer: migration).

A run changes a workload's owner only through the supervisor's owner records
(:mod:`._ownership`): :meth:`Ownership.hand_over` journals the next epoch before any edge
is told, the edge commands carry that epoch, and :meth:`Ownership.settle_owner` journals
the outcome. A run that starts again after a crash (of itself, the supervisor or an edge)
first learns from the edges what the interrupted step left, with
:meth:`Ownership.learn_routing`, and drives them to exactly one active copy:

* the source flipped to ``moved`` to the target and the target ``active``: the cutover
  happened;
* the source flipped to ``moved`` but the target ``incoming`` (a set-incoming of an old
  epoch, such as a cutover's delayed undo, landed after the handover was finished): no
  copy accepts writes. Repaired by activating the target at a new epoch; the activation
  verifies LSN and digest against the source's frozen copy (or, once that is dropped,
  the cutover LSN). A target copy that does not verify while the source still has its
  data is undone instead (target ``incoming``, source ``active``, new epoch);
* the source ``active`` while the owner record still hands the workload back from the
  target to the source: a rollback's sync-back activated the source and was interrupted
  before its flip of the target was journaled; the flip is finished (a target still
  held is released to ``moved`` to the source), or, if the target's hold lapsed and it
  serves again, the run refuses to go on (``NotConverged``: writes may be on both);
* the source is still ``active`` but marked ``retiring_to`` the target (killed between
  the target's activation and its own flip, or an undo that could not reach the target):
  if the target is ``active`` it may have acknowledged writes, so the handover is
  finished; otherwise it is undone (target ``incoming``, source ``active``).

Finishing a handover takes a new epoch and (re)activates the target at it *before* the
source is flipped to ``moved``: the target's fence then refuses any command of the
interrupted cutover's epoch still in flight (the source's undo), so it cannot put the
target back to ``incoming`` behind a ``moved`` source. Never both active, no
acknowledged write dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import NotConverged, WorkloadNotOnEdge
from ._messages import GetOwner, HandOver, SettleOwner
from ._runner import Runner

if TYPE_CHECKING:
    from ._gateway import EdgeWorkload
    from ._ownership import OwnerRecord

__all__ = ["Ownership"]


class Ownership(Runner):
    """Owner records of the run's workloads, and settling an interrupted handover."""

    async def owner(self, w: str) -> OwnerRecord:
        """The owner record of ``w`` (the source at epoch 0 when none is journaled)."""
        record: OwnerRecord = await self.ask(
            GetOwner(self.mid, w, self.plan.source_edge, self.ctx.run_id)
        )
        return record

    async def hand_over(self, w: str, from_edge: str, to_edge: str) -> OwnerRecord:
        """Journal the next epoch of ``w``, handing it from ``from_edge`` to ``to_edge``."""
        record: OwnerRecord = await self.ask(
            HandOver(self.mid, w, from_edge, to_edge, self.ctx.run_id)
        )
        self.log.info("migration.hand_over", workload=w, to=to_edge, epoch=record.epoch)
        return record

    async def settle_owner(self, w: str, edge: str, epoch: int) -> OwnerRecord:
        """Journal ``edge`` as the owner of ``w`` at ``epoch`` (the handover ended)."""
        record: OwnerRecord = await self.ask(SettleOwner(self.mid, w, edge, epoch, self.ctx.run_id))
        return record

    async def learn_routing(self, w: str, *, deactivate_target: bool = True) -> None:
        """Learn from the edges where ``w`` is served and settle an interrupted handover.

        Args:
            w: The workload.
            deactivate_target: Also put back to ``incoming`` a target copy left ``active``
                by an old undo (a rollback drops that copy anyway and need not reach the
                target for it).

        Raises:
            EdgeUnreachable: An edge does not answer (the run is restarted later).
        """
        plan, wc = self.plan, self.wl[w]
        record = await self.owner(w)
        source = await self.settled_info(plan.source_edge, w)
        if source.status == "moved" and source.moved_to == self.target_url:
            target = await self._target_info(w)
            if target is not None and target.status == "incoming":
                await self._repair_moved(w, source, target)
                return
            if wc.routing != "target":
                wc.routing = "target"
                wc.cutover_lsn = wc.cutover_lsn or source.lsn
            await self._settled(record, plan.target_edge)
            return
        if source.status == "active" and source.retiring_to == self.target_url:
            await self._finish_or_undo(w, record, source)
            return
        if (
            source.status == "active"
            and record.owner_edge == plan.target_edge
            and record.handing_to == plan.source_edge
        ):
            await self._finish_flip_back(w, record)
            return
        if source.held and wc.routing == "source":
            self.log.warning("migration.releasing_stale_hold", workload=w)
            await self.gw.release(plan.source_edge, w, None, epoch=record.epoch)
        if wc.routing == "source" and wc.created_on_target and deactivate_target:
            # A cutover whose undo could not reach the target may have left it active.
            target = await self._target_info(w)
            if target is not None and target.status == "active":
                self.log.warning("migration.deactivating_target", workload=w)
                await self.gw.set_status(plan.target_edge, w, "incoming", epoch=record.epoch)
        routed = plan.target_edge if wc.routing == "target" else plan.source_edge
        await self._settled(record, routed)

    async def _finish_or_undo(self, w: str, record: OwnerRecord, source: EdgeWorkload) -> None:
        plan = self.plan
        target = await self._target_info(w)
        if target is not None and target.status == "active":
            self.log.warning("migration.finishing_interrupted_cutover", workload=w)
            await self._finish_handover(w, source.lsn, source.digest)
            return
        self.log.warning("migration.undoing_interrupted_cutover", workload=w)
        if target is not None and target.status != "incoming":
            await self.gw.set_status(plan.target_edge, w, "incoming", epoch=record.epoch)
        await self.gw.set_status(plan.source_edge, w, "active", epoch=record.epoch)
        await self._settled(record, plan.source_edge)

    async def _finish_flip_back(self, w: str, record: OwnerRecord) -> None:
        """A rollback's sync-back activated the source and was interrupted before its
        flip of the target was journaled (the owner record still hands over to the
        source). A target still held (its writes queued since the sync-back's hold, whose
        final delta the source verified) is flipped to ``moved`` to the source now; one
        already ``moved`` was flipped. Either way the source owns the workload.

        Raises:
            NotConverged: The target is ``active`` and no longer held: its hold lapsed
                and it may have taken writes the source lacks (nothing changed; an
                operator must look).
        """
        plan, wc = self.plan, self.wl[w]
        target = await self._target_info(w)
        if target is not None and target.status == "active":
            if not target.held:
                raise NotConverged(
                    f"workload {w!r} is active on {plan.source_edge!r} and on "
                    f"{plan.target_edge!r}: a rollback's flip back was interrupted and "
                    "the target's hold lapsed (it may have taken writes the source "
                    "lacks); not ending"
                )
            self.log.warning("migration.finishing_flip_back", workload=w)
            await self.gw.release(plan.target_edge, w, self.source_url, epoch=record.epoch)
        wc.routing = "source"
        wc.cutover_lsn = None
        wc.target_digest = None
        wc.validated = False
        await self.settle_owner(w, plan.source_edge, record.epoch)

    async def _repair_moved(self, w: str, source: EdgeWorkload, target: EdgeWorkload) -> None:
        """Source ``moved`` to the target, target ``incoming``: no copy accepts writes.

        The source has been frozen since its hold, so its copy (while it is kept) is the
        reference: the target must be at its LSN or later (and equal in digest at it).
        Once the source's copy is dropped, the cutover LSN (and the digest the target's
        own activation confirmed at it) is.

        Raises:
            NotConverged: The target's copy does not verify and the source has no copy
                to return to (nothing changed; an operator must look).
            EdgeUnreachable: An edge does not answer or refuses (the run retries).
        """
        plan, wc = self.plan, self.wl[w]
        digest: str | None
        if source.lsn > 0:
            lsn, digest = source.lsn, source.digest
        else:
            lsn = wc.cutover_lsn or target.activated_lsn or 0
            digest = target.activated_digest if target.activated_lsn == lsn else None
        behind = target.lsn < lsn or (target.lsn == lsn and digest not in (None, target.digest))
        if not behind:
            self.log.warning("migration.reactivating_target", workload=w, lsn=lsn)
            await self._finish_handover(w, lsn, digest)
            return
        if source.lsn == 0:
            raise NotConverged(
                f"workload {w!r} is moved on {plan.source_edge!r} and incoming on "
                f"{plan.target_edge!r}, whose copy (LSN {target.lsn}) does not verify "
                f"against the cutover LSN {lsn}, and the source keeps no copy; not ending"
            )
        self.log.warning("migration.returning_to_source", workload=w, target_lsn=target.lsn)
        fresh = await self.hand_over(w, plan.source_edge, plan.source_edge)
        await self.gw.set_status(plan.target_edge, w, "incoming", epoch=fresh.epoch)
        await self.gw.set_status(plan.source_edge, w, "active", epoch=fresh.epoch)
        wc.routing = "source"
        wc.cutover_lsn = None
        await self._settled(fresh, plan.source_edge)

    async def _finish_handover(self, w: str, lsn: int, digest: str | None) -> None:
        """Hand ``w`` to the target under a new epoch: activate it there (verifying
        ``lsn`` and ``digest``), then flip the source to ``moved`` (see the module doc)."""
        plan, wc = self.plan, self.wl[w]
        fresh = await self.hand_over(w, plan.source_edge, plan.target_edge)
        await self.gw.activate(plan.target_edge, w, min_lsn=lsn, digest=digest, epoch=fresh.epoch)
        await self.gw.set_status(plan.source_edge, w, "moved", self.target_url, epoch=fresh.epoch)
        wc.routing = "target"
        wc.cutover_lsn = lsn
        wc.acked_lsn = max(wc.acked_lsn, lsn)
        self.live_acked[w] = wc.acked_lsn
        await self._settled(fresh, plan.target_edge)

    async def check_converged(self) -> None:
        """Refuse to end the run while a workload has two copies (or none) accepting
        writes, or a hold outstanding, on its two edges (the target only while this run
        has a copy there: one it dropped or never made is not asked about).

        Raises:
            NotConverged: Named workload and edges (the run is retried).
            EdgeUnreachable: An edge does not answer.
        """
        plan = self.plan
        for w in plan.workloads:
            wc = self.wl[w]
            edges = [plan.source_edge]
            if wc.created_on_target or wc.routing == "target":
                edges.append(plan.target_edge)
            accepting: list[str] = []
            for edge in edges:
                try:
                    info = await self.gw.workload_info(edge, w)
                except WorkloadNotOnEdge:
                    continue
                if info.held:
                    raise NotConverged(f"workload {w!r} is still held on {edge!r}; not ending")
                if info.status == "active" and info.retiring_to is None:
                    accepting.append(edge)
            if len(accepting) != 1:
                raise NotConverged(
                    f"workload {w!r} accepts writes on {len(accepting)} edges "
                    f"({', '.join(accepting) or 'none'}); not ending until exactly one does"
                )

    async def _target_info(self, w: str) -> EdgeWorkload | None:
        try:
            return await self.gw.workload_info(self.plan.target_edge, w)
        except WorkloadNotOnEdge:
            return None

    async def _settled(self, record: OwnerRecord, edge: str) -> None:
        if record.handing_to is not None or record.owner_edge != edge:
            await self.settle_owner(record.workload, edge, record.epoch)
