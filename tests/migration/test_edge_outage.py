"""An edge that does not answer for a while is waited out, not counted as a crash
(issue 10, finding 2): the run shows ``waiting for edge X since T`` and goes on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from edge_actors.actors import Backoff
from edge_actors.migration import (
    EdgeUnreachable,
    MigrationMetrics,
    MigrationService,
    RestartPolicy,
    ServiceDefaults,
)

from .ledger import make_workload, plan_for, target_info

if TYPE_CHECKING:
    from pathlib import Path

    from .conftest import Edges

pytestmark = pytest.mark.anyio


def _policy(budget_s: float) -> RestartPolicy:
    return RestartPolicy(
        max_restarts=1,
        within_s=30.0,
        backoff=Backoff(initial_s=0.01, max_s=0.01),
        outage_budget_s=budget_s,
        outage_backoff=Backoff(initial_s=0.02, factor=2.0, max_s=0.1),
    )


def _target_down(edges: Edges, monkeypatch: pytest.MonkeyPatch) -> anyio.Event:
    """Make the target not answer until the returned event is set."""
    original, health = edges.gateway.workload_info, edges.gateway.health
    back = anyio.Event()

    async def workload_info(edge: str, workload: str) -> Any:
        if edge == "edge-east" and not back.is_set():
            raise EdgeUnreachable(f"edge {edge!r} does not answer (test)", edge=edge)
        return await original(edge, workload)

    async def healthy(edge: str) -> bool:
        return (edge != "edge-east" or back.is_set()) and await health(edge)

    monkeypatch.setattr(edges.gateway, "workload_info", workload_info)
    monkeypatch.setattr(edges.gateway, "health", healthy)
    return back


async def test_an_edge_outage_within_the_budget_is_waited_out(
    edges: Edges, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defaults = ServiceDefaults(checkpoint_interval_s=0.5, sync_batch_size=200)
    async with MigrationService(
        edges.gateway, tmp_path / "sup", defaults=defaults, restart=_policy(60.0)
    ) as service:
        await make_workload(edges, "outage", 200)
        back = _target_down(edges, monkeypatch)
        plan = await service.plan(plan_for("outage"))
        await service.execute(plan.migration_id)
        with anyio.fail_after(20):
            while not (status := await service.status(plan.migration_id)).detail.startswith(
                "waiting for edge"
            ):
                await anyio.sleep(0.01)
        assert status.detail.startswith("waiting for edge edge-east since 20"), status
        progress = await service.progress(plan.migration_id)
        assert progress.detail.startswith("waiting for edge edge-east since"), progress
        back.set()  # the edge answers again
        done = await service.wait(plan.migration_id, {"completed", "failed"}, timeout=30)
        assert done.state == "completed", done
        metrics = await service.metrics(plan.migration_id)
        assert isinstance(metrics, MigrationMetrics)
        assert metrics.restarts == 0  # waited out, not counted as crashes
    assert (await target_info(edges, "outage")).status == "active"


async def test_past_the_outage_budget_the_run_crashes_and_is_rolled_back(
    edges: Edges, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with MigrationService(edges.gateway, tmp_path / "sup", restart=_policy(0.2)) as service:
        await make_workload(edges, "outage", 200)
        _target_down(edges, monkeypatch)
        plan = await service.plan(plan_for("outage"))
        await service.execute(plan.migration_id)
        done = await service.wait(plan.migration_id, {"rolled_back"}, timeout=30)
        assert done.state == "rolled_back", done
        details = [e.detail for e in await service.history(plan.migration_id)]
        assert any("actor restarted after crash" in d for d in details), details
    assert (await target_info(edges, "outage", source=True)).status == "active"
