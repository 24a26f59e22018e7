"""Issue 11, "one cluster token for everything": the supervisor gives a migration's
source a signed, short-lived grant for one migration, workload and target instead of the
target's own token; the target verifies it and allows only what a transfer and its
cutover need."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
import pytest
import structlog.testing

from edge_actors.clock import ManualClock
from edge_actors.edge import (
    AdminClient,
    EdgeClient,
    EdgeConfig,
    EdgeDaemon,
    EdgeEndpoint,
    HttpEdgeGateway,
    Topology,
)
from edge_actors.edge._credentials import CredentialSpec
from edge_actors.edge._grants import GRANT_PREFIX, grant_key, mint_grant, verify_grant
from edge_actors.migration import CutoverSpec
from edge_actors.migration._gateway import TransferRequest
from edge_actors.transfer import TransferSpec

from .conftest import send

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = pytest.mark.anyio

WEST = "west-admin-token-0123456789abcdefghij"
EAST = "east-admin-token-0123456789abcdefghij"
APP = "app-data-token-0123456789abcdefghij"
NOW = 1_800_000_000.0


def _grant(**overrides: Any) -> str:
    fields: dict[str, Any] = {
        "migration_id": "mig-1",
        "workload": "orders",
        "target": "edge-east",
        "now": NOW,
        "ttl_s": 60.0,
        **overrides,
    }
    return mint_grant(EAST, **fields)


def test_a_grant_verifies_only_for_its_edge_key_and_lifetime() -> None:
    keys = [grant_key(EAST)]
    token = _grant()
    assert token.startswith(GRANT_PREFIX)
    assert EAST not in token
    credential = verify_grant(token, keys, edge="edge-east", now=NOW + 59)
    assert credential is not None
    assert (credential.role, credential.workloads, credential.migration_id) == (
        "grant",
        ("orders",),
        "mig-1",
    )
    assert verify_grant(token, keys, edge="edge-east", now=NOW + 60) is None  # expired
    assert verify_grant(token, keys, edge="edge-west", now=NOW) is None  # another target
    assert verify_grant(token, [grant_key(WEST)], edge="edge-east", now=NOW) is None
    body, _, mac = token.partition(".")[2].partition(".")
    forged = mint_grant(WEST, migration_id="mig-1", workload="*", target="edge-east", now=NOW)
    spliced = GRANT_PREFIX + forged.split(".")[1] + "." + mac
    assert verify_grant(spliced, keys, edge="edge-east", now=NOW) is None
    assert verify_grant(GRANT_PREFIX + body + ".x", keys, edge="edge-east", now=NOW) is None


def _config(tmp_path: Path, name: str, token: str) -> EdgeConfig:
    return EdgeConfig(
        name=name, data_dir=str(tmp_path / name), cluster_token=token, shutdown_timeout_s=2.0
    )


@asynccontextmanager
async def _pair(
    tmp_path: Path,
) -> AsyncIterator[tuple[EdgeDaemon, EdgeDaemon, AdminClient, AdminClient]]:
    """Edges ``edge-west`` and ``edge-east`` with different admin tokens, and their admins."""
    async with (
        EdgeDaemon(_config(tmp_path, "edge-west", WEST)) as west,
        EdgeDaemon(_config(tmp_path, "edge-east", EAST)) as east,
        AdminClient(west.url, WEST) as admin_west,
        AdminClient(east.url, EAST) as admin_east,
    ):
        yield west, east, admin_west, admin_east


async def test_a_grant_allows_only_its_workloads_transfer_and_cutover_calls(
    tmp_path: Path,
) -> None:
    clock = ManualClock(NOW)
    async with EdgeDaemon(_config(tmp_path, "edge-east", EAST), clock=clock) as east:
        async with AdminClient(east.url, EAST) as admin:
            await admin.create_workload("orders", "incoming")
            await admin.create_workload("payroll", "incoming")
        grant = _grant()
        for method, path in (
            ("GET", "/admin/workloads/payroll"),
            ("GET", "/admin/workloads"),
            ("POST", "/admin/workloads"),
            ("DELETE", "/admin/workloads/orders"),
            ("POST", "/admin/workloads/orders/hold"),
            ("GET", "/v1/workloads/orders"),
            ("GET", "/metrics"),
        ):
            assert (await send(east, method, path, grant, json={})).status == 403, path
        assert (await send(east, "GET", "/admin/workloads/orders", grant)).status == 200
        # its cutover's source announces the activation (the target's durable steps wait)
        prepare = {"quiet_ms": 100.0}
        path = "/admin/workloads/orders/prepare"
        assert (await send(east, "POST", path, grant, json=prepare)).status == 200
        path = "/admin/workloads/payroll/prepare"
        assert (await send(east, "POST", path, grant, json=prepare)).status == 403
        clock.advance(61)
        assert (await send(east, "GET", "/admin/workloads/orders", grant)).status == 401


async def test_a_peer_stream_under_a_grant_is_limited_to_its_workload(tmp_path: Path) -> None:
    async with _pair(tmp_path) as (west, east, admin_west, admin_east):
        for workload in ("orders", "payroll"):
            await admin_west.create_workload(workload)
            await admin_east.create_workload(workload, "incoming", migration_id="mig-1")
            async with EdgeClient(west.url, token=WEST) as client:
                await client.put(workload, "k", b"v")
        now = east.clock.time()
        grant = _grant(now=now)

        def spec(workload: str) -> TransferSpec:
            return TransferSpec(
                transfer_id=f"t-{workload}", migration_id="mig-1", workload=workload,
                target_name="edge-east", target_url=east.url, target_token=grant,
                from_lsn=0, max_retries=0,
            )  # fmt: skip

        refused = await admin_west.run_transfer(spec("payroll"))
        assert refused.state == "failed"
        assert "grant" in (refused.error or "")
        assert (await admin_east.workload("payroll")).lsn == 0
        done = await admin_west.run_transfer(spec("orders"))
        assert done.state == "done", done.error
        assert (await admin_east.workload("orders")).lsn == 1


async def test_the_supervisor_never_sends_a_targets_token_to_the_source(tmp_path: Path) -> None:
    sent: list[bytes] = []

    async def on_chunk(_: object, __: object, params: aiohttp.TraceRequestChunkSentParams) -> None:
        sent.append(params.chunk)

    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(on_chunk)
    async with (
        _pair(tmp_path) as (west, east, admin_west, admin_east),
        aiohttp.ClientSession(trace_configs=[trace]) as session,
    ):
        topology = Topology(
            {"edge-west": EdgeEndpoint(west.url, WEST), "edge-east": EdgeEndpoint(east.url, EAST)}
        )
        await admin_west.create_workload("orders")
        await admin_east.create_workload("orders", "incoming", migration_id="mig-1")
        async with EdgeClient(west.url, token=WEST) as client:
            await client.batch("orders", [(f"k{i}", b"v") for i in range(50)])
        async with HttpEdgeGateway(topology, session=session) as gateway:
            request = TransferRequest(
                transfer_id="t-1", migration_id="mig-1", workload="orders", from_lsn=0
            )
            synced = await gateway.transfer("edge-west", "edge-east", request, lambda _: None)
            assert synced.state == "done", synced.error
            cut = CutoverSpec(
                transfer_id="t-2", migration_id="mig-1", workload="orders",
                from_lsn=synced.acked_lsn,
            )  # fmt: skip
            result = await gateway.cutover("edge-west", "edge-east", cut)
        assert result.target_lsn == 50
        assert (await admin_east.workload("orders")).status == "active"
        assert (await admin_west.workload("orders")).status == "moved"
        body = b"".join(sent)
        assert GRANT_PREFIX.encode() in body  # the source got grants ...
        assert EAST.encode() not in body  # ... and never the target's token


async def test_a_peer_or_a_grant_cannot_stream_into_an_active_workload(tmp_path: Path) -> None:
    async with _pair(tmp_path) as (west, east, admin_west, admin_east):
        await admin_west.create_workload("orders")
        await admin_east.create_workload("orders")  # active: live data on the target
        async with EdgeClient(west.url, token=WEST) as client:
            await client.put("orders", "balance", b"999999")
        async with EdgeClient(east.url, token=EAST) as client:
            await client.put("orders", "balance", b"100")
        spec = TransferSpec(
            transfer_id="t-1", migration_id="mig-1", workload="orders",
            target_name="edge-east", target_url=east.url,
            target_token=_grant(now=east.clock.time()), from_lsn=0, max_retries=0,
        )  # fmt: skip
        refused = await admin_west.run_transfer(spec)
        assert refused.state == "failed"
        assert "active" in (refused.error or "")
        async with EdgeClient(east.url, token=EAST) as client:
            assert await client.get("orders", "balance") == b"100"


async def test_a_forwarded_held_write_carries_its_own_clients_token(tmp_path: Path) -> None:
    """The old edge forwards a held write with the writer's credential, never its own."""
    app = CredentialSpec(name="app", role="data", token=APP, workloads=("orders",))

    def config(name: str, token: str) -> EdgeConfig:
        return EdgeConfig(
            name=name, data_dir=str(tmp_path / name), cluster_token=token,
            credentials=(app,), shutdown_timeout_s=2.0,
        )  # fmt: skip

    async with (
        EdgeDaemon(config("edge-west", WEST)) as west,
        EdgeDaemon(config("edge-east", EAST)) as east,
        AdminClient(west.url, WEST) as admin_west,
        AdminClient(east.url, EAST) as admin_east,
        EdgeClient(west.url, token=APP) as client,
    ):
        await admin_west.create_workload("orders")
        await admin_east.create_workload("orders")
        await admin_west.hold("orders")
        gate = west.router.gate("orders")
        with structlog.testing.capture_logs() as logs:
            async with anyio.create_task_group() as tg:
                lsn: list[int] = []

                async def write() -> None:
                    lsn.append(await client.put("orders", "k", b"v"))

                tg.start_soon(write)
                with anyio.fail_after(10):
                    while gate.queued < 1:
                        await anyio.sleep(0.005)
                await admin_west.release("orders", moved_to=east.url)
        assert lsn == [1]
        [forwarded] = [e for e in logs if e["event"] == "held_writes_forwarded"]
        assert forwarded["outcome"] == "forwarded"  # east accepted the app's own token
        assert not [e for e in logs if e["event"] == "auth_failed"]
        assert client.edge_for("orders") == east.url
        assert (await admin_east.workload("orders")).lsn == 1
