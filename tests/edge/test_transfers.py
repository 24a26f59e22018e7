"""Transfers between two in-process daemons over the admin API and the peer stream."""

from __future__ import annotations

from contextlib import aclosing
from typing import TYPE_CHECKING

import aiohttp
import anyio
import pytest

from edge_actors.edge import AdminClient, EdgeClient, EdgeDaemon, WorkloadMissing
from edge_actors.transfer import TransferSpec

if TYPE_CHECKING:
    from conftest import Pair, StartDaemon  # tests/edge/conftest.py

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"


def spec_for(target: EdgeDaemon, workload: str, **fields: object) -> TransferSpec:
    values: dict[str, object] = {
        "transfer_id": f"t-{workload}",
        "migration_id": "m-1",
        "workload": workload,
        "target_name": target.name,
        "target_url": target.url,
        "target_token": TOKEN,
        "batch_size": 100,
    }
    values.update(fields)
    return TransferSpec(**values)  # type: ignore[arg-type]


async def test_transfer_copies_a_workload_and_digests_match(pair: Pair) -> None:
    _west, east, admin_west, admin_east, client = pair
    await admin_west.create_workload("api-service")
    await admin_east.create_workload("api-service", status="incoming")
    for start in range(0, 1000, 250):
        await client.batch(
            "api-service",
            [(f"k{i}", f"value-{i}".encode() * 5) for i in range(start, start + 250)],
        )
    await client.delete("api-service", "k7")
    lines = []
    async with aclosing(admin_west.transfer(spec_for(east, "api-service"))) as stream:
        async for progress in stream:
            lines.append(progress)
    final = lines[-1]
    assert final.state == "done"
    assert final.acked_lsn == final.to_lsn == 1001
    source = await admin_west.workload("api-service")
    target = await admin_east.workload("api-service")
    assert target.digest == source.digest
    assert (target.records, target.lsn) == (999, 1001)
    metrics_east = await admin_east.metrics_text()
    assert 'edge_peer_records_applied_total{edge="edge-east"} 1000.0' in metrics_east
    assert (
        'edge_workload_peer_records_applied_total{edge="edge-east",workload="api-service"} 1000.0'
        in metrics_east
    )
    metrics_west = await admin_west.metrics_text()
    assert 'edge_transfers_total{edge="edge-west",state="done"} 1.0' in metrics_west
    # A delta round continues from the acked LSN.
    await client.put("api-service", "k1", b"changed")
    delta = await admin_west.run_transfer(
        spec_for(east, "api-service", transfer_id="t-delta", from_lsn=final.acked_lsn)
    )
    assert (delta.state, delta.records, delta.acked_lsn) == ("done", 1, 1002)
    assert (await admin_east.workload("api-service")).digest == (
        await admin_west.workload("api-service")
    ).digest
    assert await admin_west.transfers() == []


async def test_transfer_to_unknown_workload_fails_clearly(start_daemon: StartDaemon) -> None:
    async with (
        start_daemon("edge-west") as west,
        start_daemon("edge-east") as east,
        AdminClient(west.url, TOKEN) as admin_west,
        EdgeClient(west.url, token=TOKEN) as client,
    ):
        await admin_west.create_workload("svc")
        await client.put("svc", "k", b"v")
        final = await admin_west.run_transfer(spec_for(east, "svc"))
        assert final.state == "failed"
        assert final.error is not None
        assert "svc" in final.error
        with pytest.raises(WorkloadMissing):
            await admin_west.run_transfer(spec_for(east, "absent"))
        bad_token = spec_for(east, "svc", transfer_id="t-bad", target_token="wrong")
        refused = await admin_west.run_transfer(bad_token)
        assert refused.state == "failed"
        assert refused.error is not None
        assert "unauthorized" in refused.error


