"""Illegal transitions through the service: each is an ``IllegalTransition`` naming both
states, and changes nothing (state, history and routing are as before the call)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.migration import IllegalTransition

from .conftest import Edges, lost_writes, writing
from .ledger import content_digest, make_workload, more_writes, plan_for, target_info

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from edge_actors.migration import MigrationService

pytestmark = pytest.mark.anyio


async def _refused(call: Awaitable[object], from_state: str, to_state: str) -> str:
    with pytest.raises(IllegalTransition) as info:
        await call
    assert (info.value.from_state, info.value.to_state) == (from_state, to_state)
    assert f"illegal transition {from_state} -> {to_state}" in str(info.value)
    return str(info.value)


async def test_completed_migration_refuses_every_control(
    edges: Edges, service: MigrationService
) -> None:
    await make_workload(edges, "done", 100)
    plan = await service.plan(plan_for("done"))
    mid = plan.migration_id
    assert (await service.execute(mid, wait=True, timeout=30)).state == "completed"
    events = len(await service.history(mid))
    assert "completed is terminal" in await _refused(service.resume(mid), "completed", "queued")
    await _refused(service.pause(mid), "completed", "paused")
    await _refused(service.execute(mid), "completed", "queued")
    await _refused(service.cancel(mid), "completed", "cancelled")
    await _refused(service.rollback(mid), "completed", "rolling_back")
    assert (await service.status(mid)).state == "completed"
    assert len(await service.history(mid)) == events  # nothing journaled by the refusals
    assert (await target_info(edges, "done")).status == "active"


async def test_execute_twice_is_refused(edges: Edges, service: MigrationService) -> None:
    await service.configure(max_concurrent=1)
    await make_workload(edges, "first", 800, 1024)
    await make_workload(edges, "second", 50)
    first = await service.plan(plan_for("first", bandwidth_limit_mbps=4))
    second = await service.plan(plan_for("second"))
    await service.execute(first.migration_id)
    await service.execute(second.migration_id)
    assert (await service.status(second.migration_id)).state == "queued"
    await _refused(service.execute(second.migration_id), "queued", "queued")
    running = (await service.status(first.migration_id)).state
    assert running in ("planning", "pre_sync", "sync")  # 800 KB at 4 Mbit/s: still syncing
    with pytest.raises(IllegalTransition, match="only a planned one executes") as info:
        await service.execute(first.migration_id)
    assert info.value.to_state == "queued"
    assert info.value.from_state in ("planning", "pre_sync", "sync")
    for m in (first, second):
        status = await service.wait(m.migration_id, {"completed", "failed"}, timeout=30)
        assert status.state == "completed", status


async def test_cancel_after_a_stage_cut_over_says_use_rollback(
    edges: Edges, service: MigrationService
) -> None:
    front = await make_workload(edges, "front", 100, seed=1)
    back = await make_workload(edges, "back", 1500, 1024, seed=2)
    async with (
        writing(edges.west.url, "front", rate=100) as w_front,
        writing(edges.west.url, "back", rate=100) as w_back,
    ):
        plan = await service.plan(
            plan_for("front", "back", strategy="staged", bandwidth_limit_mbps=2,
                     constraints={"max_downtime": "300ms", "validation_required": True})
        )  # fmt: skip
        mid = plan.migration_id
        await service.execute(mid)
        with anyio.fail_after(20):  # stage 1 switched, stage 2 syncing
            while True:
                cps = await service.checkpoints(mid)
                if cps and cps[-1].stage == 1 and cps[-1].workloads["front"].routing == "target":
                    break
                await anyio.sleep(0.05)
        assert (await service.pause(mid)).state == "paused"
        message = await _refused(service.cancel(mid), "paused", "cancelled")
        assert "front already cut over; use rollback" in message
        assert (await service.status(mid)).state == "paused"
        assert (await target_info(edges, "front")).status == "active"  # cancel changed nothing
        status = await service.rollback(mid)
        assert status.state == "rolled_back", status
        await more_writes(w_front)  # the redirected writer is back on the source
    for name, writer, seeded in (("front", w_front, front), ("back", w_back, back)):
        assert writer.failures == []
        assert await lost_writes(edges.west.url, name, writer.acked) == []
        source = await target_info(edges, name, source=True)
        assert source.status == "active"
        assert source.digest == content_digest(seeded, writer.acked)
