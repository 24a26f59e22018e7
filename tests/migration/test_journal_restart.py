"""The journal across a service restart: a new ``MigrationService`` on the same data_dir
serves the same history, checkpoints, metrics and active list; a paused migration stays
paused and a planned one stays planned (neither is started by the recovery), and both
still run to completion afterwards."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from edge_actors.migration import MigrationMetrics

from .ledger import (
    content_digest,
    make_workload,
    open_service,
    plan_for,
    target_info,
    until,
)

if TYPE_CHECKING:
    from pathlib import Path

    from edge_actors.migration import MigrationService

    from .conftest import Edges

pytestmark = pytest.mark.anyio


async def _snapshot(service: MigrationService, ids: list[str]) -> dict[str, object]:
    """Everything a caller can read about ``ids`` (progress excluded: it is live-only)."""
    return {
        "active": await service.active(),
        "statuses": await service.statuses(),
        "history": await service.history(),
        "overall": await service.metrics(),
        **{f"history:{m}": await service.history(m) for m in ids},
        **{f"checkpoints:{m}": await service.checkpoints(m) for m in ids},
        **{f"metrics:{m}": await service.metrics(m) for m in ids},
        **{f"status:{m}": await service.status(m) for m in ids},
    }


async def test_journal_survives_service_restart(edges: Edges, tmp_path: Path) -> None:
    data_dir = tmp_path / "journal"
    seeded = {
        "planned-app": await make_workload(edges, "planned-app", 50, seed=1),
        "paused-app": await make_workload(edges, "paused-app", 800, 1024, seed=2),
        "done-app": await make_workload(edges, "done-app", 100, seed=3),
    }
    async with open_service(edges, data_dir) as first:
        await first.configure(max_concurrent=3)
        planned = await first.plan(plan_for("planned-app", priority=3))
        paused = await first.plan(plan_for("paused-app", bandwidth_limit_mbps=4))
        done = await first.plan(plan_for("done-app", strategy="staged"))
        assert (await first.execute(done.migration_id, wait=True, timeout=30)).state == (
            "completed"
        )
        await first.execute(paused.migration_id)
        await until(first, paused.migration_id, bytes_done=100_000)
        assert (await first.pause(paused.migration_id)).state == "paused"
        ids = [planned.migration_id, paused.migration_id, done.migration_id]
        before = await _snapshot(first, ids)
        paused_cp = (await first.checkpoints(paused.migration_id))[-1]
    async with open_service(edges, data_dir) as second:
        after = await _snapshot(second, ids)
        assert after == before
        assert [(s.migration_id, s.state) for s in await second.active()] == [
            (planned.migration_id, "planned"),
            (paused.migration_id, "paused"),
        ]
        assert paused_cp.reason == "pause"
        assert paused_cp.workloads["paused-app"].acked_lsn > 0
        # the persisted setting came back too: all three may run at once
        assert (await second.configure()).max_concurrent == 3
        # both still work from where the journal left them
        await second.resume(paused.migration_id)
        await second.execute(planned.migration_id)
        for mid in (paused.migration_id, planned.migration_id):
            status = await second.wait(mid, {"completed", "failed"}, timeout=30)
            assert status.state == "completed", status
        metrics = await second.metrics(paused.migration_id)
        assert isinstance(metrics, MigrationMetrics)
        assert metrics.pauses == 1
        # resumed from the journaled acked LSN: not a second full copy
        assert metrics.bytes_raw < 1.4 * paused.estimated_bytes
    async with open_service(edges, data_dir) as third:
        assert await third.active() == []
        assert {s.state for s in await third.statuses()} == {"completed"}
    for name, contents in seeded.items():
        assert (await target_info(edges, name)).digest == content_digest(contents)
