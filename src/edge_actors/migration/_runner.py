"""The state of one migration run and its plumbing (layer: migration).

A :class:`Runner` belongs to exactly one migration actor incarnation: it holds the run's
position (phase, round, stage, per-workload checkpoint), its live progress and the
figures it measures, and it is the only writer of them. The supervisor learns them only
from messages: transitions and checkpoints (asks, journaled before the reply) and
progress snapshots (tells, at most every ``_PUBLISH_S``). The phases build on it
(``_phases.py``, ``_undo.py``).
"""

from __future__ import annotations

import time
import uuid
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from edge_actors._log import get_logger
from edge_actors.actors import MailboxFull

from ._errors import EdgeUnreachable, IntentPending, MigrationError
from ._gateway import EdgeWorkload, TransferRequest
from ._messages import (
    GetOwner,
    GetResume,
    PublishProgress,
    ResumePoint,
    RunTotals,
    SaveCheckpoint,
    SetDetail,
    Transition,
)
from ._models import (
    PHASES,
    Checkpoint,
    MigrationMetrics,
    MigrationProgress,
    MigrationState,
    Phase,
    WorkloadCheckpoint,
)
from ._slots import TransferGate
from ._transitions import TRANSITIONS

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

    from edge_actors.transfer import TransferProgress

    from ._actor import RunContext
    from ._strategies import RoundEstimator

__all__ = ["MigrationFailure", "Runner", "first_error"]

_ASK_TIMEOUT_S = 30.0
_PUBLISH_S = 0.05
"""Progress snapshots go to the supervisor at most this often (and at every boundary)."""
HOLD_LEASE_MAX_S = 600.0
"""The longest hold lease a cutover asks for: an edge's default ``hold_max_lease_s``."""
_EDGE_CALLS = 8
"""Admin calls about single workloads one run makes at once (:meth:`Runner.each`)."""


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first exception of a task group's failure (groups flattened)."""
    first = group.exceptions[0]
    return first_error(first) if isinstance(first, BaseExceptionGroup) else first


class MigrationFailure(MigrationError):
    """A deterministic failure (digest mismatch, not converging, ...): no restart helps."""


