"""A whole copy into an empty target travels as the source store's snapshot file.

Real source stores, a real aiohttp peer edge with real target stores; the misbehaving
senders are raw WebSocket clients sending hand-made frames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest
from test_receiver import expect_error, good_chunk, raw_stream
from transfer_peer import PeerEdge, fill, make_spec

from edge_actors.store import snapshot_dir
from edge_actors.transfer import SNAPSHOT_MIN_BYTES, SNAPSHOT_PART_BYTES, run_transfer
from edge_actors.wire import (
    Ack,
    Done,
    SnapshotDone,
    SnapshotPart,
    chunk_checksum,
    decode_frame,
    encode_frame,
)

if TYPE_CHECKING:
    from pathlib import Path

    from edge_actors.store import SnapshotInfo, StoreRegistry, WorkloadStore

VALUE_BYTES = 1024
RECORDS = SNAPSHOT_MIN_BYTES // VALUE_BYTES + 1200  # over the threshold after the deletes


async def big_store(source: StoreRegistry, name: str = "app") -> WorkloadStore:
    store = await source.create(name)
    await fill(store, RECORDS, value_bytes=VALUE_BYTES)
    await store.write_batch([(f"k{i:06d}", b"overwritten") for i in range(0, RECORDS, 13)])
    for i in range(1, RECORDS, 17):
        await store.delete(f"k{i:06d}")
    return store


def leftovers(registry: StoreRegistry, name: str = "app") -> list[Path]:
    folder = snapshot_dir(registry.path_of(name))
    return sorted(folder.iterdir()) if folder.is_dir() else []


@pytest.mark.anyio
async def test_whole_copy_is_a_snapshot_and_the_delta_after_it_is_chunks(
    source: StoreRegistry, peer: PeerEdge
) -> None:
    src = await big_store(source)
    stats = await src.stats()
    result = await run_transfer(make_spec(peer), src)
    assert result.state == "done"
    assert result.snapshot
    assert result.acked_lsn == stats.lsn
    assert result.records == stats.records
    dst = peer.registry.get("app")
    assert await dst.stats() == stats
    assert await dst.get("k000002") == await src.get("k000002")
    assert await dst.get("k000001") is None  # deleted on the source before the copy
    # the source's export and the target's received file are gone
    assert leftovers(source) == []
    assert leftovers(peer.registry) == []
    # the file went in whole parts, each counted once, acked and on the wire
    assert result.raw_bytes > stats.bytes  # the file: records plus SQLite's pages
    assert result.chunks == -(-result.raw_bytes // SNAPSHOT_PART_BYTES)
    assert result.sent_chunks == result.chunks
    assert result.sent_wire_bytes == result.wire_bytes > result.raw_bytes

    await src.write_batch([(f"k{i:06d}", b"after") for i in range(0, 300)])
    delta = await run_transfer(make_spec(peer, transfer_id="t-2", from_lsn=stats.lsn), src)
    assert not delta.snapshot
    assert delta.records == 300
    assert await dst.stats() == await src.stats()
    assert await peer.registry.get("app").put("new", b"x") == src.lsn + 1  # writable


@pytest.mark.anyio
@pytest.mark.parametrize(
    "spec_fields",
    [{"rate_limit_bps": 10e9}, {"snapshot": False}],
    ids=["rate-limited link", "refused by the spec"],
)
async def test_chunks_when_the_link_is_limited_or_the_spec_says_so(
    source: StoreRegistry, peer: PeerEdge, spec_fields: dict[str, object]
) -> None:
    src = await big_store(source)
    result = await run_transfer(make_spec(peer, **spec_fields), src)
    assert not result.snapshot
    assert result.chunks > 1
    assert await peer.registry.get("app").stats() == await src.stats()


@pytest.mark.anyio
async def test_a_stream_cut_mid_snapshot_is_retried_whole_and_leaves_no_file(
    source: StoreRegistry, peer: PeerEdge
) -> None:
    src = await big_store(source)
    peer.drop_after = 2  # the first stream ends after two written parts
    result = await run_transfer(make_spec(peer), src)
    assert result.retries == 1
    assert result.snapshot
    assert await peer.registry.get("app").stats() == await src.stats()
    await streams_ended(peer)
    assert leftovers(peer.registry) == []
    assert leftovers(source) == []


async def exported(source: StoreRegistry, tmp_path: Path) -> tuple[bytes, SnapshotInfo]:
    """A real snapshot file of a small store named ``app`` (and what it holds)."""
    store = await source.create("app")
    await fill(store, 400)
    path = tmp_path / "exported.sqlite"
    info = await store.export_snapshot(path)
    return path.read_bytes(), info


def part(data: bytes, seq: int = 1, offset: int = 0, checksum: int | None = None) -> bytes:
    return encode_frame(
        SnapshotPart(
            migration_id="m",
            workload="app",
            seq=seq,
            offset=offset,
            checksum=chunk_checksum(data) if checksum is None else checksum,
            payload=data,
        )
    )


def done(info: SnapshotInfo, seq: int = 2, **changed: object) -> bytes:
    fields: dict[str, object] = {
        "seq": seq,
        "lsn": info.lsn,
        "records": info.records,
        "bytes": info.bytes,
        "digest": info.digest,
        "size": info.size,
    }
    fields.update(changed)
    return encode_frame(SnapshotDone(**fields))  # type: ignore[arg-type]


async def streams_ended(peer: PeerEdge) -> None:
    """Wait until the edge has ended every stream (it deletes a snapshot file that was not
    installed when its stream ends)."""
    with anyio.fail_after(60):
        while peer.streams_ended < peer.streams:
            await anyio.sleep(0.01)  # polling the edge's own count, not a time window


async def empty_and_clean(peer: PeerEdge) -> None:
    """The copy is still empty and no snapshot file is left once the stream has ended."""
    await streams_ended(peer)
    assert (await peer.registry.get("app").stats()).lsn == 0
    assert leftovers(peer.registry) == []


@pytest.mark.anyio
async def test_receiver_installs_a_hand_sent_snapshot(
    source: StoreRegistry, peer: PeerEdge, tmp_path: Path
) -> None:
    data, info = await exported(source, tmp_path)
    async with raw_stream(peer) as ws:
        await ws.send_bytes(part(data))
        assert decode_frame(await ws.receive_bytes()) == Ack(seq=1, applied_lsn=0)
        await ws.send_bytes(done(info))
        assert decode_frame(await ws.receive_bytes()) == Ack(seq=2, applied_lsn=info.lsn)
    assert (await peer.registry.get("app").stats()).digest == info.digest
    assert leftovers(peer.registry) == []


@pytest.mark.anyio
async def test_bad_part_checksum_is_refused_and_nothing_is_kept(
    source: StoreRegistry, peer: PeerEdge, tmp_path: Path
) -> None:
    data, _ = await exported(source, tmp_path)
    async with raw_stream(peer) as ws:
        await ws.send_bytes(part(data, checksum=chunk_checksum(data) ^ 1))
        await expect_error(ws, "checksum")
    await empty_and_clean(peer)


@pytest.mark.anyio
async def test_a_gap_between_parts_is_refused(
    source: StoreRegistry, peer: PeerEdge, tmp_path: Path
) -> None:
    data, _ = await exported(source, tmp_path)
    async with raw_stream(peer) as ws:
        await ws.send_bytes(part(data[:4096]))
        assert decode_frame(await ws.receive_bytes()) == Ack(seq=1, applied_lsn=0)
        await ws.send_bytes(part(data[8192:], seq=2, offset=8192))
        frame = await expect_error(ws, "malformed")
        assert "offset 8192, expected 4096" in frame.message
    await empty_and_clean(peer)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("changed", "named"),
    [({"digest": "0" * 64}, "digest"), ({"lsn": 1}, "lsn"), ({"size": 1}, "bytes arrived")],
)
async def test_a_snapshot_that_does_not_verify_is_refused(
    source: StoreRegistry,
    peer: PeerEdge,
    tmp_path: Path,
    changed: dict[str, object],
    named: str,
) -> None:
    data, info = await exported(source, tmp_path)
    async with raw_stream(peer) as ws:
        await ws.send_bytes(part(data))
        assert decode_frame(await ws.receive_bytes()) == Ack(seq=1, applied_lsn=0)
        await ws.send_bytes(done(info, **changed))
        frame = await expect_error(ws, "apply_failed")
        assert named in frame.message
    await empty_and_clean(peer)


@pytest.mark.anyio
async def test_a_snapshot_into_a_copy_with_data_is_refused(
    source: StoreRegistry, peer: PeerEdge, tmp_path: Path
) -> None:
    data, _ = await exported(source, tmp_path)
    target = await peer.registry.create("app")
    await target.put("mine", b"kept")
    async with raw_stream(peer) as ws:
        await ws.send_bytes(part(data))
        await expect_error(ws, "snapshot_refused")
    assert await target.get("mine") == (b"kept", 1)
    assert leftovers(peer.registry) == []


@pytest.mark.anyio
async def test_a_stream_carries_chunks_or_a_snapshot_never_both(
    source: StoreRegistry, peer: PeerEdge, tmp_path: Path
) -> None:
    data, info = await exported(source, tmp_path)
    async with raw_stream(peer) as ws:
        await good_chunk(ws)
        await ws.send_bytes(part(data, seq=2))
        frame = await expect_error(ws, "malformed")
        assert "in a stream of chunks" in frame.message
    await peer.registry.drop("app")
    await peer.registry.create("app")
    async with raw_stream(peer) as ws:
        await ws.send_bytes(part(data))
        assert decode_frame(await ws.receive_bytes()) == Ack(seq=1, applied_lsn=0)
        await ws.send_bytes(encode_frame(Done(seq=2, lsn=info.lsn)))
        frame = await expect_error(ws, "malformed")
        assert "Done ends a snapshot stream" in frame.message
    await empty_and_clean(peer)
