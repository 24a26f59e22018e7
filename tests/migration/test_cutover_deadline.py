"""A cutover's hold is bounded by ``max_downtime``, and counted.

The target stalls on the first activation (it takes the call and does not answer, like a
stopped process): the source undoes the cutover within the deadline and releases the held
writes to itself, the attempt's hold is in the worst/total downtime metrics, and the
migration completes on a later attempt of the same run (no restart) with no acknowledged
write lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from edge_actors.edge import AdminClient
from edge_actors.edge._http import HttpError
from edge_actors.migration import MigrationMetrics

from .conftest import TOKEN, Edges, lost_writes, seed, writing

if TYPE_CHECKING:
    from edge_actors.edge import WorkloadInfo
    from edge_actors.migration import MigrationService
    from edge_actors.migration._gateway import CutoverResult, CutoverSpec

pytestmark = pytest.mark.anyio

BUDGET_MS = 300.0
SLACK_MS = 1000.0  # the bound: every hold within max_downtime + 1 s


async def _migrate_orders(service: MigrationService) -> str:
    """Migrate ``orders`` west -> east with ``max_downtime`` ``BUDGET_MS``; its id."""
    plan = await service.plan(
        {
            "source_edge": "edge-west",
            "target_edge": "edge-east",
            "workloads": ["orders"],
            "constraints": {"max_downtime": f"{BUDGET_MS:g}ms"},
        }
    )
    status = await service.execute(plan.migration_id, wait=True, timeout=60)
    assert status.state == "completed", status
    return plan.migration_id


async def test_a_stalled_activation_is_undone_within_the_budget_and_counted(
    edges: Edges, service: MigrationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    west, east = edges.west, edges.east
    releases: list[tuple[str, float]] = []
    real_release = west.router.holds.release

    def release(name: str, moved_to: str | None, *, reason: str) -> tuple[int, float]:
        held_writes, held_ms = real_release(name, moved_to, reason=reason)
        releases.append((reason, held_ms))  # held_ms: the source's own clock
        return held_writes, held_ms

    real_activate = east.router.activate
    stalled = anyio.Event()
    resume = anyio.Event()

    async def stall_first(
        name: str, min_lsn: int, digest: str | None, epoch: int | None = None, **delta: Any
    ) -> WorkloadInfo:
        if not stalled.is_set():
            stalled.set()
            await resume.wait()  # the stalled process never gets to act on this call
            raise HttpError(503, "stalled", "the target was stopped (test)")
        return await real_activate(name, min_lsn, digest, epoch, **delta)

    monkeypatch.setattr(west.router.holds, "release", release)
    monkeypatch.setattr(east.router, "activate", stall_first)
    async with AdminClient(west.url, TOKEN) as admin:
        await admin.create_workload("orders")
    await seed(west.url, "orders", 1000)
    try:
        async with writing(west.url, "orders") as writer:
            await writer.wait_for_writes(20)
            mid = await _migrate_orders(service)
            await writer.wait_for_writes(20)  # it keeps writing, now against the target
    finally:
        resume.set()
    assert stalled.is_set()
    # The stalled attempt was undone within the budget, its held
    # writes released to the source; the later attempt switched.
    reasons = [reason for reason, _ in releases]
    assert reasons[0] == "cutover_failed"
    assert reasons[-1] == "cutover"
    undone_ms = releases[0][1]
    assert 0 < undone_ms < BUDGET_MS + SLACK_MS
    assert all(held_ms < BUDGET_MS + SLACK_MS for _, held_ms in releases)
    # Every attempt's hold is counted: the worst is the undone one, the total has both.
    metrics = await service.metrics(mid)
    assert isinstance(metrics, MigrationMetrics)
    assert metrics.cutover_attempts == len(releases) >= 2
    assert metrics.downtime_worst_ms == pytest.approx(undone_ms, abs=0.01)
    assert metrics.downtime_total_ms == pytest.approx(sum(ms for _, ms in releases), abs=0.1)
    assert metrics.max_downtime_ms == pytest.approx(releases[-1][1], abs=0.01)
    assert metrics.max_downtime_ms < metrics.downtime_worst_ms
    assert metrics.holds_over_max_downtime == sum(ms > BUDGET_MS for _, ms in releases)
    assert metrics.restarts == 0  # retried inside the run, not by restarting it
    # No acknowledged write lost, none refused.
    assert writer.failures == []
    assert await lost_writes(east.url, "orders", writer.acked) == []


async def test_the_deadline_sent_to_the_source_is_max_downtime(
    edges: Edges, service: MigrationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The whole hold is the budget: no round trip is added to it (the source's deadline
    # covers every step from the hold to the release, flip and undo included).
    sent: list[float | None] = []
    real_cutover = edges.gateway.cutover

    async def cutover(source: str, target: str, spec: CutoverSpec) -> CutoverResult:
        sent.append(spec.deadline_ms)
        return await real_cutover(source, target, spec)

    monkeypatch.setattr(edges.gateway, "cutover", cutover)
    async with AdminClient(edges.west.url, TOKEN) as admin:
        await admin.create_workload("orders")
    await seed(edges.west.url, "orders", 200)
    await _migrate_orders(service)
    assert sent
    assert all(deadline == BUDGET_MS for deadline in sent)
