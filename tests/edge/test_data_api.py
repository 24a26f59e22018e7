"""Data API of a real in-process daemon: round trips, batches, info, error answers."""

from __future__ import annotations

import aiohttp
import anyio
import msgspec
import pytest

from edge_actors.edge import (
    AdminClient,
    BadRequest,
    EdgeClient,
    EdgeDaemon,
    PayloadTooLarge,
    WorkloadIncoming,
    WorkloadMissing,
)
from edge_actors.store import MAX_VALUE_BYTES, record_hash

pytestmark = pytest.mark.anyio


async def test_put_get_delete_round_trip(admin: AdminClient, client: EdgeClient) -> None:
    await admin.create_workload("api-service")
    keys = ["plain", "with/slash", "spa ce", "pct%41", "ünïcode", "q?x=1&y#z"]
    lsns = [await client.put("api-service", key, key.encode() * 3) for key in keys]
    assert lsns == list(range(1, len(keys) + 1))
    for key in keys:
        assert await client.get("api-service", key) == key.encode() * 3
    record = await client.get_record("api-service", "with/slash")
    assert record == (b"with/slash" * 3, 2)
    assert await client.delete("api-service", "plain") == len(keys) + 1
    assert await client.get("api-service", "plain") is None
    assert await client.get("api-service", "never-written") is None
    assert await client.put("api-service", "empty", b"") == len(keys) + 2
    assert await client.get("api-service", "empty") == b""


async def test_batch_and_info(admin: AdminClient, client: EdgeClient) -> None:
    await admin.create_workload("cache-layer")
    lsn = await client.batch("cache-layer", [("a", b"1"), ("b", b"22"), ("c", b"333")])
    assert lsn == 3
    assert await client.batch("cache-layer", [("b", None), ("d", b"4444")]) == 5
    info = await client.info("cache-layer")
    assert info.name == "cache-layer"
    assert info.status == "active"
    assert (info.records, info.lsn) == (3, 5)
    live = {"a": b"1", "c": b"333", "d": b"4444"}
    assert info.bytes == sum(len(k) + len(v) for k, v in live.items())
    expected = sum(record_hash(k.encode(), v) for k, v in live.items()) % (1 << 256)
    assert info.digest == format(expected, "064x")
    assert await client.batch("cache-layer", []) == 5


async def test_unknown_workload_and_bad_names(client: EdgeClient, daemon: EdgeDaemon) -> None:
    with pytest.raises(WorkloadMissing) as missing:
        await client.put("nope", "k", b"v")
    assert missing.value.status == 404
    assert missing.value.code == "workload_not_found"
    with pytest.raises(WorkloadMissing):
        await client.info("nope")
    with pytest.raises(BadRequest) as bad:
        await client.put("Bad_Name", "k", b"v")
    assert bad.value.code == "invalid_workload_name"
    assert "Bad_Name" in bad.value.message
    with pytest.raises(BadRequest) as long_key:
        await client.put("nope", "k" * 2000, b"v")
    assert long_key.value.code == "invalid_record"


async def test_malformed_batch_is_400_and_writes_nothing(
    admin: AdminClient, daemon: EdgeDaemon
) -> None:
    await admin.create_workload("logging")
    url = f"{daemon.url}/v1/workloads/logging/batch"
    async with aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {daemon.token}"}
    ) as session:
        for body in (
            b"\xc1garbage",
            msgspec.msgpack.encode([["k", "not-bytes"]]),
            msgspec.msgpack.encode({"k": b"v"}),
            msgspec.msgpack.encode([["k"]]),
        ):
            async with session.post(url, data=body) as resp:
                assert resp.status == 400
                answer = await resp.json()
                assert answer["error"] == "invalid_body"
                assert "Traceback" not in answer["message"]
    assert (await admin.workload("logging")).lsn == 0


async def test_incoming_workload_is_409(admin: AdminClient, client: EdgeClient) -> None:
    await admin.create_workload("target-copy", status="incoming")
    with pytest.raises(WorkloadIncoming) as conflict:
        await client.put("target-copy", "k", b"v")
    assert conflict.value.status == 409
    with pytest.raises(WorkloadIncoming):
        await client.get("target-copy", "k")
    assert (await admin.workload("target-copy")).lsn == 0


async def test_value_too_large_is_413(admin: AdminClient, client: EdgeClient) -> None:
    await admin.create_workload("big")
    with pytest.raises(PayloadTooLarge) as too_large:
        await client.put("big", "k", b"x" * (MAX_VALUE_BYTES + 1))
    assert too_large.value.status == 413
    assert (await admin.workload("big")).records == 0
    assert await client.put("big", "k", b"fits") == 1


async def test_concurrent_writers_every_ack_readable(
    admin: AdminClient, client: EdgeClient
) -> None:
    await admin.create_workload("hot")
    acked: dict[str, int] = {}

    async def writer(i: int) -> None:
        for j in range(5):
            key = f"w{i}-{j}"
            acked[key] = await client.put("hot", key, f"{i}:{j}".encode())

    async with anyio.create_task_group() as tg:
        for i in range(200):
            tg.start_soon(writer, i)
    assert len(acked) == 1000
    assert sorted(acked.values()) == list(range(1, 1001))
    for key in acked:
        i, j = key[1:].split("-")
        assert await client.get("hot", key) == f"{i}:{j}".encode()
    info = await client.info("hot")
    assert (info.records, info.lsn) == (1000, 1000)


async def test_probes_need_any_credential(daemon: EdgeDaemon, admin: AdminClient) -> None:
    await admin.create_workload("svc")
    async with aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {daemon.token}"}
    ) as session:
        for path in ("/api/health", "/api/status", "/v1/workloads/svc/health"):
            async with session.get(daemon.url + path) as resp:
                assert resp.status == 200, path
                assert (await resp.json())["status"] == "ok"
        async with session.get(daemon.url + "/v1/workloads/absent/health") as resp:
            assert resp.status == 404
        async with session.get(daemon.url + "/no/such/route") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"] == "http_404"
