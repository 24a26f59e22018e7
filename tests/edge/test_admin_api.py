"""Admin API: token checks, capacity refusals, persisted routing, metrics, bad bodies."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import pytest

from edge_actors.edge import (
    AdminClient,
    AdminUnauthorized,
    BadRequest,
    EdgeCapacityExceeded,
    EdgeClient,
    EdgeConflict,
    EdgeDaemon,
    WorkloadMissing,
)

if TYPE_CHECKING:
    from conftest import StartDaemon  # tests/edge/conftest.py

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"


async def test_admin_requires_the_token_and_changes_nothing(
    daemon: EdgeDaemon, admin: AdminClient
) -> None:
    await admin.create_workload("svc")
    for token in ("wrong-token", TOKEN + "x", ""):
        async with AdminClient(daemon.url, token or "-") as bad:
            with pytest.raises(AdminUnauthorized) as denied:
                await bad.create_workload("other")
            assert denied.value.status == 401
            with pytest.raises(AdminUnauthorized):
                await bad.set_status("svc", "moved", "http://127.0.0.1:9")
            with pytest.raises(AdminUnauthorized):
                await bad.hold("svc")
            with pytest.raises(AdminUnauthorized):
                await bad.drop_workload("svc")
            with pytest.raises(AdminUnauthorized):
                await bad.metrics_text()
    async with aiohttp.ClientSession() as session:
        for method, path in (
            ("GET", "/admin/health"),
            ("POST", "/admin/workloads"),
            ("GET", "/peer/stream"),
            ("GET", "/metrics"),
        ):
            async with session.request(method, daemon.url + path) as resp:
                assert resp.status == 401, path
                assert (await resp.json())["error"] == "unauthorized"
    workloads = await admin.workloads()
    assert [(w.name, w.status, w.held) for w in workloads] == [("svc", "active", False)]


async def test_health_and_capacity(start_daemon: StartDaemon) -> None:
    async with (
        start_daemon("edge-a", max_bytes=1000, max_workloads=2) as daemon,
        AdminClient(daemon.url, TOKEN) as admin,
        EdgeClient(daemon.url, token=TOKEN) as client,
    ):
        await admin.create_workload("a")
        await client.put("a", "key", b"x" * 97)
        health = await admin.health()
        assert (health.status, health.name, health.workloads) == ("ok", "edge-a", 1)
        assert health.load.writes_total == 1
        assert health.load.requests_total >= 2
        capacity = await admin.capacity()
        assert (capacity.max_bytes, capacity.used_bytes, capacity.free_bytes) == (1000, 100, 900)
        assert (capacity.max_workloads, capacity.used_workloads) == (2, 1)
        assert health.capacity == capacity


async def test_write_over_capacity_is_507_and_writes_nothing(start_daemon: StartDaemon) -> None:
    async with (
        start_daemon("edge-a", max_bytes=1000) as daemon,
        AdminClient(daemon.url, TOKEN) as admin,
        EdgeClient(daemon.url, token=TOKEN) as client,
    ):
        await admin.create_workload("a")
        await admin.create_workload("b")
        await client.put("a", "k", b"x" * 899)  # 900 bytes used
        with pytest.raises(EdgeCapacityExceeded) as full:
            await client.put("b", "k", b"y" * 200)
        assert full.value.status == 507
        assert "over capacity" in full.value.message
        with pytest.raises(EdgeCapacityExceeded):
            await client.batch("a", [("k2", b"z" * 50), ("k3", b"z" * 60)])
        assert (await admin.workload("b")).lsn == 0
        assert (await admin.workload("a")).lsn == 1
        assert await client.put("b", "k", b"y" * 99) == 1  # exactly fills it
        assert await client.delete("a", "k") == 2  # deletes are always allowed
        assert (await admin.capacity()).used_bytes == 100


async def test_max_workloads_is_507(start_daemon: StartDaemon) -> None:
    async with (
        start_daemon("edge-a", max_workloads=1) as daemon,
        AdminClient(daemon.url, TOKEN) as admin,
    ):
        await admin.create_workload("one")
        with pytest.raises(EdgeCapacityExceeded) as full:
            await admin.create_workload("two")
        assert "max_workloads" in full.value.message
        assert [w.name for w in await admin.workloads()] == ["one"]


async def test_admin_errors_name_the_problem(admin: AdminClient, daemon: EdgeDaemon) -> None:
    await admin.create_workload("svc")
    with pytest.raises(EdgeConflict) as exists:
        await admin.create_workload("svc")
    assert exists.value.code == "workload_exists"
    with pytest.raises(BadRequest) as no_target:
        await admin.set_status("svc", "moved")
    assert "moved_to" in no_target.value.message
    with pytest.raises(WorkloadMissing):
        await admin.set_status("absent", "active")
    with pytest.raises(WorkloadMissing):
        await admin.hold("absent")
    with pytest.raises(BadRequest):
        await admin.create_workload("../etc")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        async with session.post(daemon.url + "/admin/workloads", data=b'{"name": 5}') as resp:
            assert resp.status == 400
            body = await resp.json()
            assert body["error"] == "invalid_body"
            assert "$.name" in body["message"]
        async with session.post(daemon.url + "/admin/workloads", data=b"{not json") as resp:
            assert resp.status == 400
            assert (await resp.json())["error"] == "invalid_json"
        async with session.put(
            daemon.url + "/admin/workloads/svc/status", json={"status": "lost"}
        ) as resp:
            assert resp.status == 400
            assert "$.status" in (await resp.json())["message"]
        async with session.put(daemon.url + "/admin/links/edge-b", json={"rate_bps": -1}) as resp:
            assert resp.status == 400
    assert (await admin.workload("svc")).status == "active"


async def test_routing_status_survives_restart(start_daemon: StartDaemon) -> None:
    async with start_daemon("edge-a") as daemon, AdminClient(daemon.url, TOKEN) as admin:
        await admin.create_workload("moving")
        await admin.create_workload("arriving", status="incoming")
        await admin.create_workload("staying")
        await admin.set_status("moving", "moved", "http://127.0.0.1:9/")
        async with EdgeClient(daemon.url, token=TOKEN) as client:
            await client.put("staying", "k", b"v")
    async with start_daemon("edge-a") as daemon, AdminClient(daemon.url, TOKEN) as admin:
        routes = {w.name: (w.status, w.moved_to) for w in await admin.workloads()}
        assert routes == {
            "arriving": ("incoming", None),
            "moving": ("moved", "http://127.0.0.1:9"),
            "staying": ("active", None),
        }
        async with (
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {daemon.token}"}) as session,
            session.get(
                daemon.url + "/v1/workloads/moving/records/a%2Fb?x=1", allow_redirects=False
            ) as resp,
        ):
            assert resp.status == 307
            assert (
                resp.headers["Location"]
                == "http://127.0.0.1:9/v1/workloads/moving/records/a%2Fb?x=1"
            )
        async with EdgeClient(daemon.url, token=TOKEN) as client:
            assert await client.get("staying", "k") == b"v"
        await admin.set_status("arriving", "active")
        assert (await admin.workload("arriving")).status == "active"


async def test_metrics_text_has_the_counters(
    daemon: EdgeDaemon, admin: AdminClient, client: EdgeClient
) -> None:
    await admin.create_workload("svc")
    await client.put("svc", "k", b"12345")
    await client.get("svc", "k")
    await admin.set_link_rate("edge-b", 8e6)
    assert daemon.links.get("edge-b").rate_bps == 8e6
    text = await admin.metrics_text()
    assert (
        'edge_http_requests_total{edge="edge-a",method="PUT",'
        'route="/v1/workloads/{workload}/records/{key}",status="200"} 1.0'
    ) in text
    assert 'edge_write_latency_seconds_count{edge="edge-a"} 1.0' in text
    assert 'edge_data_bytes_in_total{edge="edge-a"} 6.0' in text
    assert 'edge_data_bytes_out_total{edge="edge-a"} 5.0' in text
    assert 'edge_store_records{edge="edge-a",workload="svc"} 1.0' in text
    assert 'edge_store_bytes{edge="edge-a",workload="svc"} 6.0' in text
    assert "edge_transfers_active" in text
    assert "edge_peer_records_applied" in text
