"""Holds and capacity are bounded by default (issue 11): lease caps on the injected clock,
a total bound on renewals, the held-write queue bounded in bytes, default capacity."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
import pytest
from waiting import until

from edge_actors.clock import ManualClock
from edge_actors.edge import (
    DEFAULT_MAX_BYTES,
    AdminClient,
    BadRequest,
    EdgeClient,
    EdgeConfig,
    EdgeDaemon,
    load_edge_config,
)
from edge_actors.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"


def _config(tmp_path: Path, **overrides: Any) -> EdgeConfig:
    settings: dict[str, Any] = {
        "name": "edge-a",
        "data_dir": str(tmp_path / "edge-a"),
        "cluster_token": TOKEN,
        "hold_timeout_s": 2.0,
        "shutdown_timeout_s": 2.0,
        "hold_max_lease_s": 10.0,
        "hold_max_total_s": 25.0,
    }
    settings.update(overrides)
    return EdgeConfig(**settings)


async def test_a_lease_above_the_configured_cap_is_400(tmp_path: Path) -> None:
    async with (
        EdgeDaemon(_config(tmp_path), clock=ManualClock()) as daemon,
        AdminClient(daemon.url, TOKEN) as admin,
    ):
        await admin.create_workload("svc")
        with pytest.raises(BadRequest, match="hold_max_lease_s"):
            await admin.hold("svc", lease_s=3600.0)
        assert not daemon.router.gate("svc").held
        assert (await admin.hold("svc", lease_s=10.0)).lease_s == 10.0


async def test_renewals_end_at_the_total_bound(tmp_path: Path) -> None:
    clock = ManualClock()
    async with (
        EdgeDaemon(_config(tmp_path), clock=clock) as daemon,
        AdminClient(daemon.url, TOKEN) as admin,
        EdgeClient(daemon.url, token=TOKEN) as client,
    ):
        await admin.create_workload("svc")
        gate = daemon.router.gate("svc")
        start = clock.monotonic()
        assert (await admin.hold("svc", lease_s=10.0)).lease_s == 10.0
        clock.advance(8.0)
        assert (await admin.hold("svc", lease_s=10.0)).lease_s == 10.0
        clock.advance(8.0)
        # 16 s into the hold, 9 s are left of the 25 s total: the renewal is cut to that.
        assert (await admin.hold("svc", lease_s=10.0)).lease_s == 9.0
        await until(lambda: clock.next_deadline() == start + 25.0, "the cut lease sleeps")
        lsns: list[int] = []
        async with anyio.create_task_group() as tg:

            async def put() -> None:
                lsns.append(await client.put("svc", "k", b"v"))

            tg.start_soon(put)
            await until(lambda: gate.queued == 1, "the write waits on the hold")
            clock.advance(9.0)
        assert lsns == [1]
        assert not gate.held


async def test_held_writes_are_bounded_in_bytes(tmp_path: Path) -> None:
    value = b"x" * (400 * 1024)
    config = _config(tmp_path, max_held_bytes=1024 * 1024)
    async with (
        EdgeDaemon(config, clock=ManualClock()) as daemon,
        AdminClient(daemon.url, TOKEN) as admin,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
    ):
        await admin.create_workload("svc")
        gate = daemon.router.gate("svc")
        await admin.hold("svc", lease_s=10.0)
        url = daemon.url + "/v1/workloads/svc/records/"
        statuses: list[int] = []
        async with anyio.create_task_group() as tg:

            async def put(key: str) -> None:
                async with http.put(url + key, data=value) as resp:
                    statuses.append(resp.status)

            tg.start_soon(put, "a")
            tg.start_soon(put, "b")
            await until(lambda: gate.queued == 2, "two writes wait on the hold")
            async with http.put(url + "c", data=value) as resp:
                assert resp.status == 503
                assert resp.headers["Retry-After"] == "1"
                assert (await resp.json())["error"] == "held_queue_full"
            assert gate.queued == 2
            await admin.release("svc")
        assert statuses == [200, 200]
        assert (await admin.workload("svc")).records == 2
        async with http.put(url + "c", data=value) as resp:
            assert resp.status == 200


async def test_a_new_daemon_reports_default_capacity_limits(tmp_path: Path) -> None:
    config = EdgeConfig(name="edge-a", data_dir=str(tmp_path / "a"), cluster_token=TOKEN)
    async with EdgeDaemon(config) as daemon, AdminClient(daemon.url, TOKEN) as admin:
        capacity = await admin.capacity()
    assert capacity.max_bytes == DEFAULT_MAX_BYTES == 10 * 1024**3
    assert capacity.max_workloads == 1000
    assert capacity.free_bytes == DEFAULT_MAX_BYTES


def test_capacity_can_still_be_made_unlimited_explicitly(tmp_path: Path) -> None:
    env = {"EDGE_ACTORS_MAX_BYTES": "", "EDGE_ACTORS_MAX_WORKLOADS": ""}
    overrides = {"name": "edge-a", "data_dir": str(tmp_path), "cluster_token": TOKEN}
    config = load_edge_config(env=env, overrides=overrides)
    assert (config.max_bytes, config.max_workloads) == (None, None)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hold_timeout_s": 20.0, "hold_max_lease_s": 10.0}, "hold_timeout_s"),
        ({"hold_max_lease_s": 30.0, "hold_max_total_s": 25.0}, "hold_max_total_s"),
        ({"max_held_bytes": 0}, "max_held_bytes"),
        ({"max_connections": 0}, "max_connections"),
        ({"header_timeout_s": float("inf")}, "header_timeout_s"),
    ],
)
def test_bad_bounds_are_config_errors(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(tmp_path, **overrides)


async def test_a_held_write_whose_client_left_is_not_applied(tmp_path: Path) -> None:
    async with (
        EdgeDaemon(_config(tmp_path), clock=ManualClock()) as daemon,
        AdminClient(daemon.url, TOKEN) as admin,
        EdgeClient(daemon.url, token=TOKEN) as client,
    ):
        await admin.create_workload("svc")
        gate = daemon.router.gate("svc")
        await admin.hold("svc", lease_s=10.0)
        host, port = daemon.bound_url.removeprefix("http://").rsplit(":", 1)
        before = daemon.connections.open
        stream = await anyio.connect_tcp(host, int(port))
        async with stream:
            await stream.send(
                b"PUT /v1/workloads/svc/records/left HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"Authorization: Bearer {TOKEN}\r\n".encode()
                + b"Content-Type: application/octet-stream\r\nContent-Length: 4\r\n\r\ngone"
            )
            await until(lambda: gate.queued == 1, "the write waits on the hold")
        await until(lambda: daemon.connections.open == before, "the edge sees the client go")
        assert gate.queued == 1  # still queued: the release decides
        await admin.release("svc")
        await until(lambda: gate.queued == 0 and gate.inflight == 0, "the queue drains")
        assert await client.get("svc", "left") is None
        assert (await admin.workload("svc")).records == 0
        assert await client.put("svc", "stayed", b"here") == 1
