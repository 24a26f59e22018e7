"""UrgentWork: background copies wait while urgent work runs, and never past its bound."""

from __future__ import annotations

import anyio
import pytest
from waiting import until

from edge_actors.clock import ManualClock
from edge_actors.edge._metrics import DaemonMetrics
from edge_actors.edge._urgent import UrgentWork

pytestmark = pytest.mark.anyio


def _paused(metrics: DaemonMetrics) -> tuple[float, float]:
    """``(pauses, seconds paused)`` as the metrics say."""
    reg = metrics.registry
    pauses = reg.get_sample_value("edge_transfer_yield_pauses_total", {"edge": "e"})
    seconds = reg.get_sample_value("edge_transfer_yield_seconds_total", {"edge": "e"})
    return pauses or 0.0, seconds or 0.0


def _gate() -> tuple[UrgentWork, DaemonMetrics, ManualClock]:
    clock = ManualClock()
    metrics = DaemonMetrics("e")
    return UrgentWork("e", metrics, clock), metrics, clock


async def test_nothing_urgent_means_no_wait_and_no_pause() -> None:
    urgent, metrics, _ = _gate()
    with anyio.fail_after(5):
        await urgent.wait_turn()
    assert urgent.active == 0
    assert _paused(metrics) == (0.0, 0.0)


async def test_a_copy_waits_until_the_urgent_work_ends() -> None:
    urgent, metrics, clock = _gate()
    passed = anyio.Event()

    async def copy() -> None:
        await urgent.wait_turn()
        passed.set()

    with anyio.fail_after(5), urgent.running(clock.monotonic() + 10.0) as end:
        async with anyio.create_task_group() as tg:
            tg.start_soon(copy)
            await until(lambda: clock.sleepers == 1, "the copy waits (bounded on the clock)")
            assert urgent.active == 1
            assert not passed.is_set()
            clock.advance(0.25)  # the work takes a while: still waiting, within the bound
            assert not passed.is_set()
            end()
        assert passed.is_set()
    assert urgent.active == 0
    assert _paused(metrics) == (1.0, 0.25)


async def test_urgent_work_never_ended_stops_pausing_copies_at_its_bound() -> None:
    urgent, metrics, clock = _gate()
    with anyio.fail_after(5), urgent.running(clock.monotonic() + 2.0):
        async with anyio.create_task_group() as tg:
            tg.start_soon(urgent.wait_turn)
            await until(lambda: clock.sleepers == 1, "the copy waits")
            clock.advance(1.5)
            assert clock.sleepers == 1  # not yet
            clock.advance(0.5)  # the bound: the copy goes on while the work still runs
        assert urgent.active == 1
        # Past its bound, the work pauses no copy any more.
        await urgent.wait_turn()
        assert clock.sleepers == 0
    assert _paused(metrics) == (1.0, 2.0)


async def test_a_copy_waits_for_all_urgent_work_within_the_latest_bound() -> None:
    urgent, metrics, clock = _gate()
    passed = anyio.Event()

    async def copy() -> None:
        await urgent.wait_turn()
        passed.set()

    with (
        anyio.fail_after(5),
        urgent.running(clock.monotonic() + 1.0) as first,
        urgent.running(clock.monotonic() + 3.0) as second,
    ):
        async with anyio.create_task_group() as tg:
            tg.start_soon(copy)
            await until(lambda: clock.sleepers == 1, "the copy waits")
            first()
            await anyio.wait_all_tasks_blocked()
            assert not passed.is_set()  # the second still runs
            second()
        assert passed.is_set()
    assert _paused(metrics) == (1.0, 0.0)


async def test_cancelling_a_waiting_copy_counts_its_pause() -> None:
    urgent, metrics, clock = _gate()
    with anyio.fail_after(5), urgent.running(clock.monotonic() + 10.0):
        async with anyio.create_task_group() as tg:
            tg.start_soon(urgent.wait_turn)
            await until(lambda: clock.sleepers == 1, "the copy waits")
            clock.advance(0.5)
            tg.cancel_scope.cancel()
        assert clock.sleepers == 0
    assert _paused(metrics) == (1.0, 0.5)
