"""Malformed input from clients is a 4xx answer, never a 500 (review regressions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import anyio
import pytest

if TYPE_CHECKING:
    from edge_actors.edge import AdminClient, EdgeDaemon

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"


async def test_batch_with_invalid_utf8_key_is_400(admin: AdminClient, daemon: EdgeDaemon) -> None:
    await admin.create_workload("logging")
    url = f"{daemon.url}/v1/workloads/logging/batch"
    # [["\xed\xa0\x80", nil]]: a msgpack str whose bytes are not UTF-8
    body = b"\x91\x92\xa3\xed\xa0\x80\xc0"
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {daemon.token}"}) as session,
        session.post(url, data=body) as resp,
    ):
        assert resp.status == 400
        answer = await resp.json()
        assert answer["error"] == "invalid_body"
    assert (await admin.workload("logging")).lsn == 0


async def test_json_body_with_invalid_utf8_is_400(daemon: EdgeDaemon) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    body = b'{"name": "\xff", "status": "active"}'
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.post(f"{daemon.url}/admin/workloads", data=body) as resp,
    ):
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_json"


async def test_deeply_nested_json_body_is_400(daemon: EdgeDaemon) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    body = b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.post(f"{daemon.url}/admin/workloads", data=body) as resp,
    ):
        assert resp.status == 400
        assert (await resp.json())["error"] in ("invalid_json", "invalid_body")


async def test_non_utf8_authorization_header_is_401(daemon: EdgeDaemon) -> None:
    host, port = daemon.bound_url.removeprefix("http://").rsplit(":", 1)
    stream = await anyio.connect_tcp(host, int(port))
    async with stream:
        await stream.send(
            b"GET /admin/capacity HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n"
        )
        data = b""
        with anyio.fail_after(5):
            try:
                while True:
                    data += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass
    status_line = data.split(b"\r\n", 1)[0]
    assert b" 401 " in status_line, data[:300]
