"""Ownership epochs (fencing tokens): an edge refuses a command older than one it has seen."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from edge_actors.edge import AdminClient, EdgeConflict, EdgeHTTPError
from edge_actors.edge._models import CutoverRequest
from support.state_files import unwritable

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Pair, StartDaemon  # tests/edge/conftest.py

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"


async def test_a_lower_epoch_is_refused_and_changes_nothing(pair: Pair) -> None:
    admin = pair.admin_west
    await admin.create_workload("orders", epoch=5)
    await pair.client.put("orders", "k", b"v")
    stale = [
        admin.set_status("orders", "incoming", epoch=4),
        admin.hold("orders", epoch=4),
        admin.release("orders", pair.east.url, epoch=4),
        admin.activate("orders", min_lsn=0, epoch=4),
        admin.create_workload("orders", epoch=4),
        admin.drop_workload("orders", epoch=4),
    ]
    for call in stale:
        with pytest.raises(EdgeConflict) as refused:
            await call
        assert (refused.value.status, refused.value.code) == (409, "stale_epoch")
    info = await admin.workload("orders")
    assert (info.status, info.held, info.epoch, info.lsn) == ("active", False, 5, 1)
    assert await pair.client.put("orders", "k2", b"v") == 2  # still served here

    await admin.hold("orders", epoch=6)  # a newer epoch is taken and remembered
    await admin.release("orders", epoch=6)
    assert (await admin.workload("orders")).epoch == 6
    await admin.set_status("orders", "active")  # no epoch: not fenced (older callers)


async def test_a_drop_carries_its_epoch_in_the_query(pair: Pair) -> None:
    admin = pair.admin_east
    await admin.create_workload("orders", "incoming", epoch=3)
    with pytest.raises(EdgeHTTPError, match="invalid_query") as bad:
        await admin._call("DELETE", "/admin/workloads/orders?epoch=-1")
    assert bad.value.status == 400
    with pytest.raises(EdgeConflict, match="stale_epoch"):
        await admin.drop_workload("orders", epoch=2)
    assert (await admin.workload("orders")).status == "incoming"  # nothing dropped
    await admin.drop_workload("orders", epoch=4)
    with pytest.raises(EdgeHTTPError, match="workload_not_found"):
        await admin.workload("orders")


async def test_a_set_back_to_incoming_burns_its_epoch_for_activation(pair: Pair) -> None:
    admin = pair.admin_east
    await admin.create_workload("orders", "incoming", epoch=1)
    await admin.set_status("orders", "incoming", epoch=2)  # an undo at epoch 2
    for late in (
        admin.activate("orders", min_lsn=0, epoch=2),
        admin.set_status("orders", "active", epoch=2),
        admin.activate("orders", min_lsn=0, epoch=1),
    ):
        with pytest.raises(EdgeConflict, match="stale_epoch"):
            await late
    assert (await admin.workload("orders")).status == "incoming"
    assert (await admin.activate("orders", min_lsn=0, epoch=3)).status == "active"


async def test_the_highest_epoch_survives_a_restart(start_daemon: StartDaemon) -> None:
    async with start_daemon("edge-a") as daemon, AdminClient(daemon.url, TOKEN) as admin:
        await admin.create_workload("orders", epoch=7)
    async with start_daemon("edge-a") as daemon, AdminClient(daemon.url, TOKEN) as admin:
        with pytest.raises(EdgeHTTPError, match="stale_epoch"):
            await admin.set_status("orders", "incoming", epoch=6)
        assert (await admin.workload("orders")).epoch == 7


async def test_a_cutover_is_one_epoch_step_on_both_edges(pair: Pair) -> None:
    await pair.admin_west.create_workload("orders", epoch=1)
    await pair.admin_east.create_workload("orders", "incoming", epoch=1)
    await pair.client.batch("orders", [(f"r{i}", b"x" * 10) for i in range(50)])
    digest = (await pair.admin_west.workload("orders")).digest
    answer = await pair.admin_west.cutover("orders", _request(pair, epoch=2))
    west = await pair.admin_west.workload("orders")
    east = await pair.admin_east.workload("orders")
    assert (west.status, west.epoch, west.retiring_to) == ("moved", 2, None)
    assert (east.status, east.epoch) == ("active", 2)
    # Both digests at the cutover LSN stay known, whatever the target takes afterwards.
    assert (west.activated_lsn, west.activated_digest) == (answer.hold_lsn, digest)
    assert (east.activated_lsn, east.activated_digest) == (answer.hold_lsn, digest)
    # A late undo from an older view cannot deactivate the new owner.
    with pytest.raises(EdgeHTTPError, match="stale_epoch"):
        await pair.admin_east.set_status("orders", "incoming", epoch=1)
    assert (await pair.admin_east.workload("orders")).status == "active"


async def test_a_cutover_with_a_stale_epoch_holds_nothing(pair: Pair) -> None:
    await pair.admin_west.create_workload("orders", epoch=5)
    await pair.admin_east.create_workload("orders", "incoming")
    await pair.client.put("orders", "k", b"v")
    with pytest.raises(EdgeHTTPError, match="stale_epoch"):
        await pair.admin_west.cutover("orders", _request(pair, epoch=4))
    west = await pair.admin_west.workload("orders")
    east = await pair.admin_east.workload("orders")
    assert (west.status, west.held, west.epoch) == ("active", False, 5)
    assert (east.status, east.epoch) == ("incoming", 0)


def _request(pair: Pair, *, epoch: int) -> CutoverRequest:
    return CutoverRequest(
        target_name=pair.east.name,
        target_url=pair.east.url,
        target_token=TOKEN,
        migration_id="mig-1",
        transfer_id="mig-1-final",
        batch_size=50,
        epoch=epoch,
    )


async def test_a_route_change_that_fails_to_persist_keeps_the_retiring_mark(
    pair: Pair, tmp_path: Path
) -> None:
    # The mark is cleared only once the route is durable: a route write that fails (here
    # a real OS error: the file's path is taken by a directory) leaves the mark,
    # so the edge keeps redirecting instead of serving a copy the target may also serve.
    west = pair.west
    await pair.admin_west.create_workload("orders")
    await west.router.fence.retire("orders", pair.east.url)
    with (
        unwritable(tmp_path / "edge-west" / "edge.state"),
        pytest.raises(OSError, match=r"edge\.(state|log)"),
    ):
        await west.router.set_route("orders", "moved", pair.east.url)
    assert west.router.fence.get("orders").retiring_to == pair.east.url
    await west.router.set_route("orders", "moved", pair.east.url)
    assert west.router.fence.get("orders").retiring_to is None
