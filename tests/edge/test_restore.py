"""``POST /admin/workloads/{w}/restore``: an empty store under a ``moved`` route.

A rollback's full copy back needs a store on the source after the cleanup dropped it,
while data requests keep following the ``moved`` redirect. The route refuses anything
but a ``moved`` route and a stale epoch, and keeps a store already there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from edge_actors.edge import EdgeConflict, EdgeHTTPError

if TYPE_CHECKING:
    from conftest import Pair  # tests/edge/conftest.py

pytestmark = pytest.mark.anyio


async def test_restore_under_a_moved_route(pair: Pair) -> None:
    admin = pair.admin_west
    await admin.create_workload("orders", epoch=3)
    await pair.client.put("orders", "k", b"v")
    with pytest.raises(EdgeConflict, match="not_moved") as refused:
        await admin.restore_workload("orders", epoch=3)  # an active copy has its store
    assert refused.value.status == 409
    await admin.release("orders", pair.east.url, epoch=3)  # moved, store kept
    await admin.drop_workload("orders", epoch=3)  # the cleanup: route kept, data gone
    gone = await admin.workload("orders")
    assert (gone.status, gone.records, gone.lsn) == ("moved", 0, 0)
    with pytest.raises(EdgeConflict, match="stale_epoch"):
        await admin.restore_workload("orders", epoch=2)
    with pytest.raises(EdgeHTTPError, match="workload_not_found"):
        await admin.restore_workload("nothing-here", epoch=3)

    restored = await admin.restore_workload("orders", epoch=4, migration_id="mig-restore")
    assert (restored.status, restored.moved_to, restored.records, restored.lsn) == (
        "moved",
        pair.east.url,
        0,
        0,
    )
    assert (restored.migration_id, restored.epoch) == ("mig-restore", 4)
    again = await admin.restore_workload("orders", epoch=4)  # kept: idempotent
    assert again.migration_id == "mig-restore"
    await admin.set_status("orders", "active", epoch=4)
    assert await pair.client.put("orders", "k2", b"v2") == 1  # served from the new store
