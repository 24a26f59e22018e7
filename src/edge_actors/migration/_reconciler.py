"""The reconciler: drives the edges back to the owner records (layer: migration).

Part of the migration supervisor. A pass runs when the supervisor starts and then
``interval_s`` (on the injected clock) after each pass ends; each pass is one short-lived
:class:`ReconcilerActor` (a ``temporary`` child of ``migration-runs``, watched by the
supervisor, whose end, normal or a crash, schedules the next pass) so that its edge calls
never block the supervisor's mailbox. For every owner record (:mod:`._ownership`) whose
migration has no run going, it reads what both edges of that migration report and drives
them back to the record, with the record's epoch (edges refuse it once a newer step
exists):

* an unsettled handover (``handing_to`` set) is settled from the edges: the new edge owns
  the workload if it reports ``active`` (it may have acknowledged writes), else the old
  one keeps it;
* the owner keeps serving: a ``retiring_to`` mark left on it is cleared;
* any other copy that accepts writes (``active``, or marked ``retiring_to``) stops: the
  migration's source is flipped to ``moved`` to the owner, its target back to
  ``incoming``;
* a hold left on either edge is released (no migration runs that could own it).

It never activates a copy that is ``incoming`` or ``moved`` (that is a migration's job,
with data checks): an owner that reports either is logged and left to the migration.

**Reconnects.** An edge that does not answer is skipped, and the pass reports it
(:class:`ReconcileDone`). The next pass, while it waits for its interval, polls the
health of those edges with capped exponential backoff (on the injected clock) and runs
as soon as one answers again, for the workloads on the edges that came back. A run that
waited out an edge tells the supervisor when it answers again (:class:`EdgeAnswered`):
a pass still waiting is replaced by one that runs now for that edge; one already working
is followed at once by another for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from edge_actors._log import get_logger
from edge_actors.actors import Actor, Backoff

from ._errors import EdgeUnreachable, MigrationError, WorkloadNotOnEdge
from ._ownership import OwnerRecord  # msgspec resolves ReconcileItem's annotations

if TYPE_CHECKING:
    from edge_actors.actors import ActorRef
    from edge_actors.clock import Clock

    from ._gateway import EdgeGateway, EdgeWorkload
    from ._runs import RunTable

__all__ = [
    "EdgeAnswered",
    "ReconcileDone",
    "ReconcileItem",
    "ReconcilePass",
    "ReconcileSettle",
    "ReconcileWork",
    "Reconciler",
    "ReconcilerActor",
]

_ASK_TIMEOUT_S = 30.0
_NAME = "migration-reconciler"
RECONNECT_BACKOFF = Backoff(initial_s=0.5, factor=2.0, max_s=5.0)
"""How often a waiting pass asks an edge the last pass could not reach whether it answers."""


class ReconcileWork(msgspec.Struct, frozen=True):
    """Reconciler -> supervisor: which owner records to check; reply: ``list[ReconcileItem]``.

    Attributes:
        passes: the number of the pass asking (the supervisor knows it is working).
        only: only records of migrations with one of these edges (``None``: every one).
    """

    passes: int = 0
    only: tuple[str, ...] | None = None


class ReconcileDone(msgspec.Struct, frozen=True):
    """Reconciler -> supervisor, at the end of a pass: the edges that did not answer
    (the next pass watches them); reply: None."""

    unreachable: tuple[str, ...]


class EdgeAnswered(msgspec.Struct, frozen=True):
    """Migration run -> supervisor (tell): an edge it waited out answers again; the
    supervisor runs a reconciler pass for the workloads on it."""

    edge: str


class ReconcileItem(msgspec.Struct, frozen=True, kw_only=True):
    """One owner record whose migration has no run, with that migration's two edges."""

    record: OwnerRecord
    source_edge: str
    target_edge: str


