"""A wide plan is pipelined: early waves are cut over while later ones still copy.

Two real daemons on loopback, a real journal. The journal's checkpoints show the order:
the plan starts with only its first wave's target copies, and the last wave's copies are
created only after the first wave was cut over (still in ``sync``). Writers run on the
first and the last workload throughout; nothing is lost. A rollback in the middle of the
pipeline puts every workload back on the source and leaves no copy on the target.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.clock import ManualClock
from edge_actors.edge import WorkloadMissing
from edge_actors.migration import MigrationMetrics
from edge_actors.migration._handoff import WaveHandoff
from edge_actors.migration._pipeline import WAVE_SLOTS

from .conftest import lost_writes, writing
from .ledger import content_digest, make_workload, plan_for, target_info, target_records

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from edge_actors.migration import Checkpoint, MigrationService

    from .conftest import Edges, Writer

pytestmark = pytest.mark.anyio

PARALLEL = 2
WAVE = WAVE_SLOTS * PARALLEL
NAMES = [f"pipe-{i:02d}" for i in range(5 * WAVE)]


async def _seed(edges: Edges) -> dict[str, dict[str, bytes]]:
    return {n: await make_workload(edges, n, 120, 512, seed=i) for i, n in enumerate(NAMES)}


async def _status_on_east(edges: Edges, name: str) -> str | None:
    try:
        return (await target_info(edges, name)).status
    except WorkloadMissing:
        return None


@asynccontextmanager
async def _slow_plan(edges: Edges, service: MigrationService) -> AsyncIterator[tuple[str, Writer]]:
    """A writer on the last workload, and every workload planned and executed at 2 Mbit/s
    (each wave's copy takes a while); yields the migration's id and the writer."""
    async with writing(edges.west.url, NAMES[-1], rate=100, keys=40) as writer:
        await writer.wait_for_writes(5)
        plan = await service.plan(
            plan_for(
                *NAMES,
                bandwidth_limit_mbps=2,
                constraints={"max_downtime": "1000ms", "parallel_transfers": PARALLEL},
            )
        )
        await service.execute(plan.migration_id)
        yield plan.migration_id, writer


async def _until_active_on_east(edges: Edges, name: str) -> None:
    with anyio.fail_after(60):
        while await _status_on_east(edges, name) != "active":
            await anyio.sleep(0.02)


def _created(checkpoint: Checkpoint) -> set[str]:
    return {w for w, c in checkpoint.workloads.items() if c.created_on_target}


async def test_early_waves_are_cut_over_while_later_waves_copy(
    edges: Edges, service: MigrationService
) -> None:
    seeded = await _seed(edges)
    async with (
        writing(edges.west.url, NAMES[0], rate=100, keys=40) as first,
        writing(edges.west.url, NAMES[-1], rate=100, keys=40) as last,
    ):
        await first.wait_for_writes(5)
        plan = await service.plan(
            plan_for(*NAMES, constraints={"max_downtime": "1000ms", "parallel_transfers": PARALLEL})
        )
        mid = plan.migration_id
        await service.execute(mid)
        status = await service.wait(mid, {"completed", "failed"}, timeout=120)
        assert status.state == "completed", status
    checkpoints = await service.checkpoints(mid)
    entered_sync = next(c for c in checkpoints if c.phase == "sync")
    assert _created(entered_sync) == set(NAMES[:WAVE])  # pre_sync made the first wave only
    last_created = next(c for c in checkpoints if NAMES[-1] in _created(c))
    assert last_created.phase == "sync"
    assert last_created.workloads[NAMES[0]].routing == "target"  # cut over meanwhile
    assert last_created.workloads[NAMES[-1]].routing == "source"
    metrics = await service.metrics(mid)
    assert isinstance(metrics, MigrationMetrics)
    assert metrics.peak_transfers <= PARALLEL
    assert len(metrics.downtime_ms) == len(NAMES)
    assert max(metrics.downtime_ms.values()) <= 1000.0
    for writer in (first, last):
        assert writer.failures == []
        assert writer.acked
        assert await lost_writes(edges.east.url, writer.workload, writer.acked) == []
    for name in NAMES[1:-1]:
        assert (await target_info(edges, name)).digest == content_digest(seeded[name])
        source = await target_info(edges, name, source=True)
        assert (source.status, source.records) == ("moved", 0)  # cleanup dropped the copy


async def test_rollback_in_the_middle_of_the_pipeline(
    edges: Edges, service: MigrationService
) -> None:
    seeded = await _seed(edges)
    async with _slow_plan(edges, service) as (mid, writer):
        await _until_active_on_east(edges, NAMES[0])
        status = await service.rollback(mid)
        assert status.state == "rolled_back", status
    assert writer.failures == []
    assert await lost_writes(edges.west.url, NAMES[-1], writer.acked) == []
    for name in NAMES:
        source = await target_info(edges, name, source=True)
        assert (source.status, source.held) == ("active", False), name
        assert await target_records(edges, name) == 0, name
        if name != NAMES[-1]:
            assert source.digest == content_digest(seeded[name]), name


async def test_the_handoff_holds_copies_back_while_the_cutover_pool_is_full() -> None:
    handoff = WaveHandoff(limit=4)
    await handoff.put(["a", "b"])
    assert handoff.take() == ["a", "b"]
    handoff.report(4)  # the cutover pool is full
    handed: list[str] = []

    async def copy_task() -> None:
        await handoff.put(["c", "d"])
        handed.append("c,d")

    async with anyio.create_task_group() as tg:
        tg.start_soon(copy_task)
        await anyio.wait_all_tasks_blocked()
        assert handed == []  # waits for room
        handoff.report(2)
        await anyio.wait_all_tasks_blocked()
        assert handed == ["c,d"]
    assert handoff.take() == ["c", "d"]
    assert not handoff.drained
    handoff.close()
    assert handoff.drained


async def test_the_cutover_task_waits_for_a_wave_or_its_timeout_on_the_clock() -> None:
    clock = ManualClock()
    handoff = WaveHandoff(limit=8)
    woke: list[str] = []

    async def cutover_task(timeout_s: float | None) -> None:
        await handoff.wait(clock, timeout_s)
        woke.append(str(timeout_s))

    async with anyio.create_task_group() as tg:
        tg.start_soon(cutover_task, 5.0)
        await anyio.wait_all_tasks_blocked()
        clock.advance(4.9)
        await anyio.wait_all_tasks_blocked()
        assert woke == []
        clock.advance(0.2)  # the retry is due
        await anyio.wait_all_tasks_blocked()
        assert woke == ["5.0"]
        tg.start_soon(cutover_task, None)
        await anyio.wait_all_tasks_blocked()
        await handoff.put(["w"])  # a wave arrives
        await anyio.wait_all_tasks_blocked()
        assert woke == ["5.0", "None"]


async def test_a_pipelined_plan_paused_midway_resumes_to_completion(
    edges: Edges, service: MigrationService
) -> None:
    seeded = await _seed(edges)
    async with _slow_plan(edges, service) as (mid, writer):
        await _until_active_on_east(edges, NAMES[0])
        paused = await service.pause(mid)
        assert paused.state == "paused", paused
        await service.resume(mid)
        status = await service.wait(mid, {"completed", "failed"}, timeout=120)
        assert status.state == "completed", status
    metrics = await service.metrics(mid)
    assert isinstance(metrics, MigrationMetrics)
    assert len(metrics.downtime_ms) == len(NAMES)  # each cut over once, none twice
    assert writer.failures == []
    assert await lost_writes(edges.east.url, NAMES[-1], writer.acked) == []
    for name in NAMES[:-1]:
        assert (await target_info(edges, name)).digest == content_digest(seeded[name]), name


async def test_a_pipelined_plan_whose_run_crashes_twice_completes_from_its_checkpoints(
    edges: Edges, service: MigrationService
) -> None:
    seeded = await _seed(edges)
    async with _slow_plan(edges, service) as (mid, writer):
        # crash the run once the first wave is cut over, and again once the third is
        for wave in (0, 2):
            await _until_active_on_east(edges, NAMES[wave * WAVE])
            ref = await service.actor_ref(mid)
            assert ref is not None
            await service.system.kill(ref)
        status = await service.wait(mid, {"completed", "failed"}, timeout=120)
        assert status.state == "completed", status
    metrics = await service.metrics(mid)
    assert isinstance(metrics, MigrationMetrics)
    assert metrics.restarts == 2
    assert writer.failures == []
    assert await lost_writes(edges.east.url, NAMES[-1], writer.acked) == []
    for name in NAMES:
        target = await target_info(edges, name)
        source = await target_info(edges, name, source=True)
        assert (target.status, source.status, source.held) == ("active", "moved", False), name
        if name != NAMES[-1]:
            assert target.digest == content_digest(seeded[name]), name


async def test_the_cutover_task_can_hold_new_copies_back() -> None:
    handoff = WaveHandoff(limit=8)
    started: list[str] = []

    async def copy_worker(name: str) -> None:
        await handoff.copy_allowed()
        started.append(name)

    await copy_worker("free")  # nothing held back: starts at once
    handoff.quiet(True)  # a cutover keeps being undone
    async with anyio.create_task_group() as tg:
        tg.start_soon(copy_worker, "held")
        await anyio.wait_all_tasks_blocked()
        assert started == ["free"]
        handoff.quiet(False)  # it was cut over
    assert started == ["free", "held"]


async def test_copies_run_fewer_at_once_while_there_are_cutovers_to_make() -> None:
    handoff = WaveHandoff(limit=8, copies=4, copies_beside=2)
    running = 0
    peak = 0
    release = anyio.Event()

    async def copy() -> None:
        nonlocal running, peak
        async with handoff.copy_slot():
            running += 1
            peak = max(peak, running)
            await release.wait()
            running -= 1

    handoff.report(3)  # three workloads wait for their cutovers
    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(copy)
        await anyio.wait_all_tasks_blocked()
        assert running == 2
        handoff.report(0)  # all cut over: the other two start
        await anyio.wait_all_tasks_blocked()
        assert running == 4
        release.set()
    assert peak == 4
