"""LoopLag: how late the loop's timers run during holds, as the hold's plan keeps it."""

from __future__ import annotations

import hashlib
import time

import anyio
import pytest
from waiting import until

from edge_actors.clock import ManualClock
from edge_actors.edge._loop_lag import HOLD_PROBE_S, PROBE_S, LoopLag
from edge_actors.edge._metrics import DaemonMetrics
from edge_actors.edge._urgent import UrgentWork

pytestmark = pytest.mark.anyio


def _busy_for(seconds: float) -> int:
    """Keep the loop's thread busy hashing for ``seconds`` (real work, no sleep)."""
    digest, rounds = b"x", 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        digest = hashlib.sha256(digest).digest()
        rounds += 1
    return rounds


def _lag() -> tuple[LoopLag, UrgentWork, ManualClock]:
    clock = ManualClock()
    urgent = UrgentWork("e", DaemonMetrics("e"), clock)
    return LoopLag(urgent), urgent, clock


def test_the_reserve_is_a_high_quantile_of_fresh_samples_during_holds() -> None:
    lag, _, _ = _lag()
    assert lag.recent_s() == 0.0
    for late in (0.001, 0.004, 0.003, 0.020):  # outside holds
        lag.record(late, during_hold=False)
    assert lag.recent_s(now=0.0) == 0.020  # no hold probed yet: their 90th percentile
    assert lag.ambient_s() == 0.020
    lateness = (0.001, 0.002, -0.002, 0.006, 0.001, 0.001, 0.001, 0.001, 0.001, 0.050)
    for late in lateness:  # ten samples during holds at t = 100 s
        lag.record(late, during_hold=True, taken=100.0)
    # Their 90th percentile: the lone 50 ms spike (the process descheduled) does not count.
    assert lag.recent_s(now=100.0) == 0.006
    # Two seconds on they age out: the samples outside holds count again, so a reserve
    # cannot lock itself in when cutovers are undone too fast to be probed.
    assert lag.recent_s(now=102.5) == 0.020
    assert lag.samples == (10, 4)


async def test_a_loop_blocked_during_a_hold_is_measured_as_the_holds_lag() -> None:
    lag, urgent, clock = _lag()
    async with anyio.create_task_group() as tg:
        tg.start_soon(lag.run)
        with urgent.running(clock.monotonic() + 10.0):
            await until(lambda: lag.samples[0] > 0, "a probe during the hold")
            block_s = HOLD_PROBE_S + 0.03  # the probe is due while the loop is blocked
            assert _busy_for(block_s) > 0
            await until(lambda: lag.recent_s() >= block_s - HOLD_PROBE_S, "the probe saw it")
        tg.cancel_scope.cancel()


async def test_outside_holds_the_probe_is_slow_and_wakes_when_a_hold_begins() -> None:
    lag, urgent, clock = _lag()
    async with anyio.create_task_group() as tg:
        tg.start_soon(lag.run)
        await anyio.wait_all_tasks_blocked()
        assert _busy_for(PROBE_S + 0.03) > 0  # the ambient probe is due meanwhile
        await until(lambda: lag.samples[1] > 0, "an ambient probe")
        assert lag.ambient_s() >= 0.03
        assert lag.samples[0] == 0
        with urgent.running(clock.monotonic() + 10.0):
            # Woken by the hold, it probes at the hold's rate from then on.
            await until(lambda: lag.samples[0] >= 2, "probes during the hold")
        tg.cancel_scope.cancel()