class ReconcileSettle(msgspec.Struct, frozen=True, kw_only=True):
    """Reconciler -> supervisor: settle an interrupted handover; reply: the record."""

    workload: str
    owner_edge: str
    epoch: int
    migration_id: str


class ReconcilePass(msgspec.Struct, frozen=True):
    """The reconciler actor's own message: run the pass (after its delay)."""


class ReconcilerActor(Actor[ReconcilePass]):
    """One reconciliation pass over every owner record (see the module doc).

    Args:
        supervisor: the migration supervisor (work, settles, done).
        gateway: the edges.
        clock: the delay before the pass (the injected clock).
        delay_s: how long to wait before the pass.
        passes: the number of this pass (logs).
        watch: edges the last pass could not reach: the pass starts early, for them, as
            soon as one answers its health check.
        only: reconcile only migrations with one of these edges (``None``: all).
    """

    def __init__(
        self,
        supervisor: ActorRef[Any],
        gateway: EdgeGateway,
        clock: Clock,
        delay_s: float,
        passes: int,
        watch: tuple[str, ...] = (),
        only: tuple[str, ...] | None = None,
    ) -> None:
        self.supervisor = supervisor
        self.gateway = gateway
        self.clock = clock
        self.delay_s = delay_s
        self.passes = passes
        self.watch = watch
        self.only = only
        self.unreachable: set[str] = set()
        self.rlog = get_logger("migration.reconciler", passes=passes)

    async def on_start(self) -> None:
        self.ref.tell_nowait(ReconcilePass())

    async def receive(self, message: ReconcilePass) -> None:
        only = await self._wait()  # killed by the supervisor when it stops
        items: list[ReconcileItem] = await self.supervisor.ask(
            ReconcileWork(self.passes, only), timeout=_ASK_TIMEOUT_S
        )
        for item in items:
            try:
                await self._reconcile(item)
            except MigrationError as exc:  # an edge down, a newer epoch: the next pass
                if isinstance(exc, EdgeUnreachable) and exc.edge is not None:
                    self.unreachable.add(exc.edge)
                self.rlog.warning(
                    "reconcile.skipped", workload=item.record.workload, error=str(exc)
                )
        await self.supervisor.ask(
            ReconcileDone(tuple(sorted(self.unreachable))), timeout=_ASK_TIMEOUT_S
        )
        self.stop()  # the supervisor, watching, schedules the next pass

    async def _wait(self) -> tuple[str, ...] | None:
        """Wait ``delay_s``; return early when a watched edge answers again.

        Returns:
            The edges to reconcile for (``only``; the ones that came back), or ``None``
            for every migration.
        """
        if not self.watch:
            if self.delay_s > 0:
                await self.clock.sleep(self.delay_s)
            return self.only
        deadline = self.clock.monotonic() + self.delay_s
        attempt = 0
        while (left := deadline - self.clock.monotonic()) > 0:
            await self.clock.sleep(min(left, RECONNECT_BACKOFF.delay(attempt)))
            attempt += 1
            back = tuple([edge for edge in self.watch if await self.gateway.health(edge)])
            if back:
                self.rlog.info("reconcile.edges_back", edges=back)
                return back
        return self.only

    async def _reconcile(self, item: ReconcileItem) -> None:
        record, gw = item.record, self.gateway
        w, epoch = record.workload, record.epoch
        infos: dict[str, EdgeWorkload | None] = {}
        for edge in (item.source_edge, item.target_edge):
            try:
                infos[edge] = await gw.workload_info(edge, w)
            except WorkloadNotOnEdge:
                infos[edge] = None
            except EdgeUnreachable as exc:
                exc.edge = exc.edge or edge  # the next pass watches it
                raise
        owner = record.owner_edge
        if record.handing_to is not None:
            new = infos.get(record.handing_to)
            owner = record.handing_to if new is not None and new.status == "active" else owner
            await self.supervisor.ask(
                ReconcileSettle(
                    workload=w, owner_edge=owner, epoch=epoch, migration_id=record.migration_id
                ),
                timeout=_ASK_TIMEOUT_S,
            )
            self.rlog.warning("reconcile.settled_handover", workload=w, owner=owner, epoch=epoch)
        for edge, info in infos.items():
            if info is None:
                continue
            if info.held:
                self.rlog.warning("reconcile.releasing_hold", workload=w, edge=edge)
                await gw.release(edge, w, None, epoch=epoch)
            if edge == owner:
                if info.status != "active":
                    self.rlog.warning(
                        "reconcile.owner_not_active", workload=w, edge=edge, status=info.status
                    )
                elif info.retiring_to is not None:
                    await gw.set_status(edge, w, "active", epoch=epoch)
            elif info.status == "active" or info.retiring_to is not None:
                self.rlog.warning("reconcile.stopping_copy", workload=w, edge=edge, owner=owner)
                if edge == item.source_edge:
                    await gw.set_status(edge, w, "moved", gw.resolve(owner), epoch=epoch)
                else:
                    await gw.set_status(edge, w, "incoming", epoch=epoch)


