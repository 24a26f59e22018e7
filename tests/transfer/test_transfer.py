"""End-to-end transfers between a real source store and a real aiohttp peer edge."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest
from structlog.testing import capture_logs
from transfer_peer import PeerEdge, fill, make_spec

from edge_actors.actors import Refusal
from edge_actors.transfer import (
    PeerRefused,
    TransferAborted,
    TransferError,
    TransferProgress,
    run_transfer,
)

if TYPE_CHECKING:
    from edge_actors.store import StoreRegistry


@pytest.mark.anyio
async def test_full_copy_then_delta_gives_equal_digests(
    source: StoreRegistry, peer: PeerEdge
) -> None:
    src = await source.create("app")
    await fill(src, 3000)
    seen: list[TransferProgress] = []
    result = await run_transfer(make_spec(peer, batch_size=250), src, on_progress=seen.append)
    dst = peer.registry.get("app")
    assert (await dst.stats()).digest == (await src.stats()).digest
    assert (await dst.stats()).records == 3000
    assert result.state == "done"
    assert result.acked_lsn == src.lsn == result.to_lsn
    assert result.records == 3000
    assert result.chunks == 15  # 31, 62 and 125 records first (the ramp), then pages of 250
    assert result.raw_bytes > 300_000
    assert seen[-1] == result

    # Delta: overwrite some, delete some, add some.
    first_lsn = src.lsn
    await src.write_batch([(f"k{i:06d}", b"new") for i in range(0, 3000, 7)])
    for i in range(1, 3000, 11):
        await src.delete(f"k{i:06d}")
    await fill(src, 200, prefix="z")
    delta = await run_transfer(
        make_spec(peer, transfer_id="t-2", from_lsn=first_lsn, batch_size=100), src
    )
    assert (await dst.stats()).digest == (await src.stats()).digest
    assert (await dst.stats()).records == (await src.stats()).records
    touched = {i for i in range(0, 3000, 7)} | {i for i in range(1, 3000, 11)}
    assert delta.records == len(touched) + 200  # each changed key once, at its latest
    assert delta.acked_lsn == src.lsn


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("records", "pages"),
    [
        (3000, [50, 100, 200] + [400] * 6 + [250]),  # a long range: small pages first
        (1500, [400, 400, 400, 300]),  # under four pages (a delta round): no ramp
    ],
)
async def test_a_long_range_starts_with_small_pages_then_ships_full_ones(
    source: StoreRegistry, peer: PeerEdge, records: int, pages: list[int]
) -> None:
    """The target starts applying after a small page, not a full one's scan and encode."""
    src = await source.create("app")
    await fill(src, records)

    await run_transfer(make_spec(peer, batch_size=400), src)

    assert peer.chunk_records == pages
    assert (await peer.registry.get("app").stats()).digest == (await src.stats()).digest


@pytest.mark.anyio
async def test_a_copy_into_an_empty_target_is_a_bulk_fill_that_done_ends(
    source: StoreRegistry, peer: PeerEdge
) -> None:
    src = await source.create("app")
    await fill(src, 3000)

    await run_transfer(make_spec(peer, batch_size=250), src)

    dst = peer.registry.get("app")
    assert dst._writer.bulk_fills == 1
    assert not dst._writer.in_bulk  # ended at Done, before its ack
    assert await dst.compute_stats() == await dst.stats()
    assert (await dst.stats()).digest == (await src.stats()).digest


@pytest.mark.anyio
async def test_compression_shrinks_the_wire(source: StoreRegistry, peer: PeerEdge) -> None:
    src = await source.create("app")
    await fill(src, 2000, value_bytes=1000)
    result = await run_transfer(make_spec(peer, compression=True), src)
    assert (await peer.registry.get("app").stats()).digest == (await src.stats()).digest
    assert result.wire_bytes * 5 < result.raw_bytes


