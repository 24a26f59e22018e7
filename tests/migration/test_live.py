"""Live migration end to end against two real daemons with a concurrent writer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from edge_actors.edge import AdminClient

from .conftest import TOKEN, Edges, lost_writes, seed, writing

if TYPE_CHECKING:
    from edge_actors.migration import MigrationService

pytestmark = pytest.mark.anyio


async def _digests(edges: Edges, workload: str) -> tuple[str, str]:
    async with AdminClient(edges.west.url, TOKEN) as w, AdminClient(edges.east.url, TOKEN) as e:
        return (await w.workload(workload)).digest, (await e.workload(workload)).digest


async def test_live_migration_loses_nothing(edges: Edges, service: MigrationService) -> None:
    async with AdminClient(edges.west.url, TOKEN) as admin:
        await admin.create_workload("api-service")
    await seed(edges.west.url, "api-service", 3000)
    async with writing(edges.west.url, "api-service") as writer:
        await writer.wait_for_writes(25)  # the source takes writes before the migration
        plan = await service.plan(
            {
                "source_edge": "edge-west",
                "target_edge": "edge-east",
                "workloads": ["api-service"],
                "strategy": "live",
                "constraints": {"max_downtime": "200ms"},
                "test_endpoints": ["/api/health", "/v1/workloads/{workload}/health"],
            }
        )
        assert [m.migration_id for m in await service.active()] == [plan.migration_id]
        status = await service.execute(plan.migration_id, wait=True, timeout=60)
        assert status.state == "completed", status
        await writer.wait_for_writes(30)  # the writer keeps going against the target
    assert writer.failures == []
    assert writer.writes > 50
    assert await lost_writes(edges.east.url, "api-service", writer.acked) == []
    async with AdminClient(edges.west.url, TOKEN) as w, AdminClient(edges.east.url, TOKEN) as e:
        source = await w.workload("api-service")
        target = await e.workload("api-service")
    assert source.status == "moved"
    assert source.records == 0  # cleanup released the data, kept the route
    assert target.status == "active"
    metrics = await service.metrics(plan.migration_id)
    assert metrics.rounds >= 1
    assert metrics.downtime_ms["api-service"] > 0
    assert metrics.bytes_raw >= plan.estimated_bytes * 0.9
    assert metrics.bytes_wire > 0
    assert set(metrics.phase_durations_s) >= {"planning", "pre_sync", "sync", "cutover"}
    states = [e.to_state for e in await service.history(plan.migration_id)]
    assert states[:4] == ["planned", "queued", "planning", "pre_sync"]
    assert states[-3:] == ["validation", "cleanup", "completed"]
    progress = await service.progress(plan.migration_id)
    assert progress.measured_downtime_ms is not None
    assert await service.active() == []


@pytest.mark.parametrize("budget", ["5m", "1h"])
async def test_a_long_downtime_budget_still_cuts_over(
    edges: Edges, service: MigrationService, budget: str
) -> None:
    """The guide's constraint table uses ``max_downtime: "5m"``: the hold lease the
    cutover asks for stays within what an edge grants (``hold_max_lease_s``), so a long
    budget cuts over instead of failing every cutover with a refused lease."""
    async with AdminClient(edges.west.url, TOKEN) as admin:
        await admin.create_workload("long-budget")
    await seed(edges.west.url, "long-budget", 200)
    plan = await service.plan(
        {
            "source_edge": "edge-west",
            "target_edge": "edge-east",
            "workloads": ["long-budget"],
            "strategy": "live",
            "constraints": {"max_downtime": budget},
        }
    )
    status = await service.execute(plan.migration_id, wait=True, timeout=60)
    assert status.state == "completed", status
    async with AdminClient(edges.east.url, TOKEN) as east:
        target = await east.workload("long-budget")
    assert target.status == "active"
    assert target.records == 200


@pytest.mark.parametrize("strategy", ["live", "bulk", "incremental"])
async def test_an_empty_workload_migrates(
    edges: Edges, service: MigrationService, strategy: str
) -> None:
    """A workload with no records yet (just created) moves like any other: nothing to copy
    is converged, not a copy that never converges."""
    async with AdminClient(edges.west.url, TOKEN) as admin:
        await admin.create_workload("empty")
    plan = await service.plan(
        {
            "source_edge": "edge-west",
            "target_edge": "edge-east",
            "workloads": ["empty"],
            "strategy": strategy,
        }
    )
    status = await service.execute(plan.migration_id, wait=True, timeout=60)
    assert status.state == "completed", status
    async with AdminClient(edges.east.url, TOKEN) as east:
        target = await east.workload("empty")
    assert (target.status, target.records) == ("active", 0)


async def test_a_big_live_copy_travels_as_a_snapshot_and_loses_nothing(
    edges: Edges, service: MigrationService
) -> None:
    """Over 4 MiB, the whole copy is the source store's snapshot file (SQLite's backup
    API), not record chunks; writes during and after it are all kept."""
    async with AdminClient(edges.west.url, TOKEN) as admin:
        await admin.create_workload("big-ledger")
    await seed(edges.west.url, "big-ledger", 5000, 1024)
    async with writing(edges.west.url, "big-ledger") as writer:
        await writer.wait_for_writes(25)
        plan = await service.plan(
            {
                "source_edge": "edge-west",
                "target_edge": "edge-east",
                "workloads": ["big-ledger"],
                "strategy": "live",
                "constraints": {"max_downtime": "200ms"},
            }
        )
        status = await service.execute(plan.migration_id, wait=True, timeout=60)
        assert status.state == "completed", status
        await writer.wait_for_writes(30)
    assert writer.failures == []
    assert await lost_writes(edges.east.url, "big-ledger", writer.acked) == []
    async with AdminClient(edges.west.url, TOKEN) as west, AdminClient(edges.east.url, TOKEN) as e:
        text = await west.metrics_text()
        target = await e.workload("big-ledger")
    assert 'edge_transfer_snapshots_total{edge="edge-west",state="done"} 1.0' in text
    assert target.status == "active"
    assert target.records >= 5000
    metrics = await service.metrics(plan.migration_id)
    assert metrics.bytes_raw >= 5000 * 1024
