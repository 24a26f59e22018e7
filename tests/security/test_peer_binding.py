"""Issue 11, "peer with token streams into an active workload", closed for good: every
peer stream is bound to one migration. A peer (static ``peer`` credential or transfer
grant) may stream only into a workload that is ``incoming`` for the migration its
``Hello`` names, or into the source side of that migration's rollback (``moved`` by it).
Anything else is refused ``migration_mismatch`` with nothing changed; only the admin
credential may stream into a copy of another migration (manual recovery)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import aiohttp
import anyio
import pytest

from edge_actors.edge import (
    AdminClient,
    EdgeClient,
    EdgeDaemon,
    EdgeEndpoint,
    HttpEdgeGateway,
    Topology,
)
from edge_actors.edge._grants import mint_grant
from edge_actors.migration import CutoverSpec, MigrationService
from edge_actors.migration._gateway import TransferRequest
from edge_actors.transfer import TransferSpec
from edge_actors.wire import (
    PROTOCOL_VERSION,
    Ack,
    Change,
    ChunkCodec,
    ErrorFrame,
    Hello,
    HelloAck,
    decode_frame,
    encode_frame,
)

from .conftest import ADMIN, PEER, bearer, config, send

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from edge_actors.transfer import TransferProgress
    from edge_actors.wire import Frame

pytestmark = pytest.mark.anyio


class _Edges:
    """Two real daemons sharing the security suite's credentials, and their admins."""

    def __init__(
        self, west: EdgeDaemon, east: EdgeDaemon, admin_west: AdminClient, admin_east: AdminClient
    ) -> None:
        self.west, self.east = west, east
        self.admin_west, self.admin_east = admin_west, admin_east

    async def seed_west(self, workload: str, records: int) -> None:
        await self.admin_west.create_workload(workload)
        async with EdgeClient(self.west.url, token=ADMIN) as client:
            await client.batch(workload, [(f"k{i}", b"west") for i in range(records)])

    async def stream(self, workload: str, migration_id: str, token: str) -> TransferProgress:
        """Stream ``workload`` from west to east under ``token`` naming ``migration_id``."""
        spec = TransferSpec(
            transfer_id=f"t-{migration_id}-{workload}", migration_id=migration_id,
            workload=workload, target_name="edge-east", target_url=self.east.url,
            target_token=token, from_lsn=0, max_retries=0,
        )  # fmt: skip
        return await self.admin_west.run_transfer(spec)

    def grant(self, workload: str, migration_id: str) -> str:
        """A valid grant of east for ``workload`` of ``migration_id``."""
        now = self.east.clock.time()
        return mint_grant(
            ADMIN, migration_id=migration_id, workload=workload, target="edge-east", now=now
        )


@asynccontextmanager
async def _edges(tmp_path: Path) -> AsyncIterator[_Edges]:
    async with (
        EdgeDaemon(config(tmp_path, "edge-west")) as west,
        EdgeDaemon(config(tmp_path, "edge-east")) as east,
        AdminClient(west.url, ADMIN) as admin_west,
        AdminClient(east.url, ADMIN) as admin_east,
    ):
        yield _Edges(west, east, admin_west, admin_east)


async def _snapshot(admin: AdminClient, workload: str) -> tuple[str, int, int, str]:
    info = await admin.workload(workload)
    return info.status, info.records, info.lsn, info.digest


def _refused(progress: TransferProgress) -> bool:
    return progress.state == "failed" and "migration_mismatch" in (progress.error or "")


async def test_a_static_peer_streams_only_into_its_own_migrations_incoming_copy(
    tmp_path: Path,
) -> None:
    async with _edges(tmp_path) as edges:
        await edges.seed_west("orders", 20)
        created = await edges.admin_east.create_workload("orders", "incoming", migration_id="mig-a")
        assert created.migration_id == "mig-a"
        before = await _snapshot(edges.admin_east, "orders")

        refused = await edges.stream("orders", "mig-b", PEER)
        assert _refused(refused), refused
        assert "mig-a" in (refused.error or "")
        assert await _snapshot(edges.admin_east, "orders") == before

        done = await edges.stream("orders", "mig-a", PEER)
        assert done.state == "done", done.error
        assert (await edges.admin_east.workload("orders")).lsn == 20


async def test_a_grant_of_another_migration_is_refused_even_for_the_same_workload(
    tmp_path: Path,
) -> None:
    async with _edges(tmp_path) as edges:
        await edges.seed_west("orders", 5)
        await edges.admin_east.create_workload("orders", "incoming", migration_id="mig-a")
        before = await _snapshot(edges.admin_east, "orders")
        refused = await edges.stream("orders", "mig-b", edges.grant("orders", "mig-b"))
        assert _refused(refused), refused
        assert await _snapshot(edges.admin_east, "orders") == before
        done = await edges.stream("orders", "mig-a", edges.grant("orders", "mig-a"))
        assert done.state == "done", done.error


