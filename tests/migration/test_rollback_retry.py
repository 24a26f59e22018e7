"""``rollback failed`` is not terminal: the rollback is retried until the edges answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.actors import Backoff
from edge_actors.migration import (
    EdgeUnreachable,
    MigrationService,
    RestartPolicy,
    ServiceDefaults,
)

from .ledger import make_workload, plan_for, target_info, target_records, until

if TYPE_CHECKING:
    from pathlib import Path

    from .conftest import Edges

pytestmark = pytest.mark.anyio

_RESTART = RestartPolicy(
    max_restarts=1,
    within_s=30.0,
    backoff=Backoff(initial_s=0.01, max_s=0.01),
    rollback_retry=Backoff(initial_s=0.05, factor=2.0, max_s=0.2),
    outage_budget_s=0.0,  # each attempt fails at once (the waiting is tested elsewhere)
)


async def test_a_rollback_that_cannot_reach_an_edge_is_retried_until_it_can(
    edges: Edges, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defaults = ServiceDefaults(checkpoint_interval_s=0.5, sync_batch_size=200)
    async with MigrationService(
        edges.gateway, tmp_path / "supervisor", defaults=defaults, restart=_RESTART
    ) as service:
        await make_workload(edges, "rb-retry", 1500, 1024)
        plan = await service.plan(plan_for("rb-retry", bandwidth_limit_mbps=4))
        mid = plan.migration_id
        await service.execute(mid)
        await until(service, mid, bytes_done=100_000)
        assert (await service.pause(mid)).state == "paused"
        resolve = edges.gateway.resolve
        down = True

        def unreachable(edge: str) -> str:
            if down:
                raise EdgeUnreachable(f"edge {edge!r} does not answer (test)")
            return resolve(edge)

        monkeypatch.setattr(edges.gateway, "resolve", unreachable)
        status = await service.rollback(mid, timeout=15)
        assert status.state == "failed", status
        assert "rollback failed: restarts exhausted" in (status.error or ""), status
        assert "retrying in 0.05s (attempt 1)" in (status.error or ""), status

        with anyio.fail_after(20):  # retried with growing delays while the edge is down
            while not any("attempt 3" in e.detail for e in await service.history(mid)):
                await anyio.sleep(0.02)
        down = False
        status = await service.wait(mid, {"rolled_back"}, timeout=30)
        assert status.state == "rolled_back", status
    assert (await target_info(edges, "rb-retry", source=True)).status == "active"
    assert await target_records(edges, "rb-retry") == 0
