"""The receiver refuses bad input with the right ErrorFrame and leaves the store unchanged.

A raw aiohttp WebSocket client plays a misbehaving sender against the real peer edge.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import aiohttp
import msgspec
import pytest
import zstandard
from transfer_peer import TOKEN, PeerEdge

from edge_actors.wire import (
    DEFAULT_LIMITS,
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

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from edge_actors.store import StoreStats

CHANGES = [Change(lsn=i, key=f"k{i}", value=b"v" * 100) for i in range(1, 51)]


@asynccontextmanager
async def raw_stream(peer: PeerEdge) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            peer.url + "/peer/stream",
            headers={"Authorization": f"Bearer {TOKEN}"},
            max_msg_size=64 * 1024 * 1024,
        ) as ws,
    ):
        await ws.send_bytes(
            encode_frame(
                Hello(protocol=PROTOCOL_VERSION, migration_id="m", workload="app", transfer_id="t")
            )
        )
        ack = decode_frame(await ws.receive_bytes())
        assert isinstance(ack, HelloAck)
        yield ws


async def good_chunk(ws: aiohttp.ClientWebSocketResponse) -> None:
    chunk = ChunkCodec().encode_chunk(migration_id="m", workload="app", seq=1, changes=CHANGES)
    await ws.send_bytes(encode_frame(chunk))
    ack = decode_frame(await ws.receive_bytes())
    assert ack == Ack(seq=1, applied_lsn=50)


async def expect_error(ws: aiohttp.ClientWebSocketResponse, code: str) -> ErrorFrame:
    frame = decode_frame(await ws.receive_bytes())
    assert isinstance(frame, ErrorFrame), frame
    assert frame.code == code, frame
    msg = await ws.receive()
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    return frame


async def stats(peer: PeerEdge) -> StoreStats:
    return await peer.registry.get("app").stats()


@pytest.mark.anyio
async def test_bad_checksum_is_refused_and_not_applied(peer: PeerEdge) -> None:
    async with raw_stream(peer) as ws:
        await good_chunk(ws)
        before = await stats(peer)
        more = [Change(lsn=100 + i, key=f"x{i}", value=b"y" * 50) for i in range(10)]
        chunk = ChunkCodec().encode_chunk(migration_id="m", workload="app", seq=2, changes=more)
        bad = msgspec.structs.replace(chunk, checksum=(chunk.checksum + 1) % 2**32)
        await ws.send_bytes(encode_frame(bad))
        error = await expect_error(ws, "checksum")
        assert "checksum of the" in error.message
    assert await stats(peer) == before
    assert before.records == 50


@pytest.mark.anyio
async def test_oversize_frame_is_refused(peer: PeerEdge) -> None:
    async with raw_stream(peer) as ws:
        await good_chunk(ws)
        before = await stats(peer)
        await ws.send_bytes(b"\x00" * (DEFAULT_LIMITS.max_frame_bytes + 1))
        error = await expect_error(ws, "too_large")
        assert "max_frame_bytes" in error.message
    assert await stats(peer) == before


@pytest.mark.anyio
async def test_zstd_bomb_is_refused_before_expanding(peer: PeerEdge) -> None:
    async with raw_stream(peer) as ws:
        await good_chunk(ws)
        before = await stats(peer)
        # 256 MiB of zeros compress to ~8 KiB; the chunk claims 1000 raw bytes.
        cctx = zstandard.ZstdCompressor(level=1)
        bomb = cctx.compress(b"\x00" * (1 << 28))
        chunk = ChunkCodec().encode_chunk(migration_id="m", workload="app", seq=2, changes=CHANGES)
        bad = msgspec.structs.replace(chunk, codec="zstd", raw_len=1000, payload=bomb)
        await ws.send_bytes(encode_frame(bad))
        await expect_error(ws, "bomb")
    assert await stats(peer) == before


@pytest.mark.anyio
async def test_out_of_order_and_garbage_frames_are_refused(peer: PeerEdge) -> None:
    async with raw_stream(peer) as ws:
        chunk = ChunkCodec().encode_chunk(migration_id="m", workload="app", seq=5, changes=CHANGES)
        await ws.send_bytes(encode_frame(chunk))
        await expect_error(ws, "malformed")
    async with raw_stream(peer) as ws:
        await ws.send_bytes(b"\xc1 not msgpack")
        await expect_error(ws, "malformed")
    assert (await stats(peer)).records == 0


@pytest.mark.anyio
async def test_resolve_store_refusal_is_an_error_frame(peer: PeerEdge) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            peer.url + "/peer/stream", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as ws,
    ):
        hello = Hello(
            protocol=PROTOCOL_VERSION, migration_id="m", workload="refused-1", transfer_id="t"
        )
        await ws.send_bytes(encode_frame(hello))
        error = await expect_error(ws, "not_found")
        assert "refused-1" in error.message
