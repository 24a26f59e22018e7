"""An activation's durable writes run in worker threads, both at once (two real daemons).

The target of a cutover records the epoch (and what it confirmed) in ``epochs.state`` and
the ``active`` route in ``routing.state``, each synced before it answers. Written on the
loop one after the other, a slow disk held every other request of the daemon (other
workloads' copies, the undo of a cut activation) for two fsyncs. Here the epoch file's
write is held back in its thread (a slow disk): the daemon keeps serving, the routing
table is written meanwhile, and the activation answers only once both are on disk.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import anyio
import pytest
from stalls import TOKEN, SlowEpochFile

from edge_actors.edge import EdgeClient
from support.state_files import edge_state

if TYPE_CHECKING:
    from conftest import Pair  # tests/edge/conftest.py
    from edge_actors.edge import WorkloadInfo

pytestmark = pytest.mark.anyio


async def test_the_daemon_serves_while_an_activation_waits_for_its_fsync(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    await pair.admin_west.create_workload("orders")
    await pair.admin_east.create_workload("orders", "incoming", migration_id="mig-1")
    await pair.client.batch("orders", [(f"r{i:03d}", b"v") for i in range(10)])
    changes = await pair.west.registry.get("orders").scan_changes(0, 10)
    digest = (await pair.admin_west.workload("orders")).digest

    fence_log = pair.east.router.fence._entries.log
    real_flush = fence_log._flush
    entered, go = threading.Event(), threading.Event()

    def slow_disk(upto: int) -> None:
        entered.set()
        go.wait(10)
        real_flush(upto)

    monkeypatch.setattr(fence_log, "_flush", slow_disk)
    answers: list[WorkloadInfo] = []

    async def activate() -> None:
        answers.append(
            await pair.admin_east.activate(
                "orders", min_lsn=10, digest=digest, epoch=3, delta=changes
            )
        )

    async with anyio.create_task_group() as tg:
        tg.start_soon(activate)
        assert await anyio.to_thread.run_sync(entered.wait, 10)
        with anyio.fail_after(5):  # the loop is free while the write's fsync waits
            await pair.admin_east.health()
        # the epoch and the route are one write: neither is on disk before it is done
        assert edge_state(pair.east.config.data_dir)["routes"]["orders"]["status"] == "incoming"
        assert answers == []  # not answered before the epoch is durable
        go.set()
    [info] = answers
    assert (info.status, info.lsn, info.digest) == ("active", 10, digest)
    state = edge_state(pair.east.config.data_dir)
    assert state["routes"]["orders"]["status"] == "active"
    entry = state["epochs"]["orders"]
    assert (entry["epoch"], entry["activated_lsn"], entry["activated_digest"]) == (3, 10, digest)


async def test_requests_during_the_activations_fsync_wait_for_it_instead_of_a_409(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client the old owner redirected reaches the new one while its activation is
    making itself durable: it is served once that is done, not refused as incoming (a
    writer of the migration tests saw that 409 during a handover)."""
    await pair.admin_west.create_workload("orders")
    await pair.admin_east.create_workload("orders", "incoming", migration_id="mig-1")
    await pair.client.batch("orders", [(f"r{i:03d}", b"v") for i in range(10)])
    changes = await pair.west.registry.get("orders").scan_changes(0, 10)
    digest = (await pair.admin_west.workload("orders")).digest
    disk = SlowEpochFile(pair.east, monkeypatch, b'"epoch":3')
    lsns: list[int] = []
    values: list[bytes | None] = []

    async def activate() -> None:
        await pair.admin_east.activate("orders", min_lsn=10, digest=digest, epoch=3, delta=changes)

    async with EdgeClient(pair.east.url, token=TOKEN) as east, anyio.create_task_group() as tg:

        async def write_then_read() -> None:
            lsns.append(await east.put("orders", "during", b"fsync"))
            values.append(await east.get("orders", "r001"))

        tg.start_soon(activate)
        assert await anyio.to_thread.run_sync(disk.entered.wait, 10)
        tg.start_soon(write_then_read)
        with anyio.fail_after(5):  # the write has reached east (beside the activation)
            while pair.east.metrics.load.inflight < 2:
                await anyio.sleep(0.005)
        assert pair.east.router.activations_writing.in_progress("orders")
        assert lsns == []
        disk.go.set()
    assert lsns == [11]
    assert values == [b"v"]
    assert (await pair.admin_east.workload("orders")).status == "active"
