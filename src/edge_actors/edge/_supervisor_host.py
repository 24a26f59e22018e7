"""One supervisor replica: run the migration service only while elected leader (edge layer).

Daemons started with ``--supervisor`` on a PostgreSQL journal are replicas. Each runs a
:class:`SupervisorHost`: it campaigns for the lease (:mod:`edge_actors.migration._leadership`)
and, once leader,

1. tells the gateway its leadership epoch (every command to an edge carries it, so edges
   fence older leaders: :mod:`._leader_fence`);
2. enters a fresh :class:`~edge_actors.migration.MigrationService` on the shared journal,
   which loads it, runs the reconciler and resumes every non-terminal migration from its
   last checkpoint (the same path as a restart on the SQLite journal);
3. renews the lease; the moment it is lost (or cannot be renewed before the local
   deadline), the gateway stands down (no further command leaves) and the service is
   left, which stops the whole migration supervision subtree. The replica is a follower
   again and campaigns anew.

A follower's admin routes answer reads from the journal and forward commands to the
leader (:mod:`._migration_routes`). The host owns the role; everyone else reads the
immutable :class:`SupervisorStatus` snapshot it publishes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import anyio
import msgspec
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from edge_actors._log import get_logger

from ._leader_proxy import LeaderProxy, LeaderUnreachable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from aiohttp import web
    from prometheus_client.metrics_core import Metric

    from edge_actors.migration import MigrationService
    from edge_actors.migration._journal_reads import MigrationReads
    from edge_actors.migration._leadership import LeaderElector

    from ._gateway import HttpEdgeGateway

__all__ = ["SupervisorHost", "SupervisorStatus"]


class SupervisorStatus(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /admin/supervisor``: this replica's role, the leadership epoch, the leader.

    Attributes:
        role: ``leader`` while this replica drives migrations, else ``follower``.
        epoch: the latest leadership epoch known (0: the embedded supervisor, or no
            leader elected yet).
        leader: the leader's URL (``None`` while unknown).
        lease_age_s: seconds since the leader's last renewal, as last seen.
        failovers: changes of leader this replica has seen since it started.
        takeovers: times this replica became leader.
    """

    role: Literal["leader", "follower"]
    epoch: int
    leader: str | None
    lease_age_s: float | None = None
    failovers: int = 0
    takeovers: int = 0


class SupervisorHost:
    """Runs a migration service while this replica leads (see the module doc).

    Args:
        elector: this replica's side of the election (entered by the caller).
        gateway: the gateway every service of this host uses.
        make_service: builds a fresh service (not entered) for a leadership; its argument
            names the leader for the history (``"edge-b (epoch 3)"``).
        reads: the journal's read side, a follower's answers.
        proxy: forwards a follower's commands to the leader.

    Attributes:
        service: the running service while leader (``None`` as follower).
        leading: set while this replica leads and its service has started.
    """

    def __init__(
        self,
        elector: LeaderElector,
        gateway: HttpEdgeGateway,
        make_service: Callable[[str], MigrationService],
        reads: MigrationReads,
        proxy: LeaderProxy,
    ) -> None:
        self.elector = elector
        self.gateway = gateway
        self.make_service = make_service
        self.reads = reads
        self.proxy = proxy
        self.service: MigrationService | None = None
        self.takeovers = 0
        self.leading = anyio.Event()
        self._log = get_logger("edge.supervisor_host", holder=elector.holder_id)

    async def forward(self, request: web.Request) -> web.Response | None:
        """Forward a command to the leader (see :mod:`._leader_proxy`).

        Waits (at most a lease and two renewals) for the first reading of the lease, and,
        when no other replica leads or the leader does not answer, for the next change of
        leadership.

        Returns:
            The leader's answer, or ``None`` after a change of leadership (look again:
            this replica may lead now).

        Raises:
            HttpError: 503 ``no_leader`` when nothing changed within the bound.
        """
        bound = self.elector.settings.lease_s + 2 * self.elector.settings.renew_s
        with anyio.move_on_after(bound):
            await self.elector.known.wait()
        state = self.elector.state
        leader = None if state.leader_id == self.elector.holder_id else state.leader_url
        try:
            if leader is not None:
                return await self.proxy.forward(request, leader)
        except LeaderUnreachable:
            pass
        with anyio.move_on_after(bound):
            await self.elector.wait_changed(state)
            return None
        return await self.proxy.forward(request, leader)

    def status(self) -> SupervisorStatus:
        """A snapshot of the role (leader only once its service runs)."""
        state = self.elector.state
        leading = self.service is not None and state.role == "leader"
        return SupervisorStatus(
            role="leader" if leading else "follower",
            epoch=state.epoch,
            leader=state.leader_url,
            lease_age_s=self.elector.lease_age(),
            failovers=state.failovers,
            takeovers=self.takeovers,
        )

    async def run(self) -> None:
        """Campaign, lead until the lease is lost, and again, until cancelled.

        Cancellation: leaves a running service (its migrations stop at a chunk boundary,
        journaled state untouched) and propagates; the caller's elector resigns.
        """
        while True:
            epoch = await self.elector.campaign()
            await self._lead(epoch)

    async def _lead(self, epoch: int) -> None:
        self.gateway.lead(epoch)
        label = f"{self.elector.holder_id} (epoch {epoch})"
        failed = False
        async with anyio.create_task_group() as tg:

            async def hold() -> None:
                await self.elector.hold()
                # Before the service has stopped: nothing leaves after the deadline.
                self.gateway.stand_down()
                tg.cancel_scope.cancel()

            tg.start_soon(hold)
            try:
                async with self.make_service(label) as service:
                    self.service = service
                    self.takeovers += 1
                    self.leading.set()
                    self._log.info("supervisor.leading", epoch=epoch)
                    await anyio.sleep_forever()
            except Exception as exc:  # the journal failed to load: let another replica lead
                self._log.error("supervisor.start_failed", epoch=epoch, error=repr(exc))
                failed = True
                tg.cancel_scope.cancel()
            finally:
                self.service = None
                self.leading = anyio.Event()
                self.gateway.stand_down()
        self._log.info("supervisor.following", epoch=epoch)
        if failed:
            await self.elector.resign()
            await self.elector.clock.sleep(self.elector.settings.lease_s)

    def collector(self, edge: str) -> Collector:
        """A Prometheus collector of the role, epoch, lease age and failovers."""
        return _HostCollector(edge, self.status)


class _HostCollector(Collector):
    def __init__(self, edge: str, status: Callable[[], SupervisorStatus]) -> None:
        self._edge = edge
        self._status = status

    def collect(self) -> Iterator[Metric]:
        status = self._status()
        role = GaugeMetricFamily(
            "edge_supervisor_leader",
            "1 while this supervisor replica is the elected leader, else 0.",
            labels=["edge"],
        )
        role.add_metric([self._edge], 1.0 if status.role == "leader" else 0.0)
        yield role
        for name, text, value in (
            ("edge_supervisor_epoch", "Latest leadership epoch known.", status.epoch),
            (
                "edge_supervisor_lease_age_seconds",
                "Seconds since the leader's last lease renewal, as last seen (-1: unknown).",
                -1.0 if status.lease_age_s is None else status.lease_age_s,
            ),
            (
                "edge_supervisor_failovers",
                "Changes of leader this replica has seen since it started.",
                status.failovers,
            ),
            (
                "edge_supervisor_takeovers",
                "Times this replica became leader since it started.",
                status.takeovers,
            ),
        ):
            family = GaugeMetricFamily(name, text, labels=["edge"])
            family.add_metric([self._edge], float(value))
            yield family
