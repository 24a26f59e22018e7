"""UrgentWork: background copies wait while urgent work runs, and never past its bound;
their worker threads too, at pause points inside a chunk."""

from __future__ import annotations

import threading

import anyio
import pytest
from waiting import until

from edge_actors.clock import ManualClock
from edge_actors.edge import _urgent
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


# -- pause points: a background apply's worker thread gives way inside its chunk ---------


async def test_a_pause_point_returns_at_once_when_nothing_is_urgent() -> None:
    urgent, metrics, _ = _gate()
    give_way = urgent.pause_point()
    with anyio.fail_after(5):
        await anyio.to_thread.run_sync(give_way)
    assert _paused(metrics) == (0.0, 0.0)


def _gate_with_budget(
    monkeypatch: pytest.MonkeyPatch, budget_s: float
) -> tuple[UrgentWork, DaemonMetrics, ManualClock]:
    """:func:`_gate`, with pause points that may block ``budget_s`` per chunk in all."""
    monkeypatch.setattr(_urgent, "GIVE_WAY_MAX_S", budget_s)
    return _gate()


async def test_a_pause_point_blocks_its_thread_until_the_urgent_work_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    urgent, metrics, clock = _gate_with_budget(monkeypatch, 30.0)  # only the end releases it
    give_way = urgent.pause_point()
    passed = anyio.Event()

    async def apply() -> None:
        await anyio.to_thread.run_sync(give_way)
        passed.set()

    with anyio.fail_after(10), urgent.running(clock.monotonic() + 10.0) as end:
        async with anyio.create_task_group() as tg:
            tg.start_soon(apply)
            await until(lambda: _paused(metrics)[0] == 1, "the thread blocks")
            clock.advance(0.25)
            await anyio.wait_all_tasks_blocked()
            assert not passed.is_set()
            end()
        assert passed.is_set()
    assert _paused(metrics) == (1.0, 0.25)


async def test_the_pause_points_of_one_chunk_block_at_most_their_budget_in_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Urgent work that never ends within the chunk (it may even wait for this chunk's
    # store): the first call spends the chunk's budget, the later ones do not block.
    urgent, metrics, clock = _gate_with_budget(monkeypatch, 0.05)
    with anyio.fail_after(10), urgent.running(clock.monotonic() + 10.0):
        give_way = urgent.pause_point()
        for _ in range(3):
            await anyio.to_thread.run_sync(give_way)
        assert _paused(metrics)[0] == 1.0
        # The next chunk has a budget of its own.
        await anyio.to_thread.run_sync(urgent.pause_point())
        assert _paused(metrics)[0] == 2.0


async def test_a_pause_point_does_not_block_past_the_urgent_work_s_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    urgent, metrics, clock = _gate_with_budget(monkeypatch, 30.0)
    with anyio.fail_after(10), urgent.running(clock.monotonic() + 1.0):
        clock.advance(1.0)  # the work outlived its bound: copies no longer wait for it
        await anyio.to_thread.run_sync(urgent.pause_point())
        assert urgent.active == 1
    assert _paused(metrics) == (0.0, 0.0)


# -- durable steps and expected activations: a target keeps its flushes out of the way ----


def _step_in_thread(urgent: UrgentWork, inside: threading.Event, leave: threading.Event) -> None:
    """A worker thread's durable step that lasts until ``leave`` is set."""
    with urgent.durable_step():
        inside.set()
        leave.wait(30)


async def test_a_durable_step_waits_while_an_activation_is_expected() -> None:
    urgent, metrics, clock = _gate()
    inside, leave = threading.Event(), threading.Event()
    leave.set()
    urgent.expect("orders", clock.monotonic() + 10.0)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, _step_in_thread, urgent, inside, leave)
            await until(lambda: _paused(metrics)[0] == 1, "the step waits")
            clock.advance(0.25)
            await anyio.wait_all_tasks_blocked()
            assert not inside.is_set()
            urgent.expected_done("orders")
        assert inside.is_set()
    assert _paused(metrics) == (1.0, 0.25)
    assert urgent.durable_steps == 0


async def test_an_expected_activation_pauses_a_background_apply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    urgent, metrics, clock = _gate_with_budget(monkeypatch, 30.0)
    passed = anyio.Event()

    async def apply() -> None:
        await anyio.to_thread.run_sync(urgent.pause_point())
        passed.set()

    urgent.expect("orders", clock.monotonic() + 10.0)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(apply)
            await until(lambda: _paused(metrics)[0] == 1, "the apply waits")
            assert not passed.is_set()
            urgent.expected_done("orders")
    assert passed.is_set()


async def test_an_expectation_past_its_bound_delays_nothing() -> None:
    urgent, metrics, clock = _gate()
    urgent.expect("orders", clock.monotonic() + 1.0)
    clock.advance(1.0)  # the activation never came
    inside, leave = threading.Event(), threading.Event()
    leave.set()
    with anyio.fail_after(10):
        await anyio.to_thread.run_sync(_step_in_thread, urgent, inside, leave)
        await anyio.to_thread.run_sync(urgent.pause_point())
    assert inside.is_set()
    assert _paused(metrics) == (0.0, 0.0)


async def test_settle_waits_for_the_durable_steps_in_flight() -> None:
    urgent, _, clock = _gate()
    inside, leave = threading.Event(), threading.Event()
    settled: list[int] = []
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, _step_in_thread, urgent, inside, leave)
            await until(inside.is_set, "the step runs")
            assert urgent.durable_steps == 1
            urgent.expect("orders", clock.monotonic() + 10.0)

            async def settle() -> None:
                settled.append(await urgent.settle(5.0))

            tg.start_soon(settle)
            await until(lambda: clock.sleepers == 1, "settle waits (bounded on the clock)")
            assert settled == []
            leave.set()
    assert settled == [0]
    assert urgent.durable_steps == 0


async def test_settle_answers_at_its_bound_with_the_steps_still_in_flight() -> None:
    urgent, _, clock = _gate()
    inside, leave = threading.Event(), threading.Event()
    settled: list[int] = []
    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(anyio.to_thread.run_sync, _step_in_thread, urgent, inside, leave)
                await until(inside.is_set, "the step runs")

                async def settle() -> None:
                    settled.append(await urgent.settle(0.5))

                tg.start_soon(settle)
                await until(lambda: clock.sleepers == 1, "settle waits")
                clock.advance(0.5)
                await until(lambda: settled == [1], "settle gives up with one step in flight")
                leave.set()
    finally:
        leave.set()
    assert await urgent.settle(0.5) == 0  # none in flight: at once


async def test_two_settles_both_end_when_the_step_ends() -> None:
    urgent, _, clock = _gate()
    inside, leave = threading.Event(), threading.Event()
    settled: list[int] = []

    async def settle() -> None:
        settled.append(await urgent.settle(5.0))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, _step_in_thread, urgent, inside, leave)
            await until(inside.is_set, "the step runs")
            tg.start_soon(settle)
            tg.start_soon(settle)
            await until(lambda: clock.sleepers == 2, "both settles wait")
            leave.set()
    assert settled == [0, 0]
