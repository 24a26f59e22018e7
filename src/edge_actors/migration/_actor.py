"""The migration actor: one per run of a migration (layer: migration).

It runs the phases (``_phases.py``) or an undo (``_undo.py``) as a child task, and reads
its **intent lane** meanwhile: the supervisor sends pause, preempt, cancel, rollback and
shutdown there as messages (the engine's mailbox is not read while ``receive`` runs, so
control travels on this second, bounded channel that only this actor reads). On an
intent the actor cancels its own phase task, carries the intent out (checkpoint and
``paused``; ``queued``; cancel; rollback) and reports the outcome to the supervisor. The
run ends with ``RunEnded`` naming the last intent handled; the supervisor answers an
intent sent after that by running the same actor again, so no accepted request is lost.

A crash (an unexpected error, an edge that does not answer, ``ActorSystem.kill``) ends the
actor (a ``temporary`` child of ``migration-runs``); the migration supervisor, watching it,
starts the run's next incarnation within the restart policy. The new actor asks for the
resume point, whose ``intent`` is one its predecessor took but did not finish, and goes
on from the acknowledged LSNs.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import anyio

from edge_actors.actors import Actor, Backoff, Refusal
from edge_actors.errors import ConfigError

from ._errors import EdgeUnreachable, IllegalTransition, MigrationError, WorkloadNotOnEdge
from ._messages import GetResume, Intent, IntentKind, Run, RunEnded
from ._models import TERMINAL_STATES
from ._reconciler import EdgeAnswered
from ._runner import MigrationFailure
from ._slots import LinkSlots
from ._transitions import check_transition
from ._undo import Migration

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from anyio.streams.memory import MemoryObjectReceiveStream

    from edge_actors.actors import ActorRef
    from edge_actors.clock import Clock

    from ._gateway import EdgeGateway
    from ._messages import ResumePoint
    from ._models import MigrationPlan, MigrationState
    from ._strategies import Strategy

__all__ = ["MigrationActor", "MigrationFailure", "RunContext"]

_ALL: frozenset[IntentKind] = frozenset(("pause", "preempt", "cancel", "rollback", "shutdown"))
_SHUTDOWN_ONLY: frozenset[IntentKind] = frozenset(("shutdown",))
_OUTCOME: dict[IntentKind, MigrationState] = {
    "pause": "paused",
    "preempt": "queued",
    "cancel": "cancelled",
    "rollback": "rolling_back",
}


_OUTAGE_BACKOFF = Backoff(initial_s=0.2, factor=2.0, max_s=5.0)


class RunContext:
    """What a migration actor is made from; created by the supervisor for each incarnation
    of a run (``delay_s``: the restart backoff before it runs). Every part is immutable or
    a handle (no shared state)."""

    def __init__(
        self,
        *,
        plan: MigrationPlan,
        strategy: Strategy,
        gateway: EdgeGateway,
        supervisor: ActorRef[Any],
        lane: MemoryObjectReceiveStream[Intent],
        clock: Clock,
        run_id: str,
        delay_s: float = 0.0,
        outage_budget_s: float = 300.0,
        outage_backoff: Backoff = _OUTAGE_BACKOFF,
        link_slots: LinkSlots | None = None,
    ) -> None:
        self.plan = plan
        self.strategy = strategy
        self.gateway = gateway
        self.supervisor = supervisor
        self.lane = lane
        self.clock = clock
        self.run_id = run_id
        self.delay_s = delay_s
        self.outage_budget_s = outage_budget_s
        self.outage_backoff = outage_backoff
        """How edges that do not answer are waited out (``RestartPolicy``)."""
        self.link_slots = link_slots if link_slots is not None else LinkSlots()
        """Transfer slots per link, shared by the service's runs (a private set when
        ``None``)."""


class MigrationActor(Actor[Run]):
    """Runs one migration; the factory closes over its :class:`RunContext`."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    async def on_start(self) -> None:
        self.ref.tell_nowait(Run())

    async def receive(self, message: Run) -> None:
        if self.ctx.delay_s > 0:
            # The restart backoff, on the injected clock like the rest of the run (a test
            # moves it; the lane keeps any intent sent meanwhile).
            await self.ctx.clock.sleep(self.ctx.delay_s)
        try:
            await _Run(self.ctx).run()
        except Refusal as exc:
            # The supervisor refused one of our own steps (an illegal transition): for this
            # actor that is a crash (the supervisor restarts the run from its checkpoint).
            raise MigrationError(f"migration run refused by the supervisor: {exc}") from exc


