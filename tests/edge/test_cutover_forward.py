"""Held writes released with ``moved_to`` are forwarded by the source to the target."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest
import structlog.testing

from edge_actors.edge import EdgeClient, WorkloadIncoming

if TYPE_CHECKING:
    from conftest import Pair  # tests/edge/conftest.py

pytestmark = pytest.mark.anyio


async def _queue_in_order(pair: Pair, workload: str, writes: list[object]) -> None:
    """Start each write only once the previous one is queued: arrival order is known."""
    west = pair.west
    gate = west.router.gate(workload)
    for n, start in enumerate(writes, start=1):
        assert callable(start)
        start()
        with anyio.fail_after(10):
            while gate.queued < n:
                await anyio.sleep(0.005)


async def test_held_writes_are_forwarded_in_order_and_acknowledged_once(pair: Pair) -> None:
    west, east, admin_west, admin_east, _ = pair
    await admin_west.create_workload("orders")
    await admin_east.create_workload("orders")
    clients = [EdgeClient(west.url, token=west.token) for _ in range(6)]
    try:
        await clients[0].put("orders", "old", b"before")
        acked: dict[int, int] = {}
        await admin_west.hold("orders")
        with structlog.testing.capture_logs() as logs:
            async with anyio.create_task_group() as tg:

                def starter(i: int) -> object:
                    async def one() -> None:
                        c = clients[i]
                        if i == 3:
                            acked[i] = await c.batch("orders", [("b1", b"x"), ("b2", b"y")])
                        elif i == 4:
                            acked[i] = await c.delete("orders", "k0")
                        else:
                            acked[i] = await c.put("orders", f"k{i}", f"v{i}".encode())

                    return lambda: tg.start_soon(one)

                await _queue_in_order(pair, "orders", [starter(i) for i in range(6)])
                released = await admin_west.release("orders", moved_to=east.url)
        assert released.held_writes == 6
        # Acknowledged by the target's LSNs, in arrival order (the batch takes two).
        assert [acked[i] for i in range(6)] == [1, 2, 3, 5, 6, 7]
        assert (await admin_west.workload("orders")).lsn == 1  # nothing applied here
        east_info = await admin_east.workload("orders")
        assert east_info.lsn == 7  # every write applied exactly once
        assert east_info.records == 5  # k1, k2, b1, b2, k5 (k0 put then deleted)
        async with EdgeClient(east.url, token=east.token) as direct:
            assert await direct.get_record("orders", "k1") == (b"v1", 2)
            assert await direct.get_record("orders", "k5") == (b"v5", 7)
            assert await direct.get("orders", "k0") is None
        forwarded = [e for e in logs if e["event"] == "held_writes_forwarded"]
        assert sum(e["writes"] for e in forwarded) == 6
        assert all(e["outcome"] == "forwarded" for e in forwarded)
        # Released together, they go in one request (one commit on the target), not in
        # a first batch of the one or two that queued before the send began.
        assert [e["writes"] for e in forwarded] == [6]
        # Each client learned the new edge from the answer, without a 307 round trip.
        assert all(c.edge_for("orders") == east.url for c in clients)
        assert sum(e["event"] == "workload_moved" for e in logs) == 6
        before = (await admin_west.health()).load.requests_total
        assert await clients[1].put("orders", "after", b"z") == 8
        # health itself is the only request west saw: the write went straight to east
        assert (await admin_west.health()).load.requests_total == before + 1
    finally:
        for c in clients:
            await c.aclose()


async def test_refused_forward_falls_back_to_redirect_and_applies_nothing(pair: Pair) -> None:
    _, east, admin_west, admin_east, client = pair
    await admin_west.create_workload("cache")
    await admin_east.create_workload("cache", "incoming")  # the target refuses data writes
    await admin_west.hold("cache")
    errors: list[BaseException] = []

    async def write() -> None:
        try:
            await client.put("cache", "k", b"v")
        except WorkloadIncoming as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        await _queue_in_order(pair, "cache", [lambda: tg.start_soon(write)])
        await admin_west.release("cache", moved_to=east.url)
    # The client followed the 307 and got the target's own answer; nothing was applied.
    assert len(errors) == 1
    assert client.edge_for("cache") == east.url
    assert (await admin_west.workload("cache")).lsn == 0
    assert (await admin_east.workload("cache")).lsn == 0