async def test_cancel_transfer_and_live_rate(pair: Pair) -> None:
    _west, east, admin_west, admin_east, client = pair
    await admin_west.create_workload("big")
    await admin_east.create_workload("big", status="incoming")
    await client.batch("big", [(f"k{i}", b"x" * 1000) for i in range(2000)])
    await admin_west.set_link_rate("edge-east", 400_000.0)  # ~50 KB/s: minutes for 2 MB
    lines = []
    async with aclosing(
        admin_west.transfer(spec_for(east, "big", compression=False, batch_size=20))
    ) as stream:
        async for progress in stream:
            lines.append(progress)
            if len(lines) == 3:
                running = await admin_west.transfers()
                assert [t.transfer_id for t in running] == ["t-big"]
                await admin_west.cancel_transfer("t-big")
    assert lines[-1].state == "cancelled"
    acked = lines[-1].acked_lsn
    assert 0 <= acked < 2000
    # Resume at full speed from the acked LSN: the copy completes and matches.
    await admin_west.set_link_rate("edge-east", None)
    final = await admin_west.run_transfer(
        spec_for(east, "big", transfer_id="t-big-2", from_lsn=acked)
    )
    assert (final.state, final.acked_lsn) == ("done", 2000)
    assert (await admin_east.workload("big")).digest == (await admin_west.workload("big")).digest


async def test_client_disconnect_cancels_transfer(pair: Pair) -> None:
    _west, east, admin_west, admin_east, client = pair
    await admin_west.create_workload("big")
    await admin_east.create_workload("big", status="incoming")
    await client.batch("big", [(f"k{i}", b"x" * 1000) for i in range(1000)])
    await admin_west.set_link_rate("edge-east", 200_000.0)
    async with aclosing(admin_west.transfer(spec_for(east, "big", batch_size=10))) as stream:
        async for progress in stream:
            assert progress.state == "running"
            break
    with anyio.fail_after(10):
        while (await admin_west.transfers()) != []:
            await anyio.sleep(0.05)
    metrics = await admin_west.metrics_text()
    assert 'edge_transfers_total{edge="edge-west",state="cancelled"} 1.0' in metrics


async def test_peer_stream_wrong_token_is_401(daemon: EdgeDaemon) -> None:
    async with aiohttp.ClientSession() as session:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(daemon.url + "/peer/stream", headers=headers)
            assert refused.value.status == 401


async def test_daemon_shutdown_cancels_running_transfer(pair: Pair) -> None:
    west, east, admin_west, admin_east, client = pair
    await admin_west.create_workload("big")
    await admin_east.create_workload("big", status="incoming")
    await client.batch("big", [(f"k{i}", b"x" * 1000) for i in range(1000)])
    await admin_west.set_link_rate("edge-east", 200_000.0)
    lines = []
    async with aclosing(admin_west.transfer(spec_for(east, "big", batch_size=10))) as stream:
        async for progress in stream:
            lines.append(progress)
            if len(lines) == 2:
                await west.aclose()
    assert lines[-1].state == "cancelled"
    target = await admin_east.workload("big")
    assert target.lsn >= lines[-1].acked_lsn  # applied chunks whose ack was in flight count too


async def test_only_an_incoming_copy_is_filled_in_bulk(pair: Pair) -> None:
    _west, east, admin_west, admin_east, client = pair
    for name in ("copy", "live"):
        await admin_west.create_workload(name)
        await client.batch(name, [(f"k{i}", b"v" * 100) for i in range(300)])
    await admin_east.create_workload("copy", status="incoming")
    await admin_east.create_workload("live")  # active and empty: the admin may stream in

    for name in ("copy", "live"):
        final = await admin_west.run_transfer(spec_for(east, name))
        assert (final.state, final.acked_lsn) == ("done", 300)

    copy, live = east.registry.get("copy"), east.registry.get("live")
    assert copy._writer.bulk_fills == 1  # ended at Done: WAL mode again
    assert not copy._writer.in_bulk
    assert live._writer.bulk_fills == 0  # a live store keeps its WAL commits
    for name in ("copy", "live"):
        target = await admin_east.workload(name)
        assert target.digest == (await admin_west.workload(name)).digest
        assert (target.records, target.lsn) == (300, 300)
