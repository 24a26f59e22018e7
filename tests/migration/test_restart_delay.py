"""A crashed run's restart waits its backoff on the service's injected clock.

The restart policy's backoff here is an hour: on the wall clock the test could not end.
On a :class:`ManualClock` the restarted run sleeps exactly until the crash time plus the
backoff, does not start a second early, and completes once the clock gets there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.actors import Backoff
from edge_actors.clock import ManualClock
from edge_actors.migration import MigrationMetrics, MigrationService, RestartPolicy, ServiceDefaults

from .ledger import make_workload, plan_for, target_info, until

if TYPE_CHECKING:
    from pathlib import Path

    from .conftest import Edges

pytestmark = pytest.mark.anyio

_BACKOFF_S = 3600.0
_FAR = 1e7
"""Intervals of the other sleepers on the clock (reconciler, checkpoint ticker): far
beyond the backoff, so the earliest deadline on the clock is the restart's."""


async def test_a_restart_waits_its_backoff_on_the_injected_clock(
    edges: Edges, tmp_path: Path
) -> None:
    clock = ManualClock()
    policy = RestartPolicy(
        max_restarts=3,
        within_s=_FAR,
        outage_budget_s=0.0,
        backoff=Backoff(initial_s=_BACKOFF_S, factor=1.0, max_s=_BACKOFF_S),
    )
    defaults = ServiceDefaults(checkpoint_interval_s=_FAR, sync_batch_size=200)
    await make_workload(edges, "ledger", 1500, 1024)
    async with MigrationService(
        edges.gateway,
        tmp_path / "sup",
        defaults=defaults,
        restart=policy,
        clock=clock,
        reconcile_interval_s=_FAR,
    ) as service:
        plan = await service.plan(plan_for("ledger", bandwidth_limit_mbps=2))
        mid = plan.migration_id
        await service.execute(mid)
        await until(service, mid, bytes_done=50_000)
        crashed_at = clock.monotonic()  # the clock never moved: the crash's time
        ref = await service.actor_ref(mid)
        assert ref is not None
        await service.system.kill(ref)
        with anyio.fail_after(15):
            while clock.next_deadline() != crashed_at + _BACKOFF_S:
                await anyio.sleep(0.01)
        metrics = await service.metrics(mid)
        assert isinstance(metrics, MigrationMetrics)
        assert metrics.restarts == 1
        clock.advance(_BACKOFF_S - 1.0)
        assert clock.next_deadline() == crashed_at + _BACKOFF_S  # not a second early
        assert (await service.status(mid)).state == "sync"
        clock.advance(1.0)
        status = await service.wait(mid, {"completed", "failed", "rolled_back"}, timeout=60)
        assert status.state == "completed", status
    assert (await target_info(edges, "ledger")).status == "active"
