"""An edge's routes and epochs are synced in a worker thread, never on the event loop.

Under a copy's disk load one small ``fdatasync`` takes 6-13 ms on these machines; an
admin command that syncs on the loop stalls every request of the edge for that long,
the holds of other workloads' cutovers included. Each sync of a file in the daemons'
data directories is recorded with the thread that made it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec
import pytest
from stalls import cutover_request

from edge_actors.edge import EdgeHTTPError
from edge_actors.edge._edge_state import open_edge_state
from edge_actors.edge._leader_fence import LeaderFence
from edge_actors.edge._refusals import StateNotDurable
from support.state_files import edge_state, unwritable

if TYPE_CHECKING:
    from conftest import Pair  # tests/edge/conftest.py

pytestmark = pytest.mark.anyio


class _Syncs:
    """The syncs of files under ``root``: each file's name, by the thread that synced it."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.loop_thread = threading.get_ident()
        self.on_loop: list[str] = []
        self.off_loop: list[str] = []

    def record(self, fd: int) -> None:
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return
        if path.startswith(self.root):
            on_loop = threading.get_ident() == self.loop_thread
            (self.on_loop if on_loop else self.off_loop).append(Path(path).name)


def _watch_syncs(monkeypatch: pytest.MonkeyPatch, root: Path) -> _Syncs:
    syncs = _Syncs(root)
    real_fdatasync, real_fsync = os.fdatasync, os.fsync

    def fdatasync(fd: int) -> None:
        syncs.record(fd)
        real_fdatasync(fd)

    def fsync(fd: int) -> None:
        syncs.record(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(os, "fsync", fsync)
    return syncs


async def test_admin_commands_sync_routes_and_epochs_off_the_event_loop(
    pair: Pair, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    west, east, admin_west, admin_east, client = pair
    syncs = _watch_syncs(monkeypatch, tmp_path)

    await admin_west.create_workload("orders", epoch=1)
    await admin_west.create_workload("carts", epoch=1)
    await admin_east.create_workload("orders", "incoming", epoch=2, migration_id="mig-1")
    await client.put("orders", "k", b"v")
    await client.put("carts", "k", b"v")
    await admin_west.hold("carts", epoch=3)
    await admin_west.release("carts", east.url, epoch=3, migration_id="mig-9")  # bound, moved
    await admin_west.set_status("carts", "active", epoch=4)
    await admin_west.drop_workload("carts", forget=True, epoch=5)
    request = cutover_request(east)
    answer = await admin_west.cutover("orders", request)
    assert answer.moved_to == east.url.rstrip("/")

    assert syncs.on_loop == []
    assert "edge.log" in syncs.off_loop  # the state was written, in a worker thread
    assert (await admin_east.workload("orders")).status == "active"
    assert await client.get("orders", "k") == b"v"  # redirected to east, served there

    routes_west = open_edge_state(tmp_path / west.name)[0]
    assert routes_west.get("carts") is None  # dropped and forgotten, durably
    moved = routes_west.get("orders")
    assert moved is not None
    assert (moved.status, moved.migration_id) == ("moved", "mig-1")


async def test_a_create_whose_route_cannot_be_written_leaves_no_store(
    pair: Pair, tmp_path: Path
) -> None:
    # The route is written after the store is made: an incoming copy whose route is not
    # durable must not stay behind as an active, empty store (a real OS error here: a
    # directory takes the state files' names).
    east, admin = pair.east, pair.admin_east
    with unwritable(tmp_path / "edge-east" / "edge.state"):
        with pytest.raises(EdgeHTTPError) as failed:
            await admin.create_workload("orders", "incoming", migration_id="mig-1")
        assert failed.value.code == "state_not_durable"
    assert "orders" not in east.router.registry
    assert not east.router.registry.path_of("orders").exists()
    with pytest.raises(EdgeHTTPError, match="workload_not_found"):
        await admin.workload("orders")
    info = await admin.create_workload("orders", "incoming", migration_id="mig-1")
    assert (info.status, info.migration_id) == ("incoming", "mig-1")
    assert edge_state(tmp_path / "edge-east")["routes"]["orders"]["status"] == "incoming"


async def test_a_failed_create_over_a_kept_redirect_leaves_the_redirect(
    pair: Pair, tmp_path: Path
) -> None:
    west, admin = pair.west, pair.admin_west
    await admin.create_workload("orders")
    await admin.hold("orders")
    await admin.release("orders", pair.east.url)
    await admin.drop_workload("orders")  # the store goes, the moved route stays
    with unwritable(tmp_path / "edge-west" / "edge.state"):
        with pytest.raises(EdgeHTTPError) as failed:
            await admin.create_workload("orders", "incoming", migration_id="mig-2")
        assert failed.value.code == "state_not_durable"
    assert "orders" not in west.router.registry
    info = await admin.workload("orders")
    assert (info.status, info.moved_to) == ("moved", pair.east.url.rstrip("/"))
    await admin.create_workload("carts")  # the next write makes the disk agree again
    assert edge_state(tmp_path / "edge-west")["routes"]["orders"]["status"] == "moved"


async def test_a_leader_epoch_whose_write_failed_is_written_by_the_next_command(
    tmp_path: Path,
) -> None:
    path = tmp_path / "leader_epoch.state"
    fence = LeaderFence(path)
    await fence.admit(1)
    with unwritable(path), pytest.raises(StateNotDurable, match="leader_epoch"):
        await fence.admit(2)
    assert fence.epoch == 2  # seen: a command at epoch 1 is refused from here on
    assert LeaderFence(path).epoch == 1  # but not durable
    await fence.admit(2)  # the same epoch again: written this time
    assert LeaderFence(path).epoch == 2


async def test_concurrent_commands_at_a_new_epoch_all_wait_for_its_write(
    pair: Pair, tmp_path: Path
) -> None:
    # Two holds at a new epoch: the second finds the epoch recorded in memory but must
    # not act before it is durable.
    admin = pair.admin_west
    await admin.create_workload("a", epoch=1)
    await admin.create_workload("b", epoch=1)
    async with anyio.create_task_group() as tg:
        for name in ("a", "b"):
            tg.start_soon(lambda n=name: admin.hold(n, epoch=7))
    epochs = edge_state(tmp_path / "edge-west")["epochs"]
    assert (epochs["a"]["epoch"], epochs["b"]["epoch"]) == (7, 7)


async def test_a_cutover_writes_its_epoch_and_binding_in_one_sync_before_its_hold(
    pair: Pair, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Each sync before the hold lengthens the cutover call by one fsync (6-13 ms under a
    # copy's disk load): the epoch and the binding go in one record, the mark in the next.
    west, east, admin_west, admin_east, client = pair
    await admin_west.create_workload("orders", epoch=1)
    await admin_east.create_workload("orders", "incoming", epoch=1, migration_id="mig-1")
    await client.put("orders", "k", b"v")
    syncs = _watch_syncs(monkeypatch, tmp_path / "edge-west")
    at_hold: list[list[str]] = []
    real_hold = west.router.hold

    async def hold(name: str, lease_s: float | None) -> tuple[int, float]:
        at_hold.append(list(syncs.off_loop))
        return await real_hold(name, lease_s)

    monkeypatch.setattr(west.router, "hold", hold)
    request = msgspec.structs.replace(cutover_request(east), epoch=2)
    await admin_west.cutover("orders", request)
    assert at_hold == [["edge.log", "edge.log"]]
    assert syncs.on_loop == []
    state = edge_state(tmp_path / "edge-west")
    assert state["epochs"]["orders"]["epoch"] == 2
    assert state["routes"]["orders"]["migration_id"] == "mig-1"
