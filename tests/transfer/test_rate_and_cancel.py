"""Transfers under a link limiter: shared rate, live rate change, cancellation and resume."""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING

import anyio
import pytest
from transfer_peer import PeerEdge, fill, make_spec

from edge_actors.transfer import LinkLimiters, TokenBucket, TransferProgress, run_transfer

if TYPE_CHECKING:
    from edge_actors.store import StoreRegistry


@pytest.mark.anyio
async def test_two_streams_on_one_link_share_its_rate(
    source: StoreRegistry, peer: PeerEdge
) -> None:
    rate = 16e6  # 2 MB/s for both streams together
    limiters = LinkLimiters()
    limiters.set_rate("edge-b", rate)
    a, b = await source.create("wa"), await source.create("wb")
    await fill(a, 3000, value_bytes=500)
    await fill(b, 3000, value_bytes=500)
    results: dict[str, TransferProgress] = {}

    async def one(store_name: str) -> None:
        spec = make_spec(
            peer, workload=store_name, transfer_id=store_name, batch_size=50, compression=False
        )
        store = source.get(store_name)
        results[store_name] = await run_transfer(spec, store, limiter=limiters.get("edge-b"))

    start = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(one, "wa")
        tg.start_soon(one, "wb")
    elapsed = time.monotonic() - start
    wire = sum(r.wire_bytes for r in results.values())
    assert 0.7 <= wire * 8 / elapsed / rate <= 1.3, (wire, elapsed)
    # Each stream alone would have finished in half the time: they really shared.
    for name in ("wa", "wb"):
        assert results[name].elapsed_s > 0.6 * elapsed
        assert (await peer.registry.get(name).stats()).digest == (
            await source.get(name).stats()
        ).digest


@pytest.mark.anyio
async def test_set_rate_while_running_changes_the_achieved_rate(
    source: StoreRegistry, peer: PeerEdge
) -> None:
    src = await source.create("app")
    await fill(src, 6000, value_bytes=500)
    bucket = TokenBucket(8e6)  # 1 MB/s
    seen: list[TransferProgress] = []
    spec = make_spec(peer, batch_size=50, compression=False)
    async with anyio.create_task_group() as tg:

        async def speed_up() -> None:
            await anyio.sleep(1.0)
            bucket.set_rate(32e6)

        tg.start_soon(speed_up)
        result = await run_transfer(spec, src, limiter=bucket, on_progress=seen.append)
    assert (await peer.registry.get("app").stats()).digest == (await src.stats()).digest

    def rate_between(t0: float, t1: float) -> float:
        p0 = min(seen, key=lambda p: abs(p.elapsed_s - t0))
        p1 = min(seen, key=lambda p: abs(p.elapsed_s - t1))
        return (p1.wire_bytes - p0.wire_bytes) * 8 / (p1.elapsed_s - p0.elapsed_s)

    slow = rate_between(0.2, 0.9)
    fast = rate_between(1.2, result.elapsed_s - 0.1)
    assert 0.7 <= slow / 8e6 <= 1.3, slow
    assert fast > 2.5 * slow, (slow, fast)
    # Progress came at least every ~100 ms.
    gaps = [b.elapsed_s - a.elapsed_s for a, b in itertools.pairwise(seen)]
    assert max(gaps) < 0.5


@pytest.mark.anyio
async def test_cancel_stops_within_a_chunk_and_resume_does_not_resend(
    source: StoreRegistry, peer: PeerEdge
) -> None:
    n, batch, window = 6000, 50, 4
    src = await source.create("app")
    await fill(src, n, value_bytes=500)
    bucket = TokenBucket(16e6)  # 2 MB/s: ~1.6 s for the whole workload
    seen: list[TransferProgress] = []
    spec = make_spec(peer, batch_size=batch, window=window, compression=False)
    with anyio.move_on_after(0.6):
        await run_transfer(spec, src, limiter=bucket, on_progress=seen.append)
    first = seen[-1]
    assert first.state == "cancelled"
    assert 0 < first.acked_lsn < src.lsn
    # The peer's stream ends: nothing more arrives after the cancel, beyond what was
    # in flight (one window).
    with anyio.fail_after(10):
        while peer.streams_ended < peer.streams:
            await anyio.sleep(0.005)
    assert peer.applied_records <= first.records + window * batch

    resumed = await run_transfer(
        make_spec(peer, transfer_id="t-2", from_lsn=first.acked_lsn, batch_size=batch),
        src,
        limiter=bucket,
    )
    assert (await peer.registry.get("app").stats()).digest == (await src.stats()).digest
    assert resumed.acked_lsn == src.lsn
    assert n <= first.sent_records + resumed.sent_records <= n + window * batch
