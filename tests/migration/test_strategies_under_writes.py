"""Every strategy under continuous writes: nothing acknowledged is lost, no request fails,
and the target's content digest is exactly the digest of what was seeded plus every
acknowledged write (computed client-side, independent of the engine's own validation).

Bulk holds the writes of its workloads for the whole copy: the writers stall (their
requests wait in the source daemon) but none fails; its measured downtime is the copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from edge_actors.migration import MigrationMetrics

from .conftest import Edges, lost_writes, writing
from .ledger import (
    content_digest,
    entered,
    make_workload,
    more_writes,
    plan_for,
    target_info,
)

if TYPE_CHECKING:
    from edge_actors.migration import MigrationService

pytestmark = pytest.mark.anyio

WORKLOADS = ("orders", "sessions")


@pytest.mark.parametrize("strategy", ["live", "staged", "bulk", "incremental", "emergency"])
async def test_strategy_under_writes_loses_nothing(
    edges: Edges, service: MigrationService, strategy: str
) -> None:
    seeded = {
        w: await make_workload(edges, w, 600, seed=i) for i, w in enumerate(WORKLOADS, start=1)
    }
    constraints = {"max_downtime": "300ms", "sync_interval": "100ms", "validation_required": True}
    async with (
        writing(edges.west.url, WORKLOADS[0], rate=150) as w0,
        writing(edges.west.url, WORKLOADS[1], rate=150) as w1,
    ):
        writers = {WORKLOADS[0]: w0, WORKLOADS[1]: w1}
        await more_writes(w0, 10)  # writes are in flight before the plan is made
        plan = await service.plan(plan_for(*WORKLOADS, strategy=strategy, constraints=constraints))
        status = await service.execute(plan.migration_id, wait=True, timeout=60)
        assert status.state == "completed", status
        for writer in writers.values():  # clients keep writing, now through the 307s
            await more_writes(writer, 20)
    metrics = await service.metrics(plan.migration_id)
    assert isinstance(metrics, MigrationMetrics)
    for name, writer in writers.items():
        assert writer.failures == [], (strategy, name, writer.failures[:3])
        assert await lost_writes(edges.east.url, name, writer.acked) == []
        target = await target_info(edges, name)
        assert target.status == "active"
        assert target.digest == content_digest(seeded[name], writer.acked)
        assert target.records == len(seeded[name]) + len(writer.acked)
        source = await target_info(edges, name, source=True)
        assert (source.status, source.records) == ("moved", 0)  # released, route kept
        assert metrics.downtime_ms[name] > 0  # bulk: the whole copy was a write hold
    checkpoint = (await service.checkpoints(plan.migration_id))[-1]
    assert all(c.validated and c.routing == "target" for c in checkpoint.workloads.values())
    history = await service.history(plan.migration_id)
    cutovers = len(entered(history, "cutover"))
    assert cutovers == (2 if strategy == "staged" else 1)
    if strategy == "bulk":
        assert metrics.rounds == 0  # no delta rounds: one frozen copy
    else:
        assert metrics.rounds >= 1
    if strategy == "emergency":
        assert plan.priority == 10
