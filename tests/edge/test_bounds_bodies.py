"""Request bodies are bounded in memory, and large batches are capped (issue 11).

The flood runs against a real daemon subprocess so the memory measured is the daemon's
alone: 24 concurrent 64 MiB bodies once took it to 1.46 GiB of RSS.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import aiohttp
import anyio
import msgspec
import psutil
import pytest
from daemon_process import TOKEN, daemon_process, peak_rss_bytes

from edge_actors.edge import AdminClient, EdgeClient

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
RSS_BOUND = 256 * MiB


async def _body() -> AsyncIterator[bytes]:
    """64 MiB that is never valid msgpack (0xc1): a batch the edge refuses once read."""
    chunk = b"\xc1" * MiB
    for _ in range(64):
        yield chunk


async def test_a_body_flood_keeps_rss_bounded_and_small_requests_served(tmp_path: Path) -> None:
    async with daemon_process(tmp_path, "edge-flood", {}) as daemon:
        async with AdminClient(daemon.url, TOKEN) as admin:
            await admin.create_workload("svc")
        statuses: list[int | str] = []
        served: list[int] = []
        url = daemon.url + "/v1/workloads/svc/batch"
        connector = aiohttp.TCPConnector(limit=0)
        async with (
            aiohttp.ClientSession(
                connector=connector, headers={"Authorization": f"Bearer {TOKEN}"}
            ) as http,
            EdgeClient(daemon.url, token=TOKEN) as client,
        ):

            async def upload(index: int) -> None:
                # Half declare their length, half are chunked (reserved as they arrive).
                declared = {"Content-Length": str(64 * MiB)} if index % 2 else {}
                try:
                    async with http.post(url, data=_body(), headers=declared) as resp:
                        statuses.append(resp.status)
                except aiohttp.ClientError as exc:  # refused early, the rest of the upload cut
                    statuses.append(type(exc).__name__)

            async with anyio.create_task_group() as tg:
                for index in range(24):
                    tg.start_soon(upload, index)
                while len(statuses) < 24:
                    served.append(await client.put("svc", f"k{len(served)}", b"small"))
                    await anyio.sleep(0.01)
        peak = peak_rss_bytes(daemon.process.pid)
        now = psutil.Process(daemon.process.pid).memory_info().rss
    assert statuses.count(503) >= 12, statuses  # turned away before being read
    assert set(statuses) <= {400, 503, "ClientOSError", "ServerDisconnectedError"}, statuses
    assert served == list(range(1, len(served) + 1))
    assert peak < RSS_BOUND, f"peak RSS {peak / MiB:.0f} MiB"
    assert now < RSS_BOUND


def _batch_header(count: int) -> bytes:
    """A msgpack array header announcing ``count`` elements (``array 32``)."""
    return b"\xdd" + count.to_bytes(4, "big")


async def test_a_batch_over_the_op_cap_is_413_before_decoding(tmp_path: Path) -> None:
    tiny = msgspec.msgpack.encode(["k", b"v"])
    two_million = _batch_header(2_000_000) + tiny * 2_000_000
    async with (
        daemon_process(tmp_path, "edge-batch", {"max_batch_ops": "1000"}) as daemon,
        AdminClient(daemon.url, TOKEN) as admin,
        EdgeClient(daemon.url, token=TOKEN) as client,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
    ):
        await admin.create_workload("svc")
        url = daemon.url + "/v1/workloads/svc/batch"
        async with http.post(url, data=io.BytesIO(two_million)) as resp:
            answer = await resp.json()
        assert resp.status == 413, answer
        assert answer["error"] == "too_many_ops"
        assert "max_batch_ops" in answer["message"]
        at_cap = [(f"k{i}", b"v") for i in range(1000)]
        assert await client.batch("svc", at_cap) == 1000
        async with http.post(url, data=msgspec.msgpack.encode([*at_cap, ("k", b"v")])) as resp:
            assert resp.status == 413
        assert (await admin.workload("svc")).records == 1000
