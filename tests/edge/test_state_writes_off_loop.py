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

import pytest
from stalls import cutover_request

from edge_actors.edge._edge_state import open_edge_state

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
