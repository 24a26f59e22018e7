"""The leadership lease of an embedded supervisor on a PostgreSQL journal (layer: runtime).

Supervisor replicas on one PostgreSQL journal elect a leader through the journal's lease
row (``migration/_leadership.py``); only the leader drives migrations. A
``LocalRuntime`` whose ``EDGE_ACTORS_JOURNAL`` is that database would otherwise run a
second supervisor beside the leader. So before its embedded service loads the journal,
:class:`EmbeddedLease` takes the same lease, like any replica:

- it waits at most one lease period plus one renewal for it (a holder that died lets
  its lease run out within ``lease_s``); a live holder renews it meanwhile, and the
  runtime is refused with :class:`LeaderActive`, which names the leader and says to set
  ``EDGE_ACTORS_SUPERVISOR`` to a replica's URL instead;
- once leader, the gateway sends the leadership epoch with every command to an edge
  (edges fence older leaders), and the history names this runtime as the leader;
- it renews the lease while the environment runs; the moment it is lost (or cannot be
  renewed before the local deadline) the gateway stands down, the service is left (its
  migrations stop at a chunk boundary, journaled state untouched: the next leader resumes
  them) and every later operation is refused with :class:`LeadershipLost`.

A replica's follower that receives a command while the runtime leads cannot forward it
(the runtime serves no HTTP): it answers 503 ``no_leader`` naming the runtime's holder
(``embedded://HOST/pid-PID``).
"""

from __future__ import annotations

import os
import secrets
import socket
from typing import TYPE_CHECKING, Self

import anyio

from edge_actors._closing import AsyncClosing
from edge_actors._log import get_logger
from edge_actors.errors import ConfigError, EdgeActorsError
from edge_actors.migration._leadership import LeaderElector, LeaseSettings
from edge_actors.migration.journal import JournalUnavailable, open_journal

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from anyio.abc import TaskStatus

    from edge_actors.clock import Clock
    from edge_actors.edge import HttpEdgeGateway
    from edge_actors.migration import MigrationService
    from edge_actors.migration.journal import JournalUrl

__all__ = ["EmbeddedLease", "LeaderActive", "LeadershipLost"]

SUPERVISOR_ENV = "EDGE_ACTORS_SUPERVISOR"

_log = get_logger("runtime.embedded_lease")


class LeaderActive(ConfigError):
    """Another supervisor leads the PostgreSQL journal: this runtime must not drive beside it."""


class LeadershipLost(EdgeActorsError):
    """The embedded supervisor lost its leadership lease and stopped acting."""


class EmbeddedLease(AsyncClosing):
    """Takes and holds the journal's leadership lease for an embedded service.

    Args:
        journal: the PostgreSQL journal.
        data_dir: the data directory (``open_journal`` needs one; unused by PostgreSQL).
        clock: the lease's local timers.
        settings: lease timing (the replicas' defaults unless given).

    Use as ``async with EmbeddedLease(...) as lease:`` (campaigns, or raises), then run the
    service with ``await task_group.start(lease.run, gateway, make_service)``. Leaving
    resigns the lease.

    Raises (on entering):
        LeaderActive: another supervisor holds the lease and renews it.
        JournalUnavailable: the database did not answer.
    """

    def __init__(
        self,
        journal: JournalUrl,
        data_dir: Path,
        *,
        clock: Clock,
        settings: LeaseSettings | None = None,
    ) -> None:
        assert journal.dsn is not None
        self.journal = journal
        self.data_dir = data_dir
        self.clock = clock
        host = socket.gethostname()
        self.holder_id = f"local-{host}-{os.getpid()}-{secrets.token_hex(3)}"
        self.elector = LeaderElector(
            journal.dsn,
            holder_id=self.holder_id,
            holder_url=f"embedded://{host}/pid-{os.getpid()}",
            settings=settings or LeaseSettings(),
            clock=clock,
        )
        self.epoch = 0
        self.lost: str | None = None
        """Why the lease was lost (``None`` while held)."""

    @property
    def label(self) -> str:
        """How the history names this leader."""
        return f"{self.holder_id} (epoch {self.epoch})"

    async def __aenter__(self) -> Self:
        # The lease table is part of the journal's schema: create or migrate it first.
        backend = await open_journal(self.journal, data_dir=self.data_dir)
        await backend.close()
        elector = await self.elector.__aenter__()
        try:
            settings = elector.settings
            deadline = self.clock.monotonic() + settings.lease_s + settings.renew_s
            while not await elector.try_acquire():
                if self.clock.monotonic() >= deadline:
                    raise self._refusal()
                await self.clock.sleep(settings.renew_s)
        except BaseException:
            await self.aclose()
            raise
        self.epoch = elector.state.epoch
        _log.info("embedded_lease.acquired", holder=self.holder_id, epoch=self.epoch)
        return self

    async def aclose(self) -> None:
        """Resign the lease (if held) and close its connection."""
        await self.elector.aclose()

    def _refusal(self) -> EdgeActorsError:
        if not self.elector.known.is_set():
            return JournalUnavailable(
                f"journal {self.journal.display}: cannot take the supervisor leadership lease, "
                "the database did not answer"
            )
        state = self.elector.state
        return LeaderActive(
            f"journal {self.journal.display} is driven by supervisor leader "
            f"{state.leader_id} at {state.leader_url} (leadership epoch {state.epoch}); a "
            "LocalRuntime must not run a second supervisor beside it: set "
            f"{SUPERVISOR_ENV} to a supervisor replica's URL (and EDGE_ACTORS_CLUSTER_TOKEN "
            "or EDGE_ACTORS_CLUSTER_TOKEN_FILE) to run migrations through the replicas, "
            "instead of EDGE_ACTORS_JOURNAL"
        )

    def check(self) -> None:
        """Raise :class:`LeadershipLost` once the lease is lost."""
        if self.lost is not None:
            raise LeadershipLost(self.lost)

    async def run(
        self,
        gateway: HttpEdgeGateway,
        make_service: Callable[[str], MigrationService],
        *,
        task_status: TaskStatus[MigrationService],
    ) -> None:
        """Run the service while the lease is held (a task of the caller's task group).

        ``gateway`` (the service's) sends the leadership epoch with every command to an
        edge, and stands down the moment the lease is lost.

        Cancellation: leaves the service (migrations stop at a chunk boundary) and ends.
        """
        gateway.lead(self.epoch)
        async with anyio.create_task_group() as tg:

            async def hold() -> None:
                await self.elector.hold()
                # Before the service stops: nothing leaves for an edge after the deadline.
                gateway.stand_down()
                self.lost = (
                    f"the embedded supervisor lost its leadership lease (epoch {self.epoch}) "
                    f"on journal {self.journal.display} and stopped; another supervisor may "
                    f"lead now: set {SUPERVISOR_ENV} to a supervisor replica's URL"
                )
                _log.error("embedded_lease.lost", holder=self.holder_id, epoch=self.epoch)
                tg.cancel_scope.cancel()

            tg.start_soon(hold)
            async with make_service(self.label) as service:
                task_status.started(service)
                await anyio.sleep_forever()
