"""Staged, bulk and time-window behaviour against real daemons with a writer."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.clock import ManualClock
from edge_actors.edge import AdminClient
from edge_actors.migration import MigrationService

from .conftest import FAST_RESTART, TOKEN, Edges, lost_writes, seed, writing

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


async def _make(edges: Edges, *names: str, records: int = 800) -> None:
    async with AdminClient(edges.west.url, TOKEN) as admin:
        for name in names:
            await admin.create_workload(name)
    for name in names:
        await seed(edges.west.url, name, records, 512)


async def test_staged_moves_one_workload_per_stage(edges: Edges, service: MigrationService) -> None:
    await _make(edges, "database", "file-storage")
    async with (
        writing(edges.west.url, "database", rate=150) as w1,
        writing(edges.west.url, "file-storage", rate=150) as w2,
    ):
        plan = await service.plan(
            {
                "source_edge": "edge-west",
                "target_edge": "edge-east",
                "workloads": ["database", "file-storage"],
                "strategy": "staged",
                "constraints": {"validation_required": True, "max_downtime": "300ms"},
            }
        )
        status = await service.execute(plan.migration_id, wait=True, timeout=60)
        assert status.state == "completed", status
        for writer in (w1, w2):  # both keep writing, now against the target
            await writer.wait_for_writes(20)
    for writer, name in ((w1, "database"), (w2, "file-storage")):
        assert writer.failures == []
        assert await lost_writes(edges.east.url, name, writer.acked) == []
    states = [e.to_state for e in await service.history(plan.migration_id)]
    # stage 1: sync, cutover, validation; stage 2 again; then cleanup
    assert states.count("cutover") == 2
    assert states.count("validation") == 2


async def test_bulk_holds_writes_and_loses_none(edges: Edges, service: MigrationService) -> None:
    await _make(edges, "batch-processor", "logging")
    async with writing(edges.west.url, "logging", rate=150) as writer:
        plan = await service.plan(
            {
                "source_edge": "edge-west",
                "target_edge": "edge-east",
                "workloads": ["batch-processor", "logging"],
                "strategy": "bulk",
                "bandwidth_limit_mbps": 1000,
            }
        )
        status = await service.execute(plan.migration_id, wait=True, timeout=60)
        assert status.state == "completed", status
        await writer.wait_for_writes(20)  # it keeps writing, now against the target
    assert writer.failures == []  # held writes waited, none refused
    assert await lost_writes(edges.east.url, "logging", writer.acked) == []
    metrics = await service.metrics(plan.migration_id)
    assert metrics.rounds == 0  # no delta rounds: one frozen copy
    assert metrics.downtime_ms["logging"] > 0


async def test_staged_waits_for_time_window(edges: Edges, tmp_path: Path) -> None:
    await _make(edges, "user-service", records=50)
    clock = ManualClock(dt.datetime(2026, 1, 15, 10, 30, tzinfo=dt.UTC))
    window = "13:30-14:30"  # opens in 3 h on the clock, whatever the machine's hour
    async with MigrationService(
        edges.gateway, tmp_path / "sup", restart=FAST_RESTART, clock=clock
    ) as service:
        plan = await service.plan(
            {
                "source_edge": "edge-west",
                "target_edge": "edge-east",
                "workloads": ["user-service"],
                "strategy": "staged",
                "priority": 8,
                "constraints": {"time_window": window},
            }
        )
        await service.execute(plan.migration_id)
        with anyio.fail_after(10):
            while clock.sleepers < 2:  # the actor waits on the clock (and the reconciler)
                await anyio.sleep(0.01)
        status = await service.status(plan.migration_id)
        assert status.state == "sync"
        assert status.detail == f"waiting for time window {window} (opens in 3h00m)"
        [summary] = await service.active()
        assert summary.migration_id == plan.migration_id
        paused = await service.pause(plan.migration_id)
        assert paused.state == "paused"
        cancelled = await service.cancel(plan.migration_id)
        assert cancelled.state == "cancelled"
    async with AdminClient(edges.east.url, TOKEN) as east:
        names = [w.name for w in await east.workloads()]
    assert "user-service" not in names  # the target's partial copy was dropped
