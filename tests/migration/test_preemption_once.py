"""An emergency preempts exactly one migration (the lowest-priority one), also when another
execute makes the supervisor schedule again right after; the preempted one resumes and
every migration completes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .test_control import _plan, _until_bytes, _workload

if TYPE_CHECKING:
    from edge_actors.migration import MigrationService

    from .conftest import Edges

import pytest

pytestmark = pytest.mark.anyio


async def test_one_emergency_preempts_one_migration(
    edges: Edges, service: MigrationService
) -> None:
    await service.configure(max_concurrent=2)
    for name in ("low-a", "low-b", "normal", "urgent"):
        await _workload(edges, name, 600)
    slow = {"bandwidth_limit_mbps": 2, "constraints": {"max_downtime": "300ms"}}
    low_a = await service.plan(_plan("low-a", priority=2, **slow))
    low_b = await service.plan(_plan("low-b", priority=3, **slow))
    normal = await service.plan(_plan("normal", priority=5, **slow))
    await service.execute(low_a.migration_id)
    await service.execute(low_b.migration_id)
    await _until_bytes(service, low_a.migration_id, 20_000)
    await _until_bytes(service, low_b.migration_id, 20_000)
    urgent = await service.plan(
        _plan("urgent", strategy="emergency", constraints={"skip_validation": True})
    )
    await service.execute(urgent.migration_id)
    await service.execute(normal.migration_id)
    for m in (urgent, low_a, low_b, normal):
        status = await service.wait(m.migration_id, {"completed", "failed"}, timeout=90)
        assert status.state == "completed", status

    def preempted(history: list[object]) -> int:
        return sum(1 for e in history if "preempted by" in getattr(e, "detail", ""))

    assert preempted(await service.history(low_a.migration_id)) == 1
    assert preempted(await service.history(low_b.migration_id)) == 0
