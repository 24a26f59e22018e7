"""LSNs above 2**62 are refused wherever one arrives: peer frames, admin bodies, apply.

One change at LSN 2**63-1 used to be applied; every later local write then needed LSN
2**63, which SQLite cannot store, so every write to that workload was a 500, across
restarts. The LSN space now ends at 2**62 (``LSN_MAX``), far beyond any real history,
and a write can always take the next LSN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import pytest

from edge_actors.store import InvalidRecord
from edge_actors.wire import (
    LSN_MAX,
    PROTOCOL_VERSION,
    Change,
    ChunkCodec,
    ErrorFrame,
    Hello,
    HelloAck,
    decode_frame,
    encode_frame,
)

if TYPE_CHECKING:
    from edge_actors.edge import AdminClient, EdgeClient, EdgeDaemon

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HUGE = 2**63 - 1
TARGET = {
    "target_name": "edge-b",
    "target_url": "http://127.0.0.1:9",
    "target_token": "t",
    "migration_id": "m",
}
TRANSFER = {"transfer_id": "t", "workload": "app"}


def test_lsn_space_ends_at_2_62() -> None:
    assert LSN_MAX == 2**62


async def test_peer_chunk_at_huge_lsn_is_refused_and_writes_keep_working(
    daemon: EdgeDaemon, admin: AdminClient, client: EdgeClient
) -> None:
    await admin.create_workload("app", status="incoming")
    chunk = ChunkCodec().encode_chunk(
        migration_id="m",
        workload="app",
        seq=1,
        changes=[Change(lsn=HUGE, key="k", value=b"v")],
    )
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
        http.ws_connect(daemon.url + "/peer/stream", headers=AUTH) as ws,
    ):
        hello = Hello(protocol=PROTOCOL_VERSION, migration_id="m", workload="app", transfer_id="t")
        await ws.send_bytes(encode_frame(hello))
        assert isinstance(decode_frame(await ws.receive_bytes()), HelloAck)
        await ws.send_bytes(encode_frame(chunk))
        refusal = decode_frame(await ws.receive_bytes())
    assert isinstance(refusal, ErrorFrame)
    assert (await daemon.registry.get("app").stats()).lsn == 0
    await admin.set_status("app", "active")
    assert await client.put("app", "after", b"ok") == 1


async def test_apply_above_lsn_max_is_refused(daemon: EdgeDaemon, admin: AdminClient) -> None:
    await admin.create_workload("app")
    store = daemon.registry.get("app")
    with pytest.raises(InvalidRecord, match="invalid lsn"):
        await store.apply_changes([Change(lsn=LSN_MAX + 1, key="k", value=b"v")])
    assert await store.apply_changes([Change(lsn=LSN_MAX, key="k", value=b"v")]) == LSN_MAX
    assert await store.put("next", b"still writable") == LSN_MAX + 1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/admin/workloads/app/activate", {"min_lsn": HUGE}),
        ("/admin/workloads/app/cutover", {**TARGET, "transfer_id": "t", "from_lsn": HUGE}),
        ("/admin/transfers", {**TARGET, **TRANSFER, "from_lsn": HUGE}),
        ("/admin/transfers", {**TARGET, **TRANSFER, "to_lsn": HUGE}),
    ],
)
async def test_admin_bodies_with_huge_lsn_are_400(
    daemon: EdgeDaemon, admin: AdminClient, path: str, body: dict[str, object]
) -> None:
    await admin.create_workload("app")
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
        http.post(daemon.url + path, json=body, headers=AUTH) as resp,
    ):
        answer = await resp.json()
    assert resp.status == 400, answer
    assert "lsn" in answer["message"]
    assert (await admin.workload("app")).lsn == 0
