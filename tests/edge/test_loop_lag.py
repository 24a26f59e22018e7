"""LoopLag: how late the loop's timers run, as the hold's plan keeps it in reserve."""

from __future__ import annotations

import hashlib
import time

import anyio
import pytest
from waiting import until

from edge_actors.edge._loop_lag import PROBE_S, LoopLag

pytestmark = pytest.mark.anyio

BLOCK_S = PROBE_S + 0.04  # longer than a probe period: the probe is due while it runs


def _busy_for(seconds: float) -> int:
    """Keep the loop's thread busy hashing for ``seconds`` (real work, no sleep)."""
    digest, rounds = b"x", 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        digest = hashlib.sha256(digest).digest()
        rounds += 1
    return rounds


def test_the_reserve_is_the_largest_recent_lateness() -> None:
    lag = LoopLag()
    assert lag.recent_s() == 0.0
    for late in (0.001, 0.004, -0.002, 0.002):
        lag.record(late)
    assert lag.recent_s() == 0.004
    for _ in range(32):  # the window moves on: old spikes are forgotten
        lag.record(0.0005)
    assert lag.recent_s() == 0.0005
    assert lag.samples == 32


async def test_a_blocked_loop_is_measured_as_lag() -> None:
    lag = LoopLag()
    async with anyio.create_task_group() as tg:
        tg.start_soon(lag.run)
        await until(lambda: lag.samples > 0, "a first probe")
        assert _busy_for(BLOCK_S) > 0
        # The probe was due during the block: it woke at least BLOCK_S - PROBE_S late.
        await until(lambda: lag.recent_s() >= BLOCK_S - PROBE_S, "the probe saw the block")
        tg.cancel_scope.cancel()