@pytest.mark.anyio
async def test_dropped_connection_resumes_and_resends_at_most_a_window(
    source: StoreRegistry, peer: PeerEdge
) -> None:
    src = await source.create("app")
    await fill(src, 4000)
    peer.drop_after = 5
    window, batch = 4, 100
    result = await run_transfer(make_spec(peer, batch_size=batch, window=window), src)
    assert (await peer.registry.get("app").stats()).digest == (await src.stats()).digest
    assert result.retries == 1
    assert peer.streams == 2
    needed_chunks = 4000 // batch
    ramp = 3  # each stream starts with 3 small pages (together under one full page)
    assert needed_chunks <= result.sent_chunks <= needed_chunks + window + 2 * ramp
    assert 4000 <= result.sent_records <= 4000 + window * batch
    # The target applied at most one window twice (idempotently).
    assert peer.applied_records <= 4000 + window * batch


@pytest.mark.anyio
async def test_wrong_token_is_refused_by_name(source: StoreRegistry, peer: PeerEdge) -> None:
    src = await source.create("app")
    await fill(src, 10)
    seen: list[TransferProgress] = []
    with pytest.raises(PeerRefused, match="unauthorized") as info:
        await run_transfer(make_spec(peer, target_token="wrong"), src, on_progress=seen.append)
    assert info.value.code == "unauthorized"
    assert isinstance(info.value, TransferError)
    assert seen[-1].state == "failed"
    assert "app" not in peer.registry


@pytest.mark.anyio
async def test_unreachable_peer_aborts_after_retries(source: StoreRegistry, peer: PeerEdge) -> None:
    src = await source.create("app")
    await fill(src, 10)
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spec = make_spec(peer, target_url=f"http://127.0.0.1:{port}", max_retries=2)
    with pytest.raises(TransferAborted, match="after 3 attempts") as info:
        await run_transfer(spec, src)
    assert info.value.attempts == 3
    assert info.value.code == "transfer_aborted"


@pytest.mark.anyio
async def test_a_failed_transfer_is_refused_not_a_crash(
    source: StoreRegistry, peer: PeerEdge
) -> None:
    """The sender actor raises the failure to its asker as a ``Refusal``: it neither
    crashes nor is killed, so the only error channel is the raised ``TransferError``."""
    src = await source.create("app")
    await fill(src, 10)
    with capture_logs() as logs, pytest.raises(PeerRefused) as info:
        await run_transfer(make_spec(peer, target_token="wrong"), src)
    assert isinstance(info.value, Refusal)
    assert [e for e in logs if e["event"] == "actor.crashed"] == []


@pytest.mark.anyio
async def test_empty_range_sends_only_done(source: StoreRegistry, peer: PeerEdge) -> None:
    src = await source.create("app")
    result = await run_transfer(make_spec(peer), src)
    assert result.state == "done"
    assert (result.records, result.chunks, result.acked_lsn) == (0, 0, 0)
    assert (await peer.registry.get("app").stats()).lsn == 0
    # A target already past to_lsn: nothing is re-sent.
    await fill(src, 100)
    await run_transfer(make_spec(peer, transfer_id="t-2"), src)
    again = await run_transfer(make_spec(peer, transfer_id="t-3", to_lsn=50), src)
    assert again.records == 0
    assert again.acked_lsn == 50


@pytest.mark.anyio
async def test_a_range_the_target_applied_earlier_is_counted_not_resent(
    source: StoreRegistry, peer: PeerEdge
) -> None:
    """Chunks an earlier stream delivered (their acks lost to a pause or a crash) are
    skipped and reported as ``applied_*``, page by page as they would have been sent."""
    src = await source.create("app")
    await fill(src, 300)
    first = await run_transfer(make_spec(peer, batch_size=50), src)
    assert first.records == 300
    again = await run_transfer(make_spec(peer, transfer_id="t-2", batch_size=50), src)
    assert (again.records, again.chunks, again.acked_lsn) == (0, 0, 300)
    assert (again.applied_records, again.applied_raw_bytes) == (300, first.raw_bytes)


@pytest.mark.anyio
async def test_a_record_too_big_for_a_frame_fails_by_name(
    source: StoreRegistry, peer: PeerEdge
) -> None:
    src = await source.create("app")
    await src.put("huge", b"\x01" * (16 * 1024 * 1024))  # above max_frame_bytes once framed
    with pytest.raises(TransferError, match="FrameTooLarge"):  # as chunks, not a snapshot
        await run_transfer(make_spec(peer, compression=False, snapshot=False), src)
