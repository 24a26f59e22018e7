"""The migration's wire-byte metric against the bytes a proxy saw on the wire.

A byte-counting proxy (``wire_tap``) sits in front of the target daemon: every chunk frame
a source streams to it is decoded and counted there, independently of the transfer
layer's own counters. A normal live migration (its cutover ships a final delta) and a
paused-and-resumed one (its first transfer is cut short with chunks in flight) must report
``bytes_wire`` within 1 % of what the proxy counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest
from yarl import URL

from edge_actors.migration import MigrationMetrics, MigrationService

from .conftest import Edges, migrating, run_daemon, writing
from .ledger import make_workload, plan_for, until
from .wire_tap import TapCounts, wire_tap

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = pytest.mark.anyio


@pytest.fixture
async def tapped(tmp_path: Path) -> AsyncIterator[tuple[Edges, MigrationService, TapCounts]]:
    """West and east daemons, east behind the tap, and a service on that topology."""
    async with (
        run_daemon(tmp_path, "edge-west") as west,
        run_daemon(tmp_path, "edge-east") as east,
        wire_tap(URL(east.url).port or 80) as (tap_url, counts),
        migrating(tmp_path, west, east, east_url=tap_url) as (edges, service),
    ):
        yield edges, service, counts


def _check(metrics: MigrationMetrics, counts: TapCounts) -> None:
    assert counts.errors == []
    assert counts.streams >= 1
    assert counts.chunk_bytes > 0
    sent = counts.chunk_bytes + counts.inline_delta_bytes
    error = abs(metrics.bytes_wire - sent) / sent
    assert error <= 0.01, (metrics.bytes_wire, counts.chunk_bytes, counts.inline_delta_bytes)


async def test_live_migration_counts_its_final_delta(
    tapped: tuple[Edges, MigrationService, TapCounts],
) -> None:
    edges, service, counts = tapped
    # Small records and a busy writer: the cutover's final delta is a sizeable share.
    await make_workload(edges, "ledger", 100, 128)
    async with writing(edges.west.url, "ledger", rate=400) as writer:
        await writer.wait_for_writes(20)
        plan = await service.plan(plan_for("ledger", constraints={"max_downtime": "300ms"}))
        status = await service.execute(plan.migration_id, wait=True, timeout=60)
        assert status.state == "completed", status
    metrics = await service.metrics(plan.migration_id)
    assert isinstance(metrics, MigrationMetrics)
    assert counts.inline_deltas >= 1  # the final delta went inside the activation call
    _check(metrics, counts)


async def test_paused_and_resumed_migration_counts_the_paused_tail(
    tapped: tuple[Edges, MigrationService, TapCounts],
) -> None:
    edges, service, counts = tapped
    await make_workload(edges, "archive", 3000, 1024)
    plan = await service.plan(plan_for("archive", bandwidth_limit_mbps=8))
    await service.execute(plan.migration_id)
    await until(service, plan.migration_id, bytes_done=600_000)
    paused = await service.pause(plan.migration_id)
    assert paused.state == "paused"
    with anyio.fail_after(30):
        while (await service.status(plan.migration_id)).state != "paused":
            await anyio.sleep(0.02)
    await service.resume(plan.migration_id)
    status = await service.wait(plan.migration_id, {"completed", "failed"}, timeout=60)
    assert status.state == "completed", status
    metrics = await service.metrics(plan.migration_id)
    assert isinstance(metrics, MigrationMetrics)
    assert metrics.pauses == 1
    _check(metrics, counts)
