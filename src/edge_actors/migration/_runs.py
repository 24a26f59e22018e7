"""The runs of migrations: migration actors, their restarts and intent lanes (layer: migration).

A plain class the migration supervisor actor drives (only it calls it). Each run is a
:class:`MigrationActor`, a ``temporary`` child of the ``migration-runs`` supervisor (so
every actor lives in the migration supervision tree), watched by the migration
supervisor, which is the run's manager in OTP's sense: a crash is reported to it and it
starts the run's next incarnation within the :class:`RestartPolicy` (restart intensity and
backoff, the actor engine's semantics), or, past the intensity, rolls the migration back.
A run also has an intent lane: a bounded channel whose sending end only the supervisor
holds and whose receiving end only the run's current actor reads.
"""

from __future__ import annotations

import functools
import itertools
from collections import deque
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from edge_actors._log import get_logger
from edge_actors.actors import Backoff

from ._actor import MigrationActor, RunContext
from ._errors import IllegalTransition
from ._messages import Intent, IntentKind, Run, RunMode

if TYPE_CHECKING:
    from collections.abc import Iterator

    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from edge_actors.actors import ActorRef, ActorSystem, SupervisorRef
    from edge_actors.clock import Clock

    from ._gateway import EdgeGateway
    from ._models import MigrationPlan
    from ._registry import MigrationRecord
    from ._slots import LinkSlots
    from ._strategies import Strategy

__all__ = ["RestartPolicy", "RunHandle", "RunTable"]

_LANE_SIZE = 16
"""Intents one run may have pending on its lane (each accepted request adds one)."""

_ENGINE_STOP_S = 5.0
"""Grace of a run's actor when its run ends."""
_SHUTDOWN_S = 4.0
"""Grace of the runs when the supervisor stops (the root gives it 5 s in all)."""


class RestartPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Restart intensity of each migration actor (the actor engine's semantics).

    Attributes:
        max_restarts: restarts allowed within ``within_s``; one more rolls back.
        within_s: the intensity window in seconds.
        backoff: delay between restarts.
    """

    max_restarts: int = 3
    within_s: float = 60.0
    backoff: Backoff = Backoff(initial_s=0.2, factor=2.0, max_s=2.0)
    rollback_retry: Backoff = Backoff(initial_s=1.0, factor=2.0, max_s=30.0)
    """Delay before retrying a rollback whose run exhausted its restarts (``rollback
    failed`` is not terminal: the rollback is retried until the edges answer)."""
    outage_budget_s: float = 300.0
    """How long a run waits out edges that do not answer (``waiting for edge X since T``,
    retried after :attr:`outage_backoff`) before it counts as a crash; 0: at once."""
    outage_backoff: Backoff = Backoff(initial_s=0.2, factor=2.0, max_s=5.0)


class RunHandle:
    """The supervisor's handle on one run: its actor, restarts, lane and what it does."""

    def __init__(
        self,
        run_id: str,
        plan: MigrationPlan,
        strategy: Strategy,
        lane: MemoryObjectSendStream[Intent],
        inbox: MemoryObjectReceiveStream[Intent],
        mode: RunMode,
    ) -> None:
        self.run_id = run_id
        self.plan = plan
        self.strategy = strategy
        self.lane = lane
        self.inbox = inbox
        self.mode: RunMode = mode
        self.actor: ActorRef[Run] | None = None
        self.incarnation = 0
        self.crashes: deque[float] = deque()
        self.seq = 0
        self.intent: Intent | None = None
        """The last intent sent that has not taken effect (nor been superseded) yet."""

    def close(self) -> None:
        """Close both ends of the lane (intents for this run die with it)."""
        self.lane.close()
        self.inbox.close()


class RunTable:
    """Every active run, by migration id.

    Args:
        system: the actor system the engines run in.
        supervisor: the migration supervisor's ref (the actors report to it).
        gateway: how the actors reach the edges.
        restart: restart intensity of each migration actor.
        clock: the actors' time source.
    """

    def __init__(
        self,
        system: ActorSystem,
        supervisor: ActorRef[Any],
        runs: SupervisorRef,
        gateway: EdgeGateway,
        restart: RestartPolicy,
        clock: Clock,
        link_slots: LinkSlots,
    ) -> None:
        self.system = system
        self.link_slots = link_slots
        self.supervisor = supervisor
        self.runs = runs
        self.gateway = gateway
        self.restart = restart
        self.clock = clock
        self._runs: dict[str, RunHandle] = {}
        self._ids = itertools.count(1)
        self.log = get_logger("migration.supervisor")

    def __contains__(self, migration_id: object) -> bool:
        return migration_id in self._runs

    def __getitem__(self, migration_id: str) -> RunHandle:
        return self._runs[migration_id]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._runs))

    def get(self, migration_id: str) -> RunHandle | None:
        """The run of ``migration_id``, or ``None``."""
        return self._runs.get(migration_id)

    def items(self) -> list[tuple[str, RunHandle]]:
        """``(migration_id, run)`` pairs (a copy)."""
        return list(self._runs.items())

    def by_actor(self, name: str) -> str | None:
        """The migration whose current actor is called ``name``."""
        return next(
            (m for m, r in self._runs.items() if r.actor is not None and r.actor.name == name),
            None,
        )

    async def start(self, record: MigrationRecord, mode: RunMode, *, delay_s: float = 0.0) -> None:
        """Start a run: its intent lane and its first actor (which waits ``delay_s``)."""
        mid = record.migration_id
        run_id = f"migration-{mid}-{next(self._ids)}"
        lane, inbox = anyio.create_memory_object_stream[Intent](_LANE_SIZE)
        run = RunHandle(run_id, record.plan, record.strategy, lane, inbox, mode)
        self._runs[mid] = run
        try:
            await self._spawn(run, delay_s=delay_s)
        except BaseException:
            # A run that never started must not keep its concurrency slot.
            await self.end(mid)
            raise
        self.log.info("migration.run_started", migration_id=mid, mode=mode)

    async def _spawn(self, run: RunHandle, *, delay_s: float) -> None:
        run.incarnation += 1
        name = run.run_id if run.incarnation == 1 else f"{run.run_id}-r{run.incarnation - 1}"
        ctx = RunContext(
            plan=run.plan,
            strategy=run.strategy,
            gateway=self.gateway,
            supervisor=self.supervisor,
            lane=run.inbox,
            clock=self.clock,
            run_id=run.run_id,
            delay_s=delay_s,
            outage_budget_s=self.restart.outage_budget_s,
            outage_backoff=self.restart.outage_backoff,
            link_slots=self.link_slots,
        )
        run.actor = await self.runs.spawn_child(
            lambda: MigrationActor(ctx), name=name, restart="temporary"
        )
        # Watching an actor that already crashed notifies at once: nothing is missed.
        await self.system.watch(self.supervisor, run.actor)

    async def restart_after_crash(self, migration_id: str) -> bool:
        """The run's actor crashed: start its next incarnation within the restart policy
        (after the policy's backoff) and return ``True``, or ``False`` when that was one
        crash more than ``max_restarts`` within ``within_s`` (the run is exhausted)."""
        run = self._runs[migration_id]
        run.actor = None
        policy = self.restart
        now = self.clock.monotonic()
        crashes = run.crashes
        while crashes and now - crashes[0] > policy.within_s:
            crashes.popleft()
        crashes.append(now)
        if len(crashes) > policy.max_restarts:
            return False
        delay = policy.backoff.delay(len(crashes) - 1)
        await self._spawn(run, delay_s=delay)
        return True

    def send_intent(
        self,
        migration_id: str,
        kind: IntentKind,
        *,
        checkpoint_id: str | None = None,
        detail: str = "",
    ) -> None:
        """Put an intent on the run's lane (the run takes it within one chunk).

        Raises:
            IllegalTransition: the lane is full (requests pile up faster than the run
                carries them out).
        """
        run = self._runs[migration_id]
        intent = Intent(run.seq + 1, kind, checkpoint_id, detail)
        try:
            run.lane.send_nowait(intent)
        except anyio.WouldBlock:
            if kind == "shutdown":
                return  # the engine's stop that follows ends the run anyway
            raise IllegalTransition(
                migration_id, "running", kind, "too many requests pending for this run"
            ) from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return  # the run is being stopped
        run.seq = intent.seq
        if kind != "shutdown":
            run.intent = intent

    def actor_ref(self, migration_id: str) -> ActorRef[Any] | None:
        """The running migration actor's ref, or ``None``."""
        run = self._runs.get(migration_id)
        if run is None or run.actor is None or not run.actor.is_alive:
            return None
        return run.actor

    async def end(self, migration_id: str, *, grace_s: float = _ENGINE_STOP_S) -> RunHandle | None:
        """Forget the run of ``migration_id``: stop its actor (unwatched; cancelled after
        ``grace_s``) and close its lane. Returns the run that was ended."""
        run = self._runs.pop(migration_id, None)
        if run is None:
            return None
        actor = run.actor
        with anyio.CancelScope(shield=True):
            if actor is not None and actor.is_alive:
                await self.system.unwatch(self.supervisor, actor)
                await self.system.stop(actor, timeout=grace_s)
        run.close()
        return run

    async def end_all(self) -> None:
        """Stop every run at once (the supervisor is stopping or crashed): a shutdown
        intent first (the runs stop within a chunk, journal untouched), then the actors,
        together, within ``_SHUTDOWN_S`` (inside the root's shutdown time of a child), so
        no run outlives the supervisor that manages it."""
        for mid in self:
            self.send_intent(mid, "shutdown")
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as tg:
                for mid in self:
                    tg.start_soon(functools.partial(self.end, mid, grace_s=_SHUTDOWN_S))

    def forget(self, migration_id: str) -> RunHandle:
        """Forget a run whose actor is gone for good; its lane is closed."""
        run = self._runs.pop(migration_id)
        run.close()
        return run
