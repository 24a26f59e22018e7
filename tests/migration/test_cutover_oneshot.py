"""The migration actor's one-call cutover: crash right after it, and a refused cutover."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from edge_actors.edge import AdminClient, HttpEdgeGateway
from edge_actors.edge._http import HttpError
from edge_actors.migration import MigrationMetrics, MigrationService, ServiceDefaults

from .conftest import FAST_RESTART, TOKEN, Edges, lost_writes, seed, writing

if TYPE_CHECKING:
    from pathlib import Path

    from edge_actors.edge import WorkloadInfo
    from edge_actors.migration import CutoverResult, CutoverSpec

pytestmark = pytest.mark.anyio


class CrashAfterCutover(HttpEdgeGateway):
    """The first cutover succeeds on the edges, then its caller crashes (before any
    checkpoint records it)."""

    crashed = 0
    calls = 0

    async def cutover(self, source: str, target: str, spec: CutoverSpec) -> CutoverResult:
        self.calls += 1
        result = await super().cutover(source, target, spec)
        if not self.crashed:
            self.crashed += 1
            raise RuntimeError("migration actor crashed right after the cutover call")
        return result


async def _migrate(edges: Edges, svc: MigrationService) -> str:
    async with AdminClient(edges.west.url, TOKEN) as admin:
        await admin.create_workload("orders")
    await seed(edges.west.url, "orders", 2000)
    async with writing(edges.west.url, "orders") as writer:
        await writer.wait_for_writes(20)  # the source takes writes before the migration
        plan = await svc.plan(
            {
                "source_edge": "edge-west",
                "target_edge": "edge-east",
                "workloads": ["orders"],
                "constraints": {"max_downtime": "200ms"},
            }
        )
        status = await svc.execute(plan.migration_id, wait=True, timeout=60)
        assert status.state == "completed", status
        await writer.wait_for_writes(20)  # it keeps writing, now against the target
    assert writer.failures == []
    assert writer.writes > 20
    assert await lost_writes(edges.east.url, "orders", writer.acked) == []
    return plan.migration_id


async def _routing(edges: Edges) -> tuple[WorkloadInfo, WorkloadInfo]:
    async with AdminClient(edges.west.url, TOKEN) as w, AdminClient(edges.east.url, TOKEN) as e:
        return await w.workload("orders"), await e.workload("orders")


async def test_crash_right_after_the_cutover_call_is_reconciled(
    edges: Edges, tmp_path: Path
) -> None:
    defaults = ServiceDefaults(checkpoint_interval_s=0.5, sync_batch_size=200)
    async with (
        CrashAfterCutover(edges.topology) as gateway,
        MigrationService(
            gateway, tmp_path / "supervisor", defaults=defaults, restart=FAST_RESTART
        ) as svc,
    ):
        mid = await _migrate(edges, svc)
        metrics = await svc.metrics(mid)
        history = await svc.history(mid)
    assert gateway.crashed == 1
    assert isinstance(metrics, MigrationMetrics)
    assert metrics.restarts == 1
    # The restarted actor found the source moved and counted the workload as cut over:
    # no second cutover, no rollback.
    assert gateway.calls == 1
    assert [e.from_state for e in history if e.to_state == "cutover"] == ["sync", "cutover"]
    assert metrics.rollbacks == 0
    source, target = await _routing(edges)
    assert (source.status, source.moved_to, target.status) == ("moved", edges.east.url, "active")


async def test_refused_cutover_is_undone_and_retried(
    edges: Edges, service: MigrationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    east = edges.east
    real = east.router.activate
    refusals: list[int] = []

    async def refuse_once(
        name: str, min_lsn: int, digest: str | None, epoch: int | None = None, **delta: Any
    ) -> WorkloadInfo:
        if not refusals:
            refusals.append(min_lsn)
            raise HttpError(409, "refused", "activation refused (test)")
        return await real(name, min_lsn, digest, epoch, **delta)

    monkeypatch.setattr(east.router, "activate", refuse_once)
    mid = await _migrate(edges, service)
    assert len(refusals) == 1
    metrics = await service.metrics(mid)
    assert isinstance(metrics, MigrationMetrics)
    # The refused cutover was undone and retried inside the run (no restart).
    assert metrics.restarts == 0
    assert metrics.cutover_attempts == 2
    source, target = await _routing(edges)
    assert (source.status, target.status) == ("moved", "active")
