"""A rollback whose flip of the target back to the source fails once, under writes.

The sync-back activates the source, then releases the target's hold with
``moved_to=<source>``. If that release fails (the target did not take it), releasing the
hold in place would let the target serve again next to the now active source: two active
copies. The rollback retries the flip instead (the target stays held meanwhile); a run
that crashes there leaves the owner record handing over to the source, and the next run
finishes the flip. Either way it ends ``rolled_back`` with every acknowledged write on
the source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from edge_actors.edge import HttpEdgeGateway
from edge_actors.migration import EdgeUnreachable, MigrationService, ServiceDefaults

from .conftest import FAST_RESTART, lost_writes, writing
from .ledger import content_digest, make_workload, more_writes, plan_for, target_info

if TYPE_CHECKING:
    from pathlib import Path

    from edge_actors.migration import ReleaseResult

    from .conftest import Edges

pytestmark = pytest.mark.anyio


class FlipBackFailsOnce(HttpEdgeGateway):
    """The first release of the target to ``moved`` (the rollback's flip back) is not
    delivered: it fails with ``error`` (an edge that did not answer, or a crash of the
    run)."""

    failed = 0
    error: Exception = EdgeUnreachable("edge 'edge-east': release failed: injected")

    async def release(
        self,
        edge: str,
        workload: str,
        moved_to: str | None,
        *,
        epoch: int | None = None,
        migration_id: str | None = None,
    ) -> ReleaseResult:
        if edge == "edge-east" and moved_to is not None and not self.failed:
            self.failed += 1
            raise self.error
        return await super().release(
            edge, workload, moved_to, epoch=epoch, migration_id=migration_id
        )


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(EdgeUnreachable("release failed: injected"), id="retried"),
        pytest.param(RuntimeError("run crashed in the flip back"), id="next-run"),
    ],
)
async def test_a_failed_flip_back_is_finished_not_undone(
    edges: Edges, tmp_path: Path, error: Exception
) -> None:
    seeded = await make_workload(edges, "ledger", 800, 512)
    defaults = ServiceDefaults(checkpoint_interval_s=0.5, sync_batch_size=200)
    async with (
        FlipBackFailsOnce(edges.topology) as gateway,
        MigrationService(
            gateway, tmp_path / "sup", defaults=defaults, restart=FAST_RESTART
        ) as service,
        writing(edges.west.url, "ledger", rate=100) as writer,
    ):
        gateway.error = error
        plan = await service.plan(
            plan_for("ledger", test_endpoints=["/v1/workloads/{workload}/no-such-probe"],
                     constraints={"max_downtime": "300ms"})
        )  # fmt: skip
        status = await service.execute(plan.migration_id, auto_rollback=True)
        status = await service.wait(plan.migration_id, {"rolled_back"}, timeout=60)
        assert status.state == "rolled_back", status
        await more_writes(writer)
        assert gateway.failed == 1
    assert writer.failures == []
    assert await lost_writes(edges.west.url, "ledger", writer.acked) == []
    source = await target_info(edges, "ledger", source=True)
    assert (source.status, source.held) == ("active", False)
    assert source.digest == content_digest(seeded, writer.acked)
