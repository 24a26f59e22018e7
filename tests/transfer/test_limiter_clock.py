"""The token bucket refills by its clock: grants follow ManualClock.advance exactly."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from edge_actors.clock import ManualClock
from edge_actors.transfer import LinkLimiters, TokenBucket

pytestmark = pytest.mark.anyio


async def _until_sleeping(clock: ManualClock, sleepers: int = 1) -> None:
    with anyio.fail_after(5):
        while clock.sleepers < sleepers:
            await anyio.lowlevel.checkpoint()


async def _take(bucket: TokenBucket, nbytes: int, granted: anyio.Event) -> None:
    await bucket.acquire(nbytes)
    granted.set()


async def test_refill_follows_the_clock() -> None:
    clock = ManualClock()
    bucket = TokenBucket(8000, burst_bytes=1000, clock=clock)  # 1000 B/s, 1 s of burst
    assert bucket.try_acquire(1000)
    assert bucket.try_acquire(1000)  # a full bucket grants the burst plus one request
    assert not bucket.try_acquire(1000)  # empty: 1 s owed
    clock.advance(0.5)
    assert not bucket.try_acquire(1000)
    clock.advance(0.5)
    assert bucket.try_acquire(1000)
    assert bucket.granted_bytes == 3000


async def test_a_waiter_is_granted_when_the_clock_reaches_its_refill() -> None:
    clock = ManualClock()
    bucket = TokenBucket(8000, burst_bytes=1000, clock=clock)
    await bucket.acquire(3000)  # granted at once: 2 s of debt beyond the burst
    granted = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_take, bucket, 10, granted)
        await _until_sleeping(clock)
        assert clock.next_deadline() == pytest.approx(clock.monotonic() + 2.0)
        clock.advance(1.999)
        await anyio.lowlevel.checkpoint()
        assert not granted.is_set()
        assert clock.sleepers == 1
        clock.advance(0.001)
        with anyio.fail_after(5):
            await granted.wait()
    assert bucket.granted_bytes == 3010


async def test_set_rate_wakes_a_waiter_without_the_clock_moving() -> None:
    clock = ManualClock()
    bucket = TokenBucket(8000, burst_bytes=1000, clock=clock)
    await bucket.acquire(100_000)  # 99 s of debt
    granted = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_take, bucket, 1, granted)
        await _until_sleeping(clock)
        bucket.set_rate(None)
        with anyio.fail_after(5):
            await granted.wait()
    assert clock.sleepers == 0  # the refill sleep was cancelled, not left behind


async def test_link_limiters_build_buckets_on_their_clock() -> None:
    clock = ManualClock()
    links = LinkLimiters(8000, clock=clock)
    bucket = links.get("edge-east")
    while bucket.try_acquire(10):
        pass
    clock.advance(10 * 8 / 8000)  # one request's worth
    assert bucket.try_acquire(10)
    assert not bucket.try_acquire(10)


async def test_debt_is_paid_by_the_clock() -> None:
    clock = ManualClock()
    bucket = TokenBucket(8e6, burst_bytes=1000, clock=clock)  # 1 MB/s, 1 ms of burst
    await bucket.acquire(200_000)  # granted at once, 0.2 s of debt
    async with anyio.create_task_group() as tg:
        tg.start_soon(bucket.acquire, 10)
        await _until_sleeping(clock)
        # It waits out the debt less the burst: 0.2 s - 1 ms.
        assert clock.next_deadline() == pytest.approx(clock.monotonic() + 0.199)
        clock.advance(0.2)  # to the debt's end: past the deadline whatever its last float bit
    assert bucket.granted_bytes == 200_010


async def test_a_cancelled_waiter_adds_nothing_to_the_refill() -> None:
    clock = ManualClock()
    bucket = TokenBucket(8e6, burst_bytes=1000, clock=clock)
    await bucket.acquire(100_000)  # 0.1 s of debt
    before = bucket.granted_bytes
    async with anyio.create_task_group() as tg:
        tg.start_soon(bucket.acquire, 1_000_000)
        await _until_sleeping(clock)
        tg.cancel_scope.cancel()
    assert bucket.granted_bytes == before
    assert clock.sleepers == 0
    async with anyio.create_task_group() as tg:
        tg.start_soon(bucket.acquire, 1)
        await _until_sleeping(clock)
        # Only the first debt is owed, not the cancelled megabyte (a second more).
        assert clock.next_deadline() == pytest.approx(clock.monotonic() + 0.099)
        clock.advance(0.1)
    assert bucket.granted_bytes == before + 1