async def test_a_copy_bound_to_no_migration_takes_only_the_admins_stream(tmp_path: Path) -> None:
    async with _edges(tmp_path) as edges:
        await edges.seed_west("orders", 3)
        await edges.admin_east.create_workload("orders", "incoming")  # by hand, no migration
        assert (await edges.admin_east.workload("orders")).migration_id is None
        for token in (PEER, edges.grant("orders", "mig-a")):
            assert _refused(await edges.stream("orders", "mig-a", token))
        assert (await edges.admin_east.workload("orders")).lsn == 0
        done = await edges.stream("orders", "mig-a", ADMIN)
        assert done.state == "done", done.error


async def test_an_active_workload_is_refused_to_every_peer_whatever_it_names(
    tmp_path: Path,
) -> None:
    """The attack row: a peer with a token overwrote live data (balance 100 -> 999999)."""
    async with _edges(tmp_path) as edges:
        await edges.admin_west.create_workload("orders")
        async with EdgeClient(edges.west.url, token=ADMIN) as client:
            await client.put("orders", "balance", b"999999")
        await edges.admin_east.create_workload("orders", migration_id="mig-a")  # active
        async with EdgeClient(edges.east.url, token=ADMIN) as client:
            await client.put("orders", "balance", b"100")
        before = await _snapshot(edges.admin_east, "orders")
        for token in (PEER, edges.grant("orders", "mig-a")):
            refused = await edges.stream("orders", "mig-a", token)
            assert refused.state == "failed"
            assert "workload_active" in (refused.error or ""), refused.error
        assert await _snapshot(edges.admin_east, "orders") == before
        async with EdgeClient(edges.east.url, token=ADMIN) as client:
            assert await client.get("orders", "balance") == b"100"


async def test_a_migration_keeps_its_binding_when_its_copy_goes_back_to_incoming(
    tmp_path: Path,
) -> None:
    """Activation and an undo (back to ``incoming``) keep the copy bound; a restart too."""
    async with _edges(tmp_path) as edges:
        await edges.seed_west("orders", 4)
        await edges.admin_east.create_workload("orders", "incoming", migration_id="mig-a")
        assert (await edges.stream("orders", "mig-a", PEER)).state == "done"
        await edges.admin_east.activate("orders", min_lsn=4)
        info = await edges.admin_east.set_status("orders", "incoming")
        assert info.migration_id == "mig-a"
    async with (
        EdgeDaemon(config(tmp_path, "edge-east")) as east,
        AdminClient(east.url, ADMIN) as admin,
    ):
        assert (await admin.workload("orders")).migration_id == "mig-a"
        rebound = await admin.set_status("orders", "incoming", migration_id="mig-b")
        assert rebound.migration_id == "mig-b"


async def test_the_rollback_streams_into_the_source_moved_by_that_migration_only(
    tmp_path: Path,
) -> None:
    """After a cutover by ``mig-1``, west is ``moved`` by it: a sync-back of ``mig-1`` may
    stream into west, a stream of any other migration may not."""
    async with _edges(tmp_path) as edges:
        topology = Topology(
            {
                "edge-west": EdgeEndpoint(edges.west.url, ADMIN),
                "edge-east": EdgeEndpoint(edges.east.url, ADMIN),
            }
        )
        await edges.seed_west("orders", 10)
        async with HttpEdgeGateway(topology) as gateway:
            await gateway.create_workload("edge-east", "orders", "incoming", migration_id="mig-1")
            request = TransferRequest(
                transfer_id="t-1", migration_id="mig-1", workload="orders", from_lsn=0
            )
            synced = await gateway.transfer("edge-west", "edge-east", request, lambda _: None)
            assert synced.state == "done", synced.error
            cut = CutoverSpec(
                transfer_id="t-2", migration_id="mig-1", workload="orders",
                from_lsn=synced.acked_lsn,
            )  # fmt: skip
            await gateway.cutover("edge-west", "edge-east", cut)
            moved = await edges.admin_west.workload("orders")
            assert (moved.status, moved.migration_id) == ("moved", "mig-1")
            async with EdgeClient(edges.east.url, token=ADMIN) as client:
                await client.put("orders", "after-cutover", b"east")
            before = await _snapshot(edges.admin_west, "orders")

            def back(migration_id: str) -> TransferRequest:
                return TransferRequest(
                    transfer_id=f"back-{migration_id}", migration_id=migration_id,
                    workload="orders", from_lsn=10,
                )  # fmt: skip

            other = await gateway.transfer("edge-east", "edge-west", back("mig-2"), lambda _: None)
            assert _refused(other), other
            assert await _snapshot(edges.admin_west, "orders") == before
            own = await gateway.transfer("edge-east", "edge-west", back("mig-1"), lambda _: None)
            assert own.state == "done", own.error
        assert (await edges.admin_west.workload("orders")).lsn == 11


async def _open_stream(ws: aiohttp.ClientWebSocketResponse, migration_id: str) -> None:
    hello = Hello(
        protocol=PROTOCOL_VERSION, migration_id=migration_id, workload="orders", transfer_id="t"
    )
    await ws.send_bytes(encode_frame(hello))
    assert isinstance(decode_frame(await ws.receive_bytes()), HelloAck)


