"""TokenBucket and LinkLimiters: rates, fairness, debt, cancellation, live rate changes."""

from __future__ import annotations

import time

import anyio
import anyio.lowlevel
import pytest

from edge_actors.errors import ConfigError
from edge_actors.transfer import LinkLimiters, TokenBucket


async def _pump(bucket: TokenBucket, chunk: int, seconds: float, counter: list[int]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await bucket.acquire(chunk)
        counter[0] += chunk


@pytest.mark.anyio
@pytest.mark.parametrize("mbps", [10, 100])
async def test_rate_is_accurate_over_a_second(mbps: int) -> None:
    bucket = TokenBucket(mbps * 1e6)
    chunk = 16 * 1024
    count = [0]
    start = time.monotonic()
    await _pump(bucket, chunk, 1.5, count)
    elapsed = time.monotonic() - start
    ratio = count[0] * 8 / elapsed / (mbps * 1e6)
    assert 0.9 <= ratio <= 1.1, ratio


@pytest.mark.anyio
async def test_request_larger_than_burst_goes_into_debt() -> None:
    bucket = TokenBucket(8e6, burst_bytes=1000)  # 1 MB/s
    await bucket.acquire(200_000)  # granted at once, 0.2 s of debt
    start = time.monotonic()
    await bucket.acquire(10)
    waited = time.monotonic() - start
    assert 0.15 <= waited <= 1.0, waited
    assert bucket.granted_bytes == 200_010


@pytest.mark.anyio
async def test_waiters_are_served_in_arrival_order() -> None:
    bucket = TokenBucket(8e6)  # 1 MB/s, burst 10 kB
    await bucket.acquire(50_000)
    order: list[int] = []

    async def take(i: int) -> None:
        await bucket.acquire(5_000)
        order.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(6):
            tg.start_soon(take, i)
            with anyio.fail_after(5):  # ``i`` waits in the bucket before ``i + 1`` comes
                while len(order) + bucket.waiting < i + 1:
                    await anyio.lowlevel.checkpoint()
    assert order == list(range(6))


@pytest.mark.anyio
async def test_cancelled_waiter_takes_no_tokens() -> None:
    bucket = TokenBucket(8e6)
    await bucket.acquire(100_000)  # 0.1 s of debt
    before = bucket.granted_bytes
    async with anyio.create_task_group() as tg:
        tg.start_soon(bucket.acquire, 1_000_000)
        with anyio.fail_after(5):  # it waits in the bucket: cancel it there
            while bucket.waiting < 1:
                await anyio.lowlevel.checkpoint()
        tg.cancel_scope.cancel()
    assert bucket.waiting == 0
    assert bucket.granted_bytes == before
    start = time.monotonic()
    await bucket.acquire(1)
    # Only the first debt is paid, not the cancelled megabyte (which would be a second).
    assert time.monotonic() - start < 0.5


@pytest.mark.anyio
async def test_set_rate_wakes_waiters_and_changes_the_rate() -> None:
    bucket = TokenBucket(80e3)  # 10 kB/s
    await bucket.acquire(50_000)  # 5 s of debt at this rate
    done = anyio.Event()

    async def waiter() -> None:
        await bucket.acquire(1)
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        with anyio.fail_after(5):
            while bucket.waiting < 1:
                await anyio.lowlevel.checkpoint()
        assert not done.is_set()  # it waits for the debt to be paid
        bucket.set_rate(None)
        with anyio.fail_after(2):
            await done.wait()
    bucket.set_rate(80e6)
    count = [0]
    start = time.monotonic()
    await _pump(bucket, 8192, 0.5, count)
    assert count[0] * 8 / (time.monotonic() - start) == pytest.approx(80e6, rel=0.2)
    assert bucket.rate_bps == 80e6


@pytest.mark.anyio
async def test_unlimited_bucket_never_waits() -> None:
    bucket = TokenBucket(None)
    with anyio.fail_after(1):
        for _ in range(1000):
            await bucket.acquire(1 << 30)
    assert bucket.rate_bps is None
    assert bucket.burst_bytes is None


def test_from_setting_parses_mbps_and_strings() -> None:
    assert TokenBucket.from_setting(50).rate_bps == 50e6
    assert TokenBucket.from_setting("50mbps").rate_bps == 50e6
    assert TokenBucket.from_setting("1gbps").rate_bps == 1e9
    assert TokenBucket.from_setting(None).rate_bps is None
    with pytest.raises(ConfigError, match="bandwidth_limit_mbps"):
        TokenBucket.from_setting("fast", field="bandwidth_limit_mbps")


def test_bad_parameters_name_the_field() -> None:
    with pytest.raises(ConfigError, match="rate_bps"):
        TokenBucket(-1.0)
    with pytest.raises(ConfigError, match="burst_bytes"):
        TokenBucket(1e6, burst_bytes=0)
    with pytest.raises(ConfigError, match="link"):
        LinkLimiters().get("")


def test_default_burst_is_ten_ms_of_the_rate() -> None:
    bucket = TokenBucket(100e6)
    assert bucket.burst_bytes == 125_000
    bucket.set_rate(10e6)
    assert bucket.burst_bytes == 12_500


@pytest.mark.anyio
async def test_one_link_is_shared_by_two_streams() -> None:
    limiters = LinkLimiters(40e6)
    assert limiters.get("edge-b") is limiters.get("edge-b")
    counts = [[0], [0]]
    start = time.monotonic()
    async with anyio.create_task_group() as tg:
        for c in counts:
            tg.start_soon(_pump, limiters.get("edge-b"), 8192, 1.0, c)
    rate = (counts[0][0] + counts[1][0]) * 8 / (time.monotonic() - start)
    assert 0.8 <= rate / 40e6 <= 1.2, rate
    # FIFO fairness: each stream got about half.
    assert 0.35 <= counts[0][0] / (counts[0][0] + counts[1][0]) <= 0.65
    limiters.set_rate("edge-b", None)
    assert limiters.links() == {"edge-b": None}
