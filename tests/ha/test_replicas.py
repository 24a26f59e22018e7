"""Two supervisor replicas in one process: one leads, the other reads and forwards.

Real daemons on loopback (two edges, two replicas) and a real PostgreSQL server holding
the replicas' shared journal and the lease. Leadership changes are waited on as conditions
(``host.leading``, the role answered by ``/admin/supervisor``), never after a sleep.
"""

from __future__ import annotations

import os
import sys
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from edge_actors.clock import SYSTEM_CLOCK
from edge_actors.edge import (
    AdminClient,
    EdgeConfig,
    EdgeEndpoint,
    HttpEdgeGateway,
    MigrationClient,
    Topology,
)
from edge_actors.edge._replica import supervisor_replica
from edge_actors.migration import MigrationService, ServiceDefaults
from edge_actors.migration._journal_reads import JournalReads
from edge_actors.migration._leadership import LeaseSettings
from edge_actors.migration.journal import PostgresJournal

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from edge_actors.edge import EdgeDaemon
    from edge_actors.edge._supervisor_host import SupervisorHost

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"
LEASE = LeaseSettings(lease_s=1.5, renew_s=0.3, margin_s=0.3)


def _config(tmp_path: Path, name: str) -> EdgeConfig:
    return EdgeConfig(
        name=name,
        data_dir=str(tmp_path / name),
        cluster_token=TOKEN,
        hold_timeout_s=20.0,
        shutdown_timeout_s=2.0,
    )


@asynccontextmanager
async def replica(
    tmp_path: Path, name: str, dsn: str, topology: Topology
) -> AsyncIterator[tuple[EdgeDaemon, SupervisorHost]]:
    defaults = ServiceDefaults(checkpoint_interval_s=0.2, sync_batch_size=100)
    async with AsyncExitStack() as stack:
        gateway = await stack.enter_async_context(HttpEdgeGateway(topology))
        journal = await PostgresJournal.open(dsn)
        stack.push_async_callback(journal.close)

        def make_service(label: str) -> MigrationService:
            return MigrationService(
                gateway, tmp_path / name, journal=dsn, defaults=defaults, leader=label
            )

        reads = JournalReads(journal, SYSTEM_CLOCK)
        yield await stack.enter_async_context(
            supervisor_replica(
                _config(tmp_path, name),
                gateway,
                dsn=dsn,
                make_service=make_service,
                reads=reads,
                lease=LEASE,
            )
        )


@asynccontextmanager
async def edges(tmp_path: Path) -> AsyncIterator[Topology]:
    from edge_actors.edge import EdgeDaemon

    async with (
        EdgeDaemon(_config(tmp_path, "edge-west")) as west,
        EdgeDaemon(_config(tmp_path, "edge-east")) as east,
    ):
        async with AdminClient(west.url, TOKEN) as admin:
            await admin.create_workload("orders")
            await admin.create_workload("invoices")
        from edge_actors.edge import EdgeClient

        async with EdgeClient(west.url, token=TOKEN) as client:
            for workload in ("orders", "invoices"):
                await client.batch(workload, [(f"k{i:04d}", b"v" * 200) for i in range(500)])
        yield Topology(
            {"edge-west": EdgeEndpoint(west.url, TOKEN), "edge-east": EdgeEndpoint(east.url, TOKEN)}
        )


PLAN: dict[str, Any] = {
    "source_edge": "edge-west",
    "target_edge": "edge-east",
    "workloads": ["orders"],
    "constraints": {"max_downtime": "300ms"},
}


async def until_state(client: MigrationClient, mid: str, states: set[str]) -> str:
    with anyio.fail_after(30):
        while (state := (await client.status(mid)).state) not in states:
            await anyio.sleep(0.02)
    return state


async def test_a_follower_reads_the_journal_and_forwards_commands(tmp_path: Path, dsn: str) -> None:
    async with (
        edges(tmp_path) as topology,
        replica(tmp_path, "sup-a", dsn, topology) as (a, host_a),
    ):
        with anyio.fail_after(10):
            await host_a.leading.wait()
        async with (
            replica(tmp_path, "sup-b", dsn, topology) as (b, host_b),
            MigrationClient(b.url, TOKEN) as via_b,
            MigrationClient(a.url, TOKEN) as via_a,
        ):
            with anyio.fail_after(10):  # until b's first attempt read the lease
                while (role_b := await via_b.supervisor()).epoch == 0:
                    await anyio.sleep(0.02)
            assert (role_b.role, role_b.epoch, role_b.leader) == ("follower", 1, a.url)
            role_a = await via_a.supervisor()
            assert (role_a.role, role_a.epoch, role_a.leader) == ("leader", 1, a.url)

            plan = await via_b.plan(PLAN)  # forwarded to the leader
            await via_b.execute(plan.migration_id)
            state = await until_state(via_b, plan.migration_id, {"completed", "failed"})
            assert state == "completed"
            history = await via_b.history(plan.migration_id)  # from the journal
            assert "driven by supervisor leader sup-a (epoch 1)" in [e.detail for e in history]
            # The CLI against the follower: plan, run and follow another migration.
            cli = await anyio.run_process(
                [
                    sys.executable, "-m", "edge_actors.cli", "migrate", "--daemon", b.url,
                    "--source", "edge-west", "--target", "edge-east", "--workload", "invoices",
                    "--json",
                ],
                env={**os.environ, "EDGE_ACTORS_CLUSTER_TOKEN": TOKEN},
                check=False,
            )  # fmt: skip
            assert cli.returncode == 0, cli.stderr.decode()
            assert b'"completed"' in cli.stdout
            metrics_text = await via_b.metrics_text()
            assert 'edge_supervisor_leader{edge="sup-b"} 0.0' in metrics_text
            assert 'edge_supervisor_epoch{edge="sup-b"} 1.0' in metrics_text
            assert host_b.service is None


async def test_the_follower_takes_over_and_resumes_a_paused_migration(
    tmp_path: Path, dsn: str
) -> None:
    stop_a = anyio.Event()
    a_leads = anyio.Event()

    async def run_a(topology: Topology) -> None:
        async with replica(tmp_path, "sup-a", dsn, topology) as (_, host_a):
            await host_a.leading.wait()
            a_leads.set()
            await stop_a.wait()  # then leaves: stops its service and resigns

    async with edges(tmp_path) as topology, anyio.create_task_group() as tg:
        tg.start_soon(run_a, topology)
        with anyio.fail_after(10):
            await a_leads.wait()
        async with (
            replica(tmp_path, "sup-b", dsn, topology) as (b, host_b),
            MigrationClient(b.url, TOKEN) as via_b,
        ):
            plan = await via_b.plan(PLAN)
            await via_b.execute(plan.migration_id)
            await via_b.pause(plan.migration_id)
            stop_a.set()
            with anyio.fail_after(10):
                await host_b.leading.wait()
            status = await via_b.supervisor()
            assert (status.role, status.epoch, status.leader) == ("leader", 2, b.url)
            await via_b.resume(plan.migration_id)
            state = await until_state(via_b, plan.migration_id, {"completed", "failed"})
            assert state == "completed"
            details = [e.detail for e in await via_b.history(plan.migration_id)]
            leaders = [d for d in details if d.startswith("driven by supervisor leader")]
            assert leaders == [
                "driven by supervisor leader sup-a (epoch 1)",
                "driven by supervisor leader sup-b (epoch 2)",
            ]