async def _send_chunk(ws: aiohttp.ClientWebSocketResponse, seq: int, value: bytes) -> Frame:
    """Send ``balance = value`` at LSN 1000 + seq as chunk ``seq``; return the answer."""
    codec = ChunkCodec()
    changes = [Change(lsn=1000 + seq, key="balance", value=value)]
    chunk = codec.encode_chunk(migration_id="mig-a", workload="orders", seq=seq, changes=changes)
    await ws.send_bytes(encode_frame(chunk))
    with anyio.fail_after(10):
        return decode_frame(await ws.receive_bytes())


@pytest.mark.parametrize("change", ["activate", "rebind"])
async def test_a_stream_opened_before_a_route_change_cannot_write_after_it(
    tmp_path: Path, change: str
) -> None:
    """A peer that opened its stream while the copy was ``incoming`` for its migration
    keeps no right once the copy goes active (live data) or is rebound to another
    migration: its next chunk is refused and not applied."""
    async with (
        _edges(tmp_path) as edges,
        aiohttp.ClientSession() as http,
        http.ws_connect(edges.east.url + "/peer/stream", headers=bearer(PEER)) as ws,
    ):
        await edges.admin_east.create_workload("orders", "incoming", migration_id="mig-a")
        await _open_stream(ws, "mig-a")
        assert isinstance(await _send_chunk(ws, 1, b"100"), Ack)  # allowed while incoming
        if change == "activate":
            await edges.admin_east.activate("orders", min_lsn=1001)
        else:
            await edges.admin_east.set_status("orders", "incoming", migration_id="mig-b")
        before = await _snapshot(edges.admin_east, "orders")
        refusal = await _send_chunk(ws, 2, b"999999")
        assert isinstance(refusal, ErrorFrame), refusal
        expected = "workload_active" if change == "activate" else "migration_mismatch"
        assert refusal.code == expected, refusal
        assert await _snapshot(edges.admin_east, "orders") == before
        async with EdgeClient(edges.east.url, token=ADMIN) as client:
            if change == "activate":
                assert await client.get("orders", "balance") == b"100"


async def test_a_migration_binds_its_copies_and_rolls_back_through_the_binding(
    tmp_path: Path,
) -> None:
    """End to end under the supervisor's grants: the target's leftover ``incoming`` copy of
    another migration is rebound to this one, the cutover binds the source's ``moved``
    copy to it, and the rollback's sync-back streams through that binding."""
    async with _edges(tmp_path) as edges:
        await edges.seed_west("orders", 100)
        await edges.admin_east.create_workload("orders", "incoming", migration_id="mig-old")
        topology = Topology(
            {
                "edge-west": EdgeEndpoint(edges.west.url, ADMIN),
                "edge-east": EdgeEndpoint(edges.east.url, ADMIN),
            }
        )
        async with (
            HttpEdgeGateway(topology) as gateway,
            MigrationService(gateway, tmp_path / "supervisor") as service,
        ):
            plan = await service.plan(
                {
                    "source_edge": "edge-west",
                    "target_edge": "edge-east",
                    "workloads": ["orders"],
                    "test_endpoints": ["/no-such-endpoint"],  # fails after the cutover
                }
            )
            mid = plan.migration_id
            status = await service.execute(mid, wait=True, timeout=60)
            assert status.state == "failed", status
            east = await edges.admin_east.workload("orders")
            west = await edges.admin_west.workload("orders")
            assert (east.status, east.migration_id) == ("active", mid)
            assert (west.status, west.migration_id) == ("moved", mid)
            async with EdgeClient(edges.east.url, token=ADMIN) as client:
                await client.put("orders", "after-cutover", b"east")
            status = await service.rollback(mid, timeout=60)
            assert status.state == "rolled_back", status
        west = await edges.admin_west.workload("orders")
        assert (west.status, west.records) == ("active", 101)
        async with EdgeClient(edges.west.url, token=ADMIN) as client:
            assert await client.get("orders", "after-cutover") == b"east"


async def test_a_grant_may_only_put_its_copy_back_to_incoming_for_its_own_migration(
    tmp_path: Path,
) -> None:
    """What a cutover's undo needs of its target, and nothing more: a grant cannot make
    its workload active (skipping the activation's checks) nor rebind it."""
    async with _edges(tmp_path) as edges:
        await edges.admin_east.create_workload("orders", "incoming", migration_id="mig-a")
        grant = edges.grant("orders", "mig-a")
        path = "/admin/workloads/orders/status"
        before = await _snapshot(edges.admin_east, "orders")
        for body in (
            {"status": "active"},
            {"status": "moved", "moved_to": "http://127.0.0.1:9"},
            {"status": "incoming", "migration_id": "mig-b"},
        ):
            refused = await send(edges.east, "PUT", path, grant, json=body)
            assert (refused.status, b"forbidden" in refused.body) == (403, True), body
        assert await _snapshot(edges.admin_east, "orders") == before
        assert (await edges.admin_east.workload("orders")).migration_id == "mig-a"
        allowed = await send(edges.east, "PUT", path, grant, json={"status": "incoming"})
        assert allowed.status == 200
