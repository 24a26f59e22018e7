"""Pause/resume, crash restart, rollback after cutover, priorities and plan errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from edge_actors.edge import AdminClient
from edge_actors.errors import ConfigError
from edge_actors.migration import (
    IllegalTransition,
    InsufficientCapacity,
    MigrationMetrics,
    UnknownCheckpoint,
    UnknownEdgeName,
    WorkloadNotOnEdge,
)

from .conftest import TOKEN, Edges, lost_writes, seed, until_run_stopped, writing

if TYPE_CHECKING:
    from edge_actors.migration import MigrationService

pytestmark = pytest.mark.anyio

RECORDS = 2000
VALUE = 1024


async def _workload(edges: Edges, name: str, records: int = RECORDS) -> None:
    async with AdminClient(edges.west.url, TOKEN) as admin:
        await admin.create_workload(name)
    await seed(edges.west.url, name, records, VALUE)


def _plan(workload: str, **extra: Any) -> dict[str, Any]:
    return {
        "source_edge": "edge-west",
        "target_edge": "edge-east",
        "workloads": [workload],
        **extra,
    }


async def _until_bytes(service: MigrationService, mid: str, at_least: int) -> None:
    with anyio.fail_after(30):
        while (await service.progress(mid)).bytes_done < at_least:
            await anyio.sleep(0.02)


async def test_pause_resume_continues_from_acked_lsn(
    edges: Edges, service: MigrationService
) -> None:
    await _workload(edges, "long-running-service")
    async with writing(edges.west.url, "long-running-service", rate=100) as writer:
        plan = await service.plan(
            _plan("long-running-service", strategy="incremental", bandwidth_limit_mbps=4,
                  constraints={"sync_interval": "200ms", "max_downtime": "300ms"})
        )  # fmt: skip
        await service.execute(plan.migration_id)
        await _until_bytes(service, plan.migration_id, 300_000)
        paused = await service.pause(plan.migration_id)
        assert paused.state == "paused"
        done_at_pause = (await service.progress(plan.migration_id)).bytes_done
        checkpoint = (await service.checkpoints(plan.migration_id))[-1]
        assert checkpoint.reason == "pause"
        acked = checkpoint.workloads["long-running-service"].acked_lsn
        assert acked > 0
        # Paused really stopped: the run has ended and the source streams nothing, and
        # nothing more was acknowledged on the way there.
        await until_run_stopped(edges, service, plan.migration_id)
        assert (await service.progress(plan.migration_id)).bytes_done == done_at_pause
        with pytest.raises(IllegalTransition, match="paused -> paused"):
            await service.pause(plan.migration_id)
        await service.resume(plan.migration_id)
        status = await service.wait(plan.migration_id, {"completed", "failed"}, timeout=60)
        assert status.state == "completed", status
    assert writer.failures == []
    assert await lost_writes(edges.east.url, "long-running-service", writer.acked) == []
    metrics = await service.metrics(plan.migration_id)
    assert isinstance(metrics, MigrationMetrics)
    assert metrics.pauses == 1
    # resumed from the acked LSN: not a second full copy
    assert metrics.bytes_raw < 1.4 * plan.estimated_bytes
    with pytest.raises(IllegalTransition, match="completed -> queued"):
        await service.resume(plan.migration_id)


async def test_killed_actor_restarts_and_completes(edges: Edges, service: MigrationService) -> None:
    await _workload(edges, "critical-app")
    async with writing(edges.west.url, "critical-app", rate=100) as writer:
        plan = await service.plan(
            _plan("critical-app", bandwidth_limit_mbps=4, constraints={"max_downtime": "300ms"})
        )
        await service.execute(plan.migration_id)
        await _until_bytes(service, plan.migration_id, 300_000)
        ref = await service.actor_ref(plan.migration_id)
        assert ref is not None
        await service.system.kill(ref)
        status = await service.wait(plan.migration_id, {"completed", "failed"}, timeout=60)
        assert status.state == "completed", status
    assert writer.failures == []
    assert await lost_writes(edges.east.url, "critical-app", writer.acked) == []
    metrics = await service.metrics(plan.migration_id)
    assert isinstance(metrics, MigrationMetrics)
    assert metrics.restarts == 1
    assert metrics.bytes_raw < 1.6 * plan.estimated_bytes
    details = [e.detail for e in await service.history(plan.migration_id)]
    assert any("actor restarted after crash" in d for d in details)


async def test_rollback_after_cutover_keeps_target_writes(
    edges: Edges, service: MigrationService
) -> None:
    await _workload(edges, "cache-layer", 500)
    async with writing(edges.west.url, "cache-layer", rate=200) as writer:
        plan = await service.plan(
            _plan("cache-layer", test_endpoints=["/no-such-endpoint"],
                  constraints={"max_downtime": "300ms"})
        )  # fmt: skip
        status = await service.execute(plan.migration_id, wait=True, timeout=60)
        assert status.state == "failed"
        assert "validation probe /no-such-endpoint" in (status.error or "")
        before = writer.writes
        with anyio.fail_after(10):
            while writer.writes < before + 40:  # the target takes writes after cutover
                await anyio.sleep(0.05)
        checkpoints = await service.checkpoints(plan.migration_id)
        with pytest.raises(UnknownCheckpoint, match="does not belong"):
            await service.rollback(plan.migration_id, "someone-else-cp1")
        assert checkpoints
        status = await service.rollback(plan.migration_id)
        assert status.state == "rolled_back", status
        await writer.wait_for_writes(30)  # it keeps writing, back against the source
    assert writer.failures == []
    assert await lost_writes(edges.west.url, "cache-layer", writer.acked) == []
    async with AdminClient(edges.west.url, TOKEN) as w, AdminClient(edges.east.url, TOKEN) as e:
        assert (await w.workload("cache-layer")).status == "active"
        target = await e.workload("cache-layer")
        assert target.records == 0  # the target's copy is discarded (a redirect remains)
    metrics = await service.metrics(plan.migration_id)
    assert isinstance(metrics, MigrationMetrics)
    assert metrics.rollbacks == 1


async def test_priority_queue_and_emergency_preemption(
    edges: Edges, service: MigrationService
) -> None:
    await service.configure(max_concurrent=1)
    for name in ("low", "mid", "high", "urgent"):
        await _workload(edges, name, 600)
    slow = {"bandwidth_limit_mbps": 2, "constraints": {"max_downtime": "300ms"}}
    low = await service.plan(_plan("low", priority=2, **slow))
    mid = await service.plan(_plan("mid", priority=5, **slow))
    high = await service.plan(_plan("high", priority=8, **slow))
    await service.execute(low.migration_id)
    await service.execute(mid.migration_id)
    await service.execute(high.migration_id)
    assert (await service.status(mid.migration_id)).state == "queued"
    assert (await service.status(high.migration_id)).state == "queued"
    await _until_bytes(service, low.migration_id, 50_000)
    urgent = await service.plan(
        _plan("urgent", strategy="emergency", constraints={"skip_validation": True})
    )
    assert urgent.priority == 10
    await service.execute(urgent.migration_id)
    for m in (urgent, low, mid, high):
        status = await service.wait(m.migration_id, {"completed", "failed"}, timeout=60)
        assert status.state == "completed", status
    low_history = await service.history(low.migration_id)
    assert any(e.to_state == "queued" and "preempted by" in e.detail for e in low_history), (
        low_history
    )
    starts = {}
    for m in (low, mid, high, urgent):
        events = await service.history(m.migration_id)
        starts[m.migration_id] = next(e.at for e in events if e.to_state == "planning")
    assert starts[high.migration_id] < starts[mid.migration_id]
    assert starts[urgent.migration_id] < starts[mid.migration_id]


@pytest.mark.parametrize(
    ("extra", "error", "match"),
    [
        ({"strategy": "teleport"}, ConfigError, "strategy: expected one of .*'teleport'"),
        ({"priority": 11}, ConfigError, "priority: expected an integer 1..10, got 11"),
        ({"constraints": {"max_downtime": "soon"}}, ConfigError, "constraints.max_downtime"),
        ({"constraints": {"colour": "red"}}, ConfigError, "unknown constraint 'colour'"),
        ({"bandwidth_limit_mbps": -5}, ConfigError, "bandwidth_limit_mbps"),
        ({"sync_batch_size": 0}, ConfigError, "sync_batch_size"),
        ({"checkpoint_interval": "often"}, ConfigError, "checkpoint_interval"),
        ({"enable_compression": "yes"}, ConfigError, "enable_compression"),
        ({"surprise": 1}, ConfigError, "surprise"),
        ({"target_edge": "edge-west"}, ConfigError, "must differ from source_edge"),
        ({"target_edge": "edge-mars"}, UnknownEdgeName, "edge-mars"),
        ({"workloads": ["ghost"]}, WorkloadNotOnEdge, "ghost"),
        ({"workloads": ["../etc"]}, ConfigError, "workloads: expected a workload name"),
        ({"workloads": []}, ConfigError, r"workloads: expected a non-empty list .*, got \[\]"),
    ],
)
async def test_malformed_plans_are_refused(
    edges: Edges, service: MigrationService, extra: dict[str, Any], error: type[Exception],
    match: str,
) -> None:  # fmt: skip
    await _workload(edges, "app", 10)
    with pytest.raises(error, match=match):
        await service.plan({**_plan("app"), **extra})
    assert await service.active() == []


async def test_capacity_check_and_force(tmp_path: Any, service: MigrationService) -> None:
    del tmp_path
    # a target too small: refused with the numbers, unless forced
    edges_gateway = service.gateway
    cap = await edges_gateway.capacity("edge-east")
    assert cap.max_bytes is not None  # the default capacity (10 GiB) of a daemon
    assert cap.free_bytes == cap.max_bytes - cap.used_bytes
    with pytest.raises(ConfigError, match="max_concurrent"):
        await service.configure(max_concurrent=0)
    assert InsufficientCapacity("e", 10, 5).needed_bytes == 10
