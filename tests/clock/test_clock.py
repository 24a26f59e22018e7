"""The injectable clock: the system clock reads real time; the manual clock moves on demand."""

from __future__ import annotations

import datetime as dt
import threading

import anyio
import pytest

from edge_actors.clock import SYSTEM_CLOCK, Clock, ManualClock

pytestmark = pytest.mark.anyio


def test_both_clocks_satisfy_the_protocol() -> None:
    assert isinstance(SYSTEM_CLOCK, Clock)
    assert isinstance(ManualClock(), Clock)


def test_manual_clock_starts_where_told_and_moves_only_on_advance() -> None:
    clock = ManualClock(dt.datetime(2026, 3, 1, 23, 59, tzinfo=dt.UTC), monotonic_start=5.0)
    assert clock.time() == dt.datetime(2026, 3, 1, 23, 59, tzinfo=dt.UTC).timestamp()
    assert clock.monotonic() == 5.0
    assert clock.monotonic() == 5.0
    clock.advance(120)
    assert clock.monotonic() == 125.0
    assert dt.datetime.fromtimestamp(clock.time(), dt.UTC) == dt.datetime(
        2026, 3, 2, 0, 1, tzinfo=dt.UTC
    )


def test_manual_clock_refuses_going_back_and_bad_steps() -> None:
    clock = ManualClock(1000.0)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.set_time(999.0)
    with pytest.raises(ValueError, match="finite number"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="finite number"):
        clock.advance(float("nan"))
    with pytest.raises(ValueError, match="aware datetime"):
        ManualClock(dt.datetime(2026, 1, 1))


async def test_sleep_wakes_exactly_when_its_deadline_passes() -> None:
    clock = ManualClock()
    woke: list[float] = []

    async def sleeper(seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(seconds)

    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper, 10.0)
        tg.start_soon(sleeper, 30.0)
        while clock.sleepers < 2:
            await anyio.lowlevel.checkpoint()
        assert clock.next_deadline() == clock.monotonic() + 10.0
        clock.advance(9.999)
        await anyio.wait_all_tasks_blocked()
        assert woke == []
        clock.advance(0.001)
        await anyio.wait_all_tasks_blocked()
        assert woke == [10.0]
        clock.advance(100)
    assert woke == [10.0, 30.0]
    assert clock.sleepers == 0


async def test_sleep_is_cancellable_and_leaves_no_sleeper() -> None:
    clock = ManualClock()
    with anyio.move_on_after(0.05):
        await clock.sleep(3600)
    assert clock.sleepers == 0


async def test_zero_sleep_returns_at_once() -> None:
    clock = ManualClock()
    await clock.sleep(0)
    await clock.sleep(-1)
    assert clock.sleepers == 0


async def test_advance_from_another_thread_wakes_the_loop() -> None:
    clock = ManualClock()
    async with anyio.create_task_group() as tg:
        tg.start_soon(clock.sleep, 5.0)
        while clock.sleepers < 1:
            await anyio.lowlevel.checkpoint()
        thread = threading.Thread(target=clock.advance, args=(5.0,))
        thread.start()
        thread.join()
    assert clock.sleepers == 0


async def test_system_clock_reads_real_time() -> None:
    before = SYSTEM_CLOCK.monotonic()
    await SYSTEM_CLOCK.sleep(0)
    assert SYSTEM_CLOCK.monotonic() >= before
    assert SYSTEM_CLOCK.time() > dt.datetime(2020, 1, 1, tzinfo=dt.UTC).timestamp()
