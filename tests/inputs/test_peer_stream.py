"""Bad input on the peer stream: a plain request, text frames, frames out of protocol
order. Each gets a clear refusal (an HTTP error or an ``ErrorFrame`` naming the cause)
and the target's store is left exactly as it was."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from edge_actors.wire import PROTOCOL_VERSION, Ack, ErrorFrame, Hello, decode_frame, encode_frame

from .conftest import AUTH, WORKLOAD, answer, assert_error, snapshot

if TYPE_CHECKING:
    import aiohttp

    from edge_actors.edge import EdgeDaemon

pytestmark = pytest.mark.anyio


async def test_plain_get_is_refused_naming_the_upgrade(
    daemon: EdgeDaemon, http: aiohttp.ClientSession
) -> None:
    before = await snapshot(daemon)
    result = await answer(http, "GET", f"{daemon.url}/peer/stream", headers=AUTH)
    assert_error(result, 400, "invalid_request", "WebSocket upgrade")
    assert await snapshot(daemon) == before


async def _first_reply(ws: aiohttp.ClientWebSocketResponse) -> ErrorFrame:
    message = await ws.receive(timeout=10)
    frame = decode_frame(message.data)
    assert isinstance(frame, ErrorFrame), frame
    return frame


async def test_text_frame_is_refused(daemon: EdgeDaemon, http: aiohttp.ClientSession) -> None:
    before = await snapshot(daemon)
    async with http.ws_connect(f"{daemon.url}/peer/stream", headers=AUTH) as ws:
        await ws.send_str("hello?")
        frame = await _first_reply(ws)
    assert frame.code == "malformed", frame
    assert frame.message
    assert await snapshot(daemon) == before


async def test_frame_before_hello_is_refused(
    daemon: EdgeDaemon, http: aiohttp.ClientSession
) -> None:
    before = await snapshot(daemon)
    async with http.ws_connect(f"{daemon.url}/peer/stream", headers=AUTH) as ws:
        await ws.send_bytes(encode_frame(Ack(seq=0, applied_lsn=0)))
        frame = await _first_reply(ws)
    assert frame.code == "malformed", frame
    assert "hello" in frame.message.lower(), frame
    assert await snapshot(daemon) == before


async def test_second_hello_is_refused(daemon: EdgeDaemon, http: aiohttp.ClientSession) -> None:
    before = await snapshot(daemon)
    hello = Hello(protocol=PROTOCOL_VERSION, migration_id="m-1", workload=WORKLOAD, transfer_id="t")
    async with http.ws_connect(f"{daemon.url}/peer/stream", headers=AUTH) as ws:
        await ws.send_bytes(encode_frame(hello))
        first = decode_frame((await ws.receive(timeout=10)).data)
        assert type(first).__name__ == "HelloAck", first
        await ws.send_bytes(encode_frame(hello))
        frame = await _first_reply(ws)
    assert frame.code == "malformed", frame
    assert await snapshot(daemon) == before