class Runner:
    """One run's position, progress and figures, and the asks that journal them."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.plan = ctx.plan
        self.gw = ctx.gateway
        self.clock = ctx.clock
        self.mid = ctx.plan.migration_id
        self.log = get_logger(
            "migration.actor",
            migration_id=self.mid,
            source=ctx.plan.source_edge,
            target=ctx.plan.target_edge,
        )
        self.state: MigrationState = "planned"
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
        self.last_checkpoint = self.clock.monotonic()
        self.last_publish = -1.0
        self.target_url = ""
        self.source_url = ""
        self.metrics = MigrationMetrics(migration_id=self.mid)
        self.gate = TransferGate(
            ctx.link_slots.link(ctx.plan.source_edge, ctx.plan.target_edge),
            ctx.plan.constraints.parallel_transfers,
        )
        self.progress = MigrationProgress(migration_id=self.mid, state="planned")
        self.waits_for_intents = False
        """Whether an intent on the lane interrupts the current work (see ``_actor``)."""

    # -- asks to the supervisor ---------------------------------------------------------

    async def ask(self, message: object) -> Any:
        """Ask the supervisor; a refusal is raised."""
        return await self.ctx.supervisor.ask(message, timeout=_ASK_TIMEOUT_S)

    async def resume_point(self) -> ResumePoint:
        """Ask where to start and load it (status, checkpoint, figures, progress)."""
        point: ResumePoint = await self.ask(GetResume(self.mid, self.ctx.run_id))
        self.state = point.status.state
        self.metrics = point.metrics
        self.progress = point.progress
        self.bytes_done_base = point.metrics.bytes_raw
        self.records_done_base = point.metrics.records
        self.load(point.checkpoint)
        return point

    def totals(self) -> RunTotals:
        """The figures this run owns, as a message value.

        The running transfers' acknowledged bytes and records count already: a checkpoint
        journals them beside the acked LSNs they match (so a run resumed from it neither
        loses nor repeats them), and the metrics agree with the progress meanwhile.
        """
        totals = RunTotals.of(self.metrics)
        if not self.live_bytes:
            return totals
        raw, wire, records = (sum(column) for column in zip(*self.live_bytes.values(), strict=True))
        return msgspec.structs.replace(
            totals,
            bytes_raw=totals.bytes_raw + raw,
            bytes_wire=totals.bytes_wire + wire,
            records=totals.records + records,
        )

    async def enter(
        self, state: MigrationState, detail: str = "", error: str | None = None
    ) -> None:
        """Journal a transition (and a checkpoint when it enters a phase).

        A pause, preempt or cancel already on the lane makes the supervisor refuse a next
        phase (``IntentPending``): the run then waits here until that intent stops it.
        """
        if self.state == state:
            if state in PHASES:
                self.phase = state
            return
        if self._journal_ahead(state):
            # Killed between journaling the next phase and checkpointing it: the journal
            # is past ``state`` already. Redo this phase's (idempotent) work, journal nothing.
            self.log.info("migration.phase_redone", state=state, journaled=self.state)
            self.phase = state  # type: ignore[assignment]  # _journal_ahead: a phase
            return
        try:
            status = await self.ask(
                Transition(self.mid, state, detail, error, self.totals(), self.ctx.run_id)
            )
        except IntentPending:
            if not self.waits_for_intents:
                raise
            await anyio.sleep_forever()  # the lane watcher cancels us: the intent is sent
        self.state = status.state
        self.log.info("migration.transition", state=state, detail=detail, error=error)
        if state in PHASES:
            self.phase = state
            await self.checkpoint(f"entered {state}")

    def _journal_ahead(self, state: MigrationState) -> bool:
        """Whether ``state`` is a phase before the journaled one that cannot follow it
        (the latest checkpoint lags the journal by a transition)."""
        current = self.state
        return (
            state in PHASES
            and current in PHASES
            and PHASES.index(state) < PHASES.index(current)
            and state not in TRANSITIONS[current]
        )

    async def detail(self, detail: str) -> None:
        """Journal what the run is doing now (``waiting for time window ...``)."""
        self.progress.detail = detail
        await self.ask(SetDetail(self.mid, detail, self.ctx.run_id))

    async def checkpoint(self, reason: str) -> Checkpoint:
        """Journal the run's position with the live acknowledged LSNs."""
        workloads = {w: msgspec.structs.replace(c) for w, c in self.wl.items()}
        for w, acked in self.live_acked.items():
            if w in workloads and acked > workloads[w].acked_lsn:
                workloads[w].acked_lsn = acked
        self.publish(force=True)
        checkpoint: Checkpoint = await self.ask(
            SaveCheckpoint(
                self.mid,
                self.phase,
                self.round,
                self.stage,
                workloads,
                reason,
                self.totals(),
                self.ctx.run_id,
            )
        )
        self.last_checkpoint = self.clock.monotonic()
        return checkpoint

    def load(self, checkpoint: Checkpoint | None) -> None:
        """Take the position of ``checkpoint`` (or the start when ``None``)."""
        self.wl = {w: WorkloadCheckpoint() for w in self.plan.workloads}
        if checkpoint is not None:
            for w, c in checkpoint.workloads.items():
                self.wl[w] = msgspec.structs.replace(c)
            self.phase = checkpoint.phase
            self.round = checkpoint.round
            self.stage = checkpoint.stage
        self.live_acked = {w: c.acked_lsn for w, c in self.wl.items()}

    def publish(self, *, force: bool = False) -> None:
        """Send a progress snapshot (a tell; skipped when the last is fresh or the
        supervisor's mailbox is full: the next snapshot carries everything)."""
        now = time.monotonic()
        if not force and now - self.last_publish < _PUBLISH_S:
            return
        self.last_publish = now
        self.progress.round, self.progress.stage = self.round, self.stage
        snapshot = msgspec.structs.replace(self.progress, updated_at=self.clock.time())
        try:
            self.ctx.supervisor.tell_nowait(
                PublishProgress(self.mid, snapshot, self.totals(), self.ctx.run_id)
            )
        except MailboxFull:
            return

    # -- transfers ----------------------------------------------------------------------

    def _on_progress(self, workload: str, progress: TransferProgress) -> None:
        self.live_acked[workload] = max(self.live_acked.get(workload, 0), progress.acked_lsn)
        # Records the target had from an earlier stream (acks lost to a pause or a crash)
        # were moved by this migration too: the checkpoint's acked LSN stopped before them.
        # Wire bytes: every frame the source put on the wire (re-sent chunks and a
        # cancelled transfer's unacknowledged tail included), not only acknowledged ones.
        self.live_bytes[workload] = (
            progress.raw_bytes + progress.applied_raw_bytes,
            progress.sent_wire_bytes,
            progress.records + progress.applied_records,
        )
        p = self.progress
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
        self.publish()

    def _account(self, workload: str) -> None:
        self.account_shipped(*self.live_bytes.pop(workload, (0, 0, 0)))

    def account_shipped(self, raw: int, wire: int, recs: int) -> None:
        """Add one finished transfer's figures (a cutover's final delta too) to the
        metrics: payload bytes and records acknowledged, frame bytes put on the wire."""
        m = self.metrics
        m.bytes_raw += raw
        m.bytes_wire += wire
        m.records += recs
        m.compression_ratio = m.bytes_raw / m.bytes_wire if m.bytes_wire else 1.0
        self.bytes_done_base += raw
        self.records_done_base += recs
        self.publish(force=True)

    async def transfer(
        self, workload: str, from_lsn: int, to_lsn: int, *, back: bool = False
    ) -> TransferProgress:
        """Stream ``(from_lsn, to_lsn]`` of ``workload`` (target to source when ``back``)."""
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
            left = self.last_checkpoint + interval - self.clock.monotonic()
            await self.clock.sleep(max(0.0, left))
            if self.clock.monotonic() - self.last_checkpoint >= interval:
                await self.checkpoint("interval")

    @asynccontextmanager
    async def transfer_slot(self) -> AsyncIterator[None]:
        """Hold one of the plan's and one of the link's transfer slots for the block
        (:mod:`._slots`); the run's peak of transfers at once goes to the metrics."""
        async with self.gate.slot():
            self.metrics.peak_transfers = max(self.metrics.peak_transfers, self.gate.running)
            yield

    async def ship_all(self, jobs: dict[str, tuple[int, int]]) -> dict[str, float]:
        """Ship ``(from, to]`` per workload, at most ``parallel_transfers`` at once and
        within the link's slots; return each one's elapsed seconds (from the moment it
        held its slots: waiting for one is not transfer time).

        A fixed set of workers takes the jobs in order, so a plan's memory does not grow
        with its number of workloads.
        """
        elapsed: dict[str, float] = {}
        queue = iter(list(jobs.items()))  # one iterator shared by the workers

        async def worker() -> None:
            for w, (lo, hi) in queue:
                if hi <= lo:
                    elapsed[w] = 0.0
                    continue
                async with self.transfer_slot():
                    started = time.monotonic()
                    final = await self.transfer(w, lo, hi)
                    elapsed[w] = time.monotonic() - started
                self.shipped[w] = (final.raw_bytes, final.records)

        try:
            async with anyio.create_task_group() as outer:
                outer.start_soon(self._ticker)
                async with anyio.create_task_group() as tg:
                    for _ in range(min(self.gate.per_plan, len(jobs))):
                        tg.start_soon(worker)
                outer.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # Raised as itself, like one transfer's failure: an edge outage or a full disk
            # (EdgeUnreachable) is then waited out by the run instead of crashing it.
            raise first_error(group) from None
        return elapsed

    async def each(self, names: Iterable[str], call: Callable[[str], Awaitable[None]]) -> None:
        """Run ``call(name)`` for every name, at most :data:`_EDGE_CALLS` at once (a wide
        plan makes one admin call per workload in several places); the first failure
        cancels the rest and is raised as itself, as a loop of calls would raise it."""
        queue = iter(list(names))

        async def worker() -> None:
            for w in queue:
                await call(w)

        try:
            async with anyio.create_task_group() as tg:
                for _ in range(_EDGE_CALLS):
                    tg.start_soon(worker)
        except BaseExceptionGroup as group:
            raise first_error(group) from None

    async def infos(self, edge: str, names: list[str]) -> dict[str, EdgeWorkload]:
        """Workload infos of ``names`` on ``edge`` (:meth:`each`; timed per call)."""
        infos: dict[str, EdgeWorkload] = {}

        async def one(w: str) -> None:
            started = time.monotonic()
            infos[w] = await self.gw.workload_info(edge, w)
            if w in self.estimators:
                self.estimators[w].record_call(time.monotonic() - started)

        await self.each(names, one)
        return infos

    def hold_lease_s(self) -> float:
        """How long a write hold may last before the edge lifts it on its own: a margin
        over the downtime budget, at most what an edge grants by default
        (``hold_max_lease_s``), so a budget of minutes still gets its hold."""
        return min(HOLD_LEASE_MAX_S, max(30.0, 20 * self.plan.constraints.max_downtime_s))

    async def settled_info(self, edge: str, w: str) -> EdgeWorkload:
        """The workload's info once no cutover runs on ``edge`` (an unknown outcome of a
        cutover call settles within the hold lease: done, or undone)."""
        deadline = self.clock.monotonic() + self.hold_lease_s() + 5.0
        while True:
            info = await self.gw.workload_info(edge, w)
            if not info.cutover or self.clock.monotonic() > deadline:
                return info
            await anyio.sleep(0.05)  # polling the edge, not a time window: real time

    async def release_source_holds(self) -> None:
        """Lift every write hold this migration may have left on the source (fenced by
        the workload's current owner epoch)."""
        plan = self.plan
        with anyio.CancelScope(shield=True):
            for w in plan.workloads:
                try:
                    info = await self.settled_info(plan.source_edge, w)
                    if info.held and info.status != "moved":
                        owner = await self.ask(
                            GetOwner(self.mid, w, plan.source_edge, self.ctx.run_id)
                        )
                        await self.gw.release(plan.source_edge, w, None, epoch=owner.epoch)
                except MigrationError:
                    continue
