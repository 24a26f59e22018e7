"""Routing (307 to the new edge) and write holds, on real in-process daemons."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import pytest
import structlog.testing

from edge_actors.edge import AdminClient, EdgeClient, EdgeConflict, EdgeDaemon, TooManyRedirects
from edge_actors.edge._metrics import ACTIVITY_WORKLOADS

TOKEN = "test-cluster-token-0123456789abcdefghij"

if TYPE_CHECKING:
    from conftest import Pair, StartDaemon  # tests/edge/conftest.py

pytestmark = pytest.mark.anyio


async def test_moved_workload_redirects_and_client_follows(pair: Pair) -> None:
    west, east, admin_west, admin_east, client = pair
    await admin_west.create_workload("api-service")
    await admin_east.create_workload("api-service")
    await client.put("api-service", "k1", b"west")
    await admin_west.set_status("api-service", "moved", east.url)
    with structlog.testing.capture_logs() as logs:
        lsn = await client.put("api-service", "k/2", b"east")
    assert lsn == 1  # east's own store
    assert client.edge_for("api-service") == east.url
    assert any(e["event"] == "workload_moved" for e in logs)
    assert await client.get("api-service", "k/2") == b"east"
    assert (await admin_west.workload("api-service")).records == 1
    assert (await admin_east.workload("api-service")).records == 1
    # A fresh client is redirected too, for reads, batches and info.
    async with EdgeClient(west.url, token=TOKEN) as fresh:
        assert await fresh.get("api-service", "k/2") == b"east"
        assert await fresh.batch("api-service", [("b", b"1")]) == 2
        info = await fresh.info("api-service")
        assert (info.status, info.lsn) == ("active", 2)


async def test_held_writes_wait_then_land_on_target(pair: Pair) -> None:
    west, east, admin_west, admin_east, client = pair
    await admin_west.create_workload("cache-layer")
    await admin_east.create_workload("cache-layer")
    for i in range(5):
        await client.put("cache-layer", f"pre{i}", b"x")
    hold = await admin_west.hold("cache-layer")
    assert hold.lsn == 5
    results: dict[str, int] = {}

    async def write(i: int) -> None:
        results[f"held{i}"] = await client.put("cache-layer", f"held{i}", str(i).encode())

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(write, i)
        # Reads are served during the hold; the writes are queued, not refused.
        with anyio.fail_after(10):
            while west.router.gate("cache-layer").queued < 20:
                await anyio.sleep(0.01)
        assert await client.get("cache-layer", "pre0") == b"x"
        assert results == {}
        health = await admin_west.health()
        assert health.load.held_writes == 20
        assert (await admin_west.workload("cache-layer")).lsn == 5
        release = await admin_west.release("cache-layer", moved_to=east.url)
    assert release.held_writes == 20
    assert release.held_ms > 0
    assert release.status == "moved"
    assert len(results) == 20
    assert (await admin_west.workload("cache-layer")).lsn == 5
    east_info = await admin_east.workload("cache-layer")
    assert (east_info.records, east_info.lsn) == (20, 20)
    metrics = await admin_west.metrics_text()
    assert 'edge_held_writes_total{edge="edge-west"} 20.0' in metrics
    assert 'edge_hold_duration_seconds_count{edge="edge-west"} 1.0' in metrics
    assert (
        'edge_workload_held_writes_total{edge="edge-west",workload="cache-layer"} 20.0' in metrics
    )
    assert 'edge_workload_holds_total{edge="edge-west",workload="cache-layer"} 1.0' in metrics


async def test_release_without_move_runs_writes_locally_in_order(
    daemon: EdgeDaemon, admin: AdminClient, client: EdgeClient
) -> None:
    await admin.create_workload("orders")
    await admin.hold("orders")
    order: list[int] = []

    async def write(i: int) -> None:
        order.append(await client.put("orders", "same-key", str(i).encode()))

    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(write, i)
            with anyio.fail_after(10):
                while daemon.router.gate("orders").queued < i + 1:
                    await anyio.sleep(0.005)
        answer = await admin.release("orders")
    assert answer.held_writes == 10
    assert answer.status == "active"
    assert sorted(order) == list(range(1, 11))
    # Arrival order is kept: the last queued write is the final value.
    assert await client.get("orders", "same-key") == b"9"


async def test_hold_waits_for_in_flight_writes(
    daemon: EdgeDaemon, admin: AdminClient, client: EdgeClient
) -> None:
    await admin.create_workload("busy")
    acked: list[int] = []

    async def writer(i: int) -> None:
        acked.append(await client.batch("busy", [(f"{i}-{j}", b"v" * 100) for j in range(50)]))

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(writer, i)
        with anyio.fail_after(10):  # the hold comes while writes are in flight
            while daemon.router.gate("busy").inflight == 0:
                await anyio.lowlevel.checkpoint()  # every loop step: a write spans several
        hold = await admin.hold("busy")
        # Every write acknowledged before the hold answered is included in its LSN.
        assert all(lsn <= hold.lsn for lsn in acked)
        assert (await admin.workload("busy")).lsn == hold.lsn
        await admin.release("busy")
    assert len(acked) == 20


async def test_hold_lease_expires_and_releases(start_daemon: StartDaemon) -> None:
    async with (
        start_daemon("edge-a", hold_timeout_s=0.3) as daemon,
        AdminClient(daemon.url, TOKEN) as admin,
        EdgeClient(daemon.url, token=TOKEN) as client,
    ):
        await admin.create_workload("svc")
        with structlog.testing.capture_logs() as logs:
            answer = await admin.hold("svc")
            assert answer.lease_s == 0.3
            lsn = await client.put("svc", "k", b"v")  # waits until the lease runs out
        assert lsn == 1
        assert any(e["event"] == "hold_lease_expired" for e in logs)
        assert not daemon.router.gate("svc").held
        metrics = await admin.metrics_text()
        assert 'edge_hold_leases_expired_total{edge="edge-a"} 1.0' in metrics
        assert (
            'edge_workload_hold_leases_expired_total{edge="edge-a",workload="svc"} 1.0' in metrics
        )


async def test_drop_keeps_moved_route(
    daemon: EdgeDaemon, admin: AdminClient, client: EdgeClient
) -> None:
    await admin.create_workload("gone")
    await admin.set_status("gone", "moved", "http://127.0.0.1:9")
    await admin.drop_workload("gone")
    info = await admin.workload("gone")
    assert (info.status, info.moved_to, info.records) == ("moved", "http://127.0.0.1:9", 0)
    await admin.drop_workload("gone", forget=True)
    assert [w.name for w in await admin.workloads()] == []


async def test_drop_refused_while_held(admin: AdminClient) -> None:
    await admin.create_workload("svc")
    await admin.hold("svc")
    with pytest.raises(EdgeConflict) as conflict:
        await admin.drop_workload("svc")
    assert conflict.value.code == "workload_held"
    await admin.release("svc")
    await admin.drop_workload("svc")


async def test_routing_loop_is_a_clear_error(pair: Pair) -> None:
    west, east, admin_west, admin_east, client = pair
    await admin_west.create_workload("looped")
    await admin_east.create_workload("looped")
    await admin_west.set_status("looped", "moved", east.url)
    await admin_east.set_status("looped", "moved", west.url)
    with pytest.raises(TooManyRedirects) as loop:
        await client.put("looped", "k", b"v")
    assert "redirects" in str(loop.value)
    assert (await admin_west.workload("looped")).lsn == 0
    assert (await admin_east.workload("looped")).lsn == 0


async def test_metrics_keep_per_workload_hold_series_for_the_most_recent_only(
    admin: AdminClient,
) -> None:
    # A scrape renders on the loop: with a series per workload ever held it grew with the
    # edge's history (36 ms after 100 workloads, 3.5 s after 10,000).
    names = [f"svc{i:03d}" for i in range(ACTIVITY_WORKLOADS + 50)]
    for name in names:
        await admin.create_workload(name)
        await admin.hold(name)
        await admin.release(name)
    metrics = await admin.metrics_text()
    assert f'edge_hold_duration_seconds_count{{edge="edge-a"}} {len(names)}.0' in metrics
    held = re.findall(r'^edge_workload_holds_total\{edge="edge-a",workload="(\w+)"\} 1\.0$',
                      metrics, re.MULTILINE)  # fmt: skip
    assert sorted(held) == names[-ACTIVITY_WORKLOADS:]
    assert not re.search(r'^edge_workload_\w+\{edge="edge-a",workload="svc0[0-4]\d"\}',
                         metrics, re.MULTILINE)  # fmt: skip


async def test_a_dropped_workload_leaves_no_write_gate_behind(
    daemon: EdgeDaemon, admin: AdminClient, client: EdgeClient
) -> None:
    for i in range(20):
        name = f"gone{i:02d}"
        await admin.create_workload(name)
        await client.put(name, "k", b"v")
        await admin.hold(name)
        await admin.release(name)
        await admin.drop_workload(name, forget=True)
    await admin.create_workload("kept")
    await client.put("kept", "k", b"v")
    assert daemon.router.holds.gate_count == 1  # one per workload hosted, not ever seen
