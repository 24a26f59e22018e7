"""Streams on one link share its memory of recent zstd outcomes (issue 12).

A real source store streams to a real aiohttp peer on loopback; the peer's WebSocket
records every chunk frame it receives (codec and size) before the receiver applies it,
so the test sees what was on the wire, not what the sender says it sent.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import pytest
from aiohttp import WSMsgType, web
from transfer_peer import PeerEdge, make_spec, serving

from edge_actors.store import StoreRegistry
from edge_actors.transfer import TokenBucket, peer_ws_max_msg_size, run_transfer, serve_peer_stream
from edge_actors.wire import Chunk, ChunkCodec, CompressionStats, decode_frame

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import aiohttp

    from edge_actors.store import WorkloadStore
    from edge_actors.transfer import TransferProgress

pytestmark = pytest.mark.anyio

_DEFAULT = ChunkCodec()
SKIP_AFTER, RESAMPLE_EVERY = _DEFAULT.skip_after, _DEFAULT.resample_every
_RECORDS, _BATCH, _VALUE_BYTES = 600, 50, 2000  # 15 chunks of up to ~100 KB (a worker thread)


class _RecordingSocket(web.WebSocketResponse):
    """A server WebSocket that records every chunk frame it receives, as received."""

    def __init__(self, received: list[tuple[Chunk, int]], **kwargs: int) -> None:
        super().__init__(**kwargs)
        self.received = received

    async def receive(self, timeout: float | None = None) -> aiohttp.WSMessage:
        msg = await super().receive(timeout)
        if msg.type is WSMsgType.BINARY:
            frame = decode_frame(msg.data)
            if isinstance(frame, Chunk):
                self.received.append((frame, len(msg.data)))
        return msg


class _RecordingPeer:
    """The test's target edge: a :class:`PeerEdge` whose sockets record their chunks."""

    def __init__(self, edge: PeerEdge) -> None:
        self.edge = edge
        self.received: list[tuple[Chunk, int]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = _RecordingSocket(self.received, max_msg_size=peer_ws_max_msg_size(self.edge.limits))
        await ws.prepare(request)
        await serve_peer_stream(ws, resolve_store=self.edge.resolve, limits=self.edge.limits)
        if not ws.closed:
            await ws.close()
        return ws

    def chunks(self, workload: str) -> list[tuple[Chunk, int]]:
        return [(c, n) for c, n in self.received if c.workload == workload]


@pytest.fixture
async def recording_peer(tmp_path: Path) -> AsyncIterator[_RecordingPeer]:
    registry = await StoreRegistry.open(tmp_path / "target")
    peer = _RecordingPeer(PeerEdge(registry))
    try:
        async with serving(peer.handle) as peer.edge.url:
            yield peer
    finally:
        await registry.close()


async def _seed(source: StoreRegistry, workload: str, *, noise: bool, seed: int) -> WorkloadStore:
    """``_RECORDS`` records of random (``noise``) or repetitive text values."""
    store = await source.create(workload)
    rng = random.Random(seed)
    text = b"status=active;plan=basic;" * (_VALUE_BYTES // 25 + 1)
    ops: list[tuple[str, bytes | None]] = [
        (f"k{i:06d}", rng.randbytes(_VALUE_BYTES) if noise else text[:_VALUE_BYTES])
        for i in range(_RECORDS)
    ]
    await store.write_batch(ops)
    return store


async def _ship(
    peer: _RecordingPeer, store: WorkloadStore, link: TokenBucket, workload: str
) -> tuple[TransferProgress, list[str], CompressionStats, CompressionStats]:
    """Transfer ``workload`` over ``link``: progress, chunk codecs, link stats before/after."""
    before = link.compression.stats()
    spec = make_spec(peer.edge, workload, transfer_id=f"t-{workload}", batch_size=_BATCH)
    result = await run_transfer(spec, store, limiter=link)
    after = link.compression.stats()
    received = peer.chunks(workload)
    assert [c.seq for c, _ in received] == list(range(1, result.chunks + 1))  # none re-sent
    assert result.sent_wire_bytes == result.wire_bytes == sum(n for _, n in received)
    assert (await peer.edge.registry.get(workload).stats()).digest == (await store.stats()).digest
    return result, [c.codec for c, _ in received], before, after


async def test_a_new_stream_on_a_link_that_did_not_compress_sends_raw_from_its_first_chunk(
    source: StoreRegistry, recording_peer: _RecordingPeer
) -> None:
    assert SKIP_AFTER is not None
    link = TokenBucket(None)
    stores = {
        name: await _seed(source, name, noise=name.startswith("noise"), seed=seed)
        for seed, name in enumerate(["noise-1", "noise-2", "text-1", "text-2"])
    }

    first, codecs, _, after = await _ship(recording_peer, stores["noise-1"], link, "noise-1")
    assert codecs == ["raw"] * first.chunks
    assert after.tried == SKIP_AFTER  # learned on its own, as a lone stream does
    assert after.skipped == first.chunks - SKIP_AFTER < RESAMPLE_EVERY

    second, codecs, before, after = await _ship(recording_peer, stores["noise-2"], link, "noise-2")
    assert codecs == ["raw"] * second.chunks
    assert second.chunks + before.skipped < RESAMPLE_EVERY  # so no resample falls in it
    assert after.tried == before.tried  # zstd not tried once: raw from its first chunk
    assert after.skipped == before.skipped + second.chunks

    text, codecs, before, after = await _ship(recording_peer, stores["text-1"], link, "text-1")
    switched = codecs.index("zstd")  # the link's next resample: compression is back on
    assert switched == RESAMPLE_EVERY - 1 - before.skipped
    assert codecs == ["raw"] * switched + ["zstd"] * (text.chunks - switched)
    assert after.tried == before.tried + text.chunks - switched
    assert after.poor_streak == 0
    assert text.wire_bytes * 2 < text.raw_bytes

    last, codecs, before, after = await _ship(recording_peer, stores["text-2"], link, "text-2")
    assert codecs == ["zstd"] * last.chunks  # compressed from its first chunk
    assert after.tried == before.tried + last.chunks
    assert after.skipped == before.skipped


async def test_without_a_shared_link_each_transfer_learns_on_its_own(
    source: StoreRegistry, recording_peer: _RecordingPeer
) -> None:
    assert SKIP_AFTER is not None
    for seed, name in enumerate(["noise-1", "noise-2"]):
        store = await _seed(source, name, noise=True, seed=seed)
        link = TokenBucket(None)  # a link of its own, as run_transfer makes without one
        result, codecs, _, after = await _ship(recording_peer, store, link, name)
        assert codecs == ["raw"] * result.chunks
        assert (after.tried, after.skipped) == (SKIP_AFTER, result.chunks - SKIP_AFTER)