class _Run(Migration):
    """One execution: from the resume point through every intent to ``RunEnded``."""

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self.seen = 0
        """Intents up to this sequence number are handled (or were accounted for)."""
        self.deferred: list[Intent] = []

    async def run(self) -> None:
        point = await self.resume_point()
        self.seen = point.intent_seq
        self.source_url = self.gw.resolve(self.plan.source_edge)
        self.target_url = self.gw.resolve(self.plan.target_edge)
        pending = point.intent
        if pending is None:
            # Then every intent that arrived meanwhile (deferred, or still on the lane).
            pending = await self._work(point) or self._next_intent()
        while pending is not None:
            if pending.kind == "shutdown":
                return  # the service is stopping: the journal keeps the run resumable
            pending = await self._carry_out(pending) or self._next_intent()
        await self.ctx.supervisor.tell(
            RunEnded(self.mid, self.seen, self.totals(), self.ctx.run_id)
        )

    async def _work(self, point: ResumePoint) -> Intent | None:
        if self.state in TERMINAL_STATES or (
            point.mode == "migrate" and self.state in ("failed", "paused")
        ):
            # A previous incarnation of this run reached the outcome and crashed (or was
            # killed) before its RunEnded: nothing is left to do. A migrate run never
            # starts at failed or paused otherwise (resume queues it first).
            self.log.info("migration.run_outcome_reached", state=self.state)
            return None
        if point.mode == "cancel":
            return await self._interruptible(self.cancel, _SHUTDOWN_ONLY)
        if point.mode == "rollback" or self.state == "rolling_back":
            target, cp_id = point.rollback_to, point.status.rollback_checkpoint
            return await self._interruptible(
                lambda: self.rollback(target, checkpoint_id=cp_id), _SHUTDOWN_ONLY
            )
        return await self._interruptible(self.migrate, _ALL)

    async def _interruptible(
        self, work: Callable[[], Awaitable[None]], stop_on: frozenset[IntentKind]
    ) -> Intent | None:
        """Run ``work`` as a child task that an intent of ``stop_on`` cancels; return that
        intent. Other intents wait in :attr:`deferred` until the work is done. A failure
        of the work is journaled after the task (no intent can interrupt it)."""
        taken: Intent | None = None
        failure: Exception | None = None
        phase = anyio.CancelScope()

        async def watch_lane() -> None:
            nonlocal taken
            while True:
                try:
                    intent = await self.ctx.lane.receive()
                except (anyio.EndOfStream, anyio.ClosedResourceError):
                    return  # the supervisor closed the lane: the run is being stopped
                if intent.seq <= self.seen:
                    continue  # accounted for at the resume point
                self.seen = intent.seq
                if intent.kind not in stop_on:
                    self.deferred.append(intent)
                    continue
                taken = intent
                phase.cancel()
                return

        self.waits_for_intents = stop_on == _ALL
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_lane)
            with phase:
                try:
                    await self._waiting_out_outages(work)
                except (MigrationFailure, ConfigError, WorkloadNotOnEdge) as exc:
                    failure = exc
            tg.cancel_scope.cancel()
        self.waits_for_intents = False
        if failure is not None:
            await self._fail(str(failure))
        return taken

    async def _waiting_out_outages(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work``; an edge that does not answer is waited out, not a crash.

        The run shows ``waiting for edge X since T`` (status and progress detail) and
        waits the policy's capped exponential backoff on the clock until the edge answers
        its health check; then it clears the detail, has the supervisor run a reconciler
        pass for the workloads on that edge, reloads its journaled position and runs
        ``work`` again. An outage longer than ``outage_budget_s`` raises the error (a
        crash: the restart budget, then the rollback, which waits edges out the same way).
        """
        ctx = self.ctx
        since: tuple[float, float] | None = None  # monotonic, wall
        attempt = 0
        while True:
            try:
                await work()
                return
            except EdgeUnreachable as exc:
                if since is None:
                    since = (self.clock.monotonic(), self.clock.time())
                if self.clock.monotonic() - since[0] >= ctx.outage_budget_s:
                    raise
                at = dt.datetime.fromtimestamp(since[1], dt.UTC).isoformat(timespec="seconds")
                self.log.warning("migration.waiting_for_edge", edge=exc.edge, error=str(exc))
                what = f"edge {exc.edge}" if exc.edge else f"the edges ({exc})"
                await self.detail(f"waiting for {what} since {at}")
                while True:
                    await self.clock.sleep(ctx.outage_backoff.delay(attempt))
                    attempt += 1
                    if exc.edge is None or await self.gw.health(exc.edge):
                        break
                    if self.clock.monotonic() - since[0] >= ctx.outage_budget_s:
                        raise
                await self.detail("")
                if exc.edge is not None:  # other migrations' workloads on it: a pass now
                    await self.ask(EdgeAnswered(exc.edge))
                await self.resume_point()

    def _next_intent(self) -> Intent | None:
        """The next intent to carry out: deferred ones first, then the lane's."""
        if self.deferred:
            return self.deferred.pop(0)
        while True:
            try:
                intent = self.ctx.lane.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                return None
            if intent.seq > self.seen:
                self.seen = intent.seq
                return intent

    async def _fail(self, reason: str) -> None:
        self.log.warning("migration.failed", reason=reason)
        await self.release_source_holds()
        await self.enter("failed", error=reason)

    async def _carry_out(self, intent: Intent) -> Intent | None:
        """Do what ``intent`` asks from the current state; an intent the state no longer
        allows (a pause that reached a failed run) is dropped and logged."""
        self.seen = max(self.seen, intent.seq)
        kind = intent.kind
        try:
            check_transition(self.mid, self.state, _OUTCOME[kind])
        except IllegalTransition as exc:
            self.log.warning("migration.intent_dropped", intent=kind, error=str(exc))
            return None
        if kind == "pause" or kind == "preempt":
            await self.checkpoint(kind)
            self.metrics.pauses += 1
            await self.enter(_OUTCOME[kind], intent.detail)
            return None
        if kind == "cancel":
            return await self._interruptible(self.cancel, _SHUTDOWN_ONLY)
        target = None
        if intent.checkpoint_id is not None:
            point: ResumePoint = await self.ask(GetResume(self.mid, self.ctx.run_id))
            target = point.rollback_to
        cp_id = intent.checkpoint_id
        return await self._interruptible(
            lambda: self.rollback(target, checkpoint_id=cp_id), _SHUTDOWN_ONLY
        )
