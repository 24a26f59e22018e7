"""Peer WebSockets are bounded in time: a handshake timeout for the opening ``Hello`` and a
heartbeat that closes a silent peer (issue 11: an idle peer WebSocket was never closed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import anyio
import pytest

from edge_actors.edge import AdminClient
from edge_actors.wire import (
    PROTOCOL_VERSION,
    ErrorFrame,
    Hello,
    HelloAck,
    decode_frame,
    encode_frame,
)

if TYPE_CHECKING:
    from conftest import StartDaemon  # tests/edge/conftest.py

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)


async def test_a_peer_that_sends_no_hello_is_refused(start_daemon: StartDaemon) -> None:
    async with (
        start_daemon("edge-a", peer_hello_timeout_s=0.3) as daemon,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
        http.ws_connect(daemon.url + "/peer/stream", headers=AUTH) as ws,
    ):
        with anyio.fail_after(10):
            refusal = decode_frame(await ws.receive_bytes())
            assert isinstance(refusal, ErrorFrame)
            assert refusal.code == "hello_timeout"
            assert (await ws.receive()).type in CLOSED


async def test_a_silent_peer_is_closed_by_the_heartbeat(start_daemon: StartDaemon) -> None:
    async with (
        start_daemon("edge-a", peer_heartbeat_s=0.3) as daemon,
        AdminClient(daemon.url, TOKEN) as admin,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
    ):
        await admin.create_workload("app", status="incoming")
        async with http.ws_connect(daemon.url + "/peer/stream", headers=AUTH, autoping=False) as ws:
            hello = Hello(
                protocol=PROTOCOL_VERSION, migration_id="m", workload="app", transfer_id="t"
            )
            await ws.send_bytes(encode_frame(hello))
            assert isinstance(decode_frame(await ws.receive_bytes()), HelloAck)
            pings = 0
            with anyio.fail_after(10):  # a peer that answers no ping is closed
                while (msg := await ws.receive()).type not in CLOSED:
                    assert msg.type is aiohttp.WSMsgType.PING
                    pings += 1
            assert pings >= 1
