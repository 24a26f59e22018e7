"""Incremental pacing: delta rounds wait for ``sync_interval``, and a round starts early
when the un-synced delta exceeds ``delta_threshold``.

A ``max_downtime`` of 1 ms can never be met (a cutover alone costs four admin calls), so
the migration runs exactly ``max_rounds`` rounds and then fails ``not converging``: the
journaled timestamps of entering ``sync`` and of the failure bound how those rounds were
spaced, relative to ``sync_interval``. Routing never left the source, so every
acknowledged write is still there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from edge_actors.migration import MigrationMetrics

from .conftest import Edges, lost_writes, writing
from .ledger import content_digest, entered, make_workload, plan_for, target_info

if TYPE_CHECKING:
    from edge_actors.migration import MigrationService

pytestmark = pytest.mark.anyio


async def _run_to_not_converging(
    edges: Edges, service: MigrationService, name: str, constraints: dict[str, object]
) -> tuple[float, MigrationMetrics]:
    """Run an incremental plan under writes until it fails; return (sync span, metrics)."""
    seeded = await make_workload(edges, name, 400)
    async with writing(edges.west.url, name, rate=200) as writer:
        plan = await service.plan(
            plan_for(name, strategy="incremental",
                     constraints={"max_downtime": "1ms", **constraints})
        )  # fmt: skip
        status = await service.execute(plan.migration_id, wait=True, timeout=30)
    assert status.state == "failed", status
    assert "not converging" in (status.error or "")
    history = await service.history(plan.migration_id)
    [sync] = entered(history, "sync")
    [failed] = entered(history, "failed")
    metrics = await service.metrics(plan.migration_id)
    assert isinstance(metrics, MigrationMetrics)
    # the failure released nothing it should not have: the source still serves everything
    assert writer.failures == []
    assert await lost_writes(edges.west.url, name, writer.acked) == []
    source = await target_info(edges, name, source=True)
    assert (source.status, source.held) == ("active", False)
    assert source.digest == content_digest(seeded, writer.acked)
    return failed.at - sync.at, metrics


async def test_rounds_are_paced_by_sync_interval(edges: Edges, service: MigrationService) -> None:
    span, metrics = await _run_to_not_converging(
        edges, service, "paced", {"sync_interval": "1s", "max_rounds": 3}
    )
    assert metrics.rounds == 3
    # rounds 2 and 3 each started a full interval after the previous round's start
    assert span >= 2 * 1.0 * 0.95


async def test_delta_threshold_triggers_rounds_early(
    edges: Edges, service: MigrationService
) -> None:
    interval_s = 60.0
    span, metrics = await _run_to_not_converging(
        edges,
        service,
        "eager",
        {"sync_interval": f"{interval_s:.0f}s", "delta_threshold": "4KB", "max_rounds": 4},
    )
    assert metrics.rounds == 4
    # paced by the interval alone, rounds 2..4 could not start before 3 x 60 s; the
    # threshold started all of them within the first interval
    assert span < interval_s