class Reconciler:
    """The supervisor's handle on its reconciliation passes (only it calls this).

    Args:
        table: the supervisor's run table: its system, its own ref (the passes report to
            it), ``migration-runs`` (a pass is its temporary child), the gateway and the
            injected clock (the interval between passes).
        interval_s: time between the end of a pass and the next one.
    """

    def __init__(self, table: RunTable, interval_s: float) -> None:
        self._system = table.system
        self._supervisor = table.supervisor
        self._runs = table.runs
        self._gateway = table.gateway
        self._clock = table.clock
        self.interval_s = interval_s
        self.passes = 0
        self.working = 0
        """The number of the pass that took its work (``!= passes``: it still waits)."""
        self.unreachable: tuple[str, ...] = ()
        """The edges the last pass could not reach (the next one watches them)."""
        self._reconnected: set[str] = set()
        self._actor: ActorRef[Any] | None = None
        self._stopped = False

    async def schedule(self, delay_s: float) -> None:
        """Start the next pass, which waits ``delay_s`` first (none after :meth:`stop`).

        Edges that answered again while the last pass worked make the next pass run at
        once, for them; edges the last pass could not reach are watched by the next one.
        """
        if self._stopped:
            return
        self.passes += 1
        passes, watch = self.passes, self.unreachable
        only: tuple[str, ...] | None = None
        if self._reconnected:
            delay_s, only = 0.0, tuple(sorted(self._reconnected))
            self._reconnected.clear()

        def factory() -> ReconcilerActor:
            return ReconcilerActor(
                self._supervisor, self._gateway, self._clock, delay_s, passes, watch, only
            )

        self._actor = await self._runs.spawn_child(
            factory, name=f"{_NAME}-{passes}", restart="temporary"
        )
        await self._system.watch(self._supervisor, self._actor)

    async def edge_answered(self, edge: str) -> None:
        """An edge a run waited out answers again: reconcile the workloads on it now.

        A pass still waiting for its interval is replaced by one that runs at once for
        ``edge``; a pass already working is followed at once by one for ``edge``.
        """
        self._reconnected.add(edge)
        actor = self._actor
        if self._stopped or self.working == self.passes or actor is None:
            return
        self._actor = None
        if actor.is_alive:
            await self._system.kill(actor)  # it has only waited: nothing half done
        await self.schedule(0.0)

    def is_pass(self, actor_name: str) -> bool:
        """Whether ``actor_name`` is the current pass (its end schedules the next)."""
        return self._actor is not None and self._actor.name == actor_name

    async def stop(self) -> None:
        """Stop the current pass at once (it may be waiting for its delay)."""
        self._stopped = True
        actor, self._actor = self._actor, None
        if actor is not None and actor.is_alive:
            await self._system.kill(actor)
