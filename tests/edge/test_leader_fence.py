"""Leadership epochs at the edge (``edge/_leader_fence.py``): a deposed supervisor leader's
commands are refused once a newer leader has spoken to the edge."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import anyio
import pytest
from aiohttp import web

from edge_actors.edge import AdminClient, EdgeConflict, EdgeEndpoint, HttpEdgeGateway, Topology
from edge_actors.edge._leader_fence import LEADER_EPOCH_HEADER, LeaderFence
from edge_actors.edge._refusals import StaleLeader
from edge_actors.migration import EdgeUnreachable

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import StartDaemon  # tests/edge/conftest.py
    from edge_actors.edge import EdgeDaemon

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"


def leader(daemon: EdgeDaemon, epoch: int) -> AdminClient:
    return AdminClient(daemon.url, TOKEN, leader_epoch=lambda: epoch)


async def test_a_lower_leader_epoch_is_refused_and_changes_nothing(daemon: EdgeDaemon) -> None:
    async with (
        leader(daemon, 2) as new,
        leader(daemon, 1) as old,
        AdminClient(daemon.url, TOKEN) as plain,
    ):
        await new.create_workload("orders")
        with pytest.raises(EdgeConflict) as refused:
            await old.set_status("orders", "incoming")
        assert (refused.value.status, refused.value.code) == (409, "stale_leader")
        with pytest.raises(EdgeConflict, match="stale_leader"):
            await old.create_workload("other")
        assert [w.name for w in await plain.workloads()] == ["orders"]
        assert (await plain.workload("orders")).status == "active"
        await plain.set_status("orders", "incoming")  # no header: the embedded supervisor
        async with leader(daemon, 3) as newer:
            await newer.set_status("orders", "active")
        with pytest.raises(EdgeConflict, match="stale_leader"):
            await new.set_status("orders", "incoming")
    assert daemon.leader_fence is not None
    assert daemon.leader_fence.epoch == 3


async def test_the_highest_leader_epoch_survives_a_restart(start_daemon: StartDaemon) -> None:
    async with start_daemon("edge-a") as daemon, leader(daemon, 5) as admin:
        await admin.create_workload("orders")
    async with start_daemon("edge-a") as daemon, leader(daemon, 4) as old:
        with pytest.raises(EdgeConflict, match="stale_leader"):
            await old.drop_workload("orders", forget=True)
        async with AdminClient(daemon.url, TOKEN) as plain:
            assert [w.name for w in await plain.workloads()] == ["orders"]


async def test_a_malformed_header_is_a_clear_400(daemon: EdgeDaemon) -> None:
    async with aiohttp.ClientSession() as session:
        for bad in ("two", "-1", "1.5"):
            async with session.get(
                daemon.url + "/admin/workloads",
                headers={"Authorization": f"Bearer {TOKEN}", LEADER_EPOCH_HEADER: bad},
            ) as resp:
                assert resp.status == 400
                body = await resp.json()
                assert body["error"] == "invalid_header"
                assert LEADER_EPOCH_HEADER in body["message"]


async def test_only_an_authenticated_admin_command_raises_the_epoch(daemon: EdgeDaemon) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            daemon.url + "/admin/workloads",
            headers={
                "Authorization": "Bearer wrong-token-0123456789abcdef",
                LEADER_EPOCH_HEADER: "9",
            },
            json={"name": "orders", "status": "active"},
        ) as resp,
    ):
        assert resp.status == 401
    assert daemon.leader_fence is not None
    assert daemon.leader_fence.epoch == 0


async def test_a_newer_epoch_cancels_a_stream_admitted_under_an_older_one(tmp_path: Path) -> None:
    fence = LeaderFence(tmp_path / "leader_epoch.state")
    await fence.admit(1)
    started = anyio.Event()

    async def forever() -> web.StreamResponse:
        started.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async with anyio.create_task_group() as tg:

        async def stream() -> None:
            with pytest.raises(StaleLeader, match="superseded by 2"):
                await fence.run_stream(1, forever)

        tg.start_soon(stream)
        await started.wait()
        await fence.admit(2)
    assert LeaderFence(tmp_path / "leader_epoch.state").epoch == 2


async def test_the_gateway_sends_its_epoch_and_stops_when_it_stands_down(
    daemon: EdgeDaemon,
) -> None:
    topology = Topology().with_edge("edge-a", EdgeEndpoint(daemon.url, TOKEN))
    async with HttpEdgeGateway(topology) as gateway:
        gateway.lead(4)
        await gateway.create_workload("edge-a", "orders", "active")
        assert daemon.leader_fence is not None
        assert daemon.leader_fence.epoch == 4
        gateway.stand_down()
        with pytest.raises(EdgeUnreachable, match="lost its leadership"):
            await gateway.set_status("edge-a", "orders", "incoming")
        assert not await gateway.health("edge-a")
