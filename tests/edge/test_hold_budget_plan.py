"""The hold's time plan (``edge/_hold_budget.py``) on a manual clock: cut points, and a
plan that cannot get stuck refusing every cutover on old step times."""

from __future__ import annotations

import pytest

from edge_actors.clock import ManualClock
from edge_actors.edge._hold_budget import HoldBudget, StepTimes


def _budget(times: StepTimes, clock: ManualClock, deadline_s: float = 0.05) -> HoldBudget:
    return HoldBudget(clock, clock.monotonic(), deadline_s, times, round_trip_s=0.001)


def test_cut_points_leave_the_flip_and_the_planned_activation() -> None:
    clock = ManualClock()
    times = StepTimes()
    for ms in (0.5, 1, 2, 9):  # upper quartile: 2 ms
        times.record("flip", ms / 1000)
    for ms in (5, 6, 7, 30):  # upper quartile: 7 ms
        times.record("activate", ms / 1000)
    budget = _budget(times, clock)
    assert budget.reserve_s == pytest.approx(0.002)
    assert budget.activation_s == pytest.approx(0.007)
    assert budget.final_delta_left() == pytest.approx(0.050 - 0.007 - 0.002)
    clock.advance(0.025)
    assert budget.undo_s == pytest.approx(0.015)  # no undo call yet: its cap, 30 %
    assert budget.activation_left() == pytest.approx(0.025 - 0.002 - 0.015)
    assert budget.activation_fits()
    clock.advance(0.002)  # 23 ms left: 6 before the cut, 7 planned
    assert not budget.activation_fits()
    assert budget.held_ms() == pytest.approx(27.0)


def test_the_activation_cut_keeps_recent_undo_calls_in_reserve() -> None:
    """A cut activation is undone with a call to the target: cut early enough for it."""
    clock = ManualClock()
    times = StepTimes()
    times.record("flip", 0.002)
    times.record("activate", 0.007)
    for ms in (3, 4, 5, 40):  # upper quartile: 5 ms
        times.record("undo_call", ms / 1000)
    budget = _budget(times, clock)
    assert budget.undo_s == pytest.approx(0.005)
    assert budget.activation_left() == pytest.approx(0.050 - 0.002 - 0.005)
    assert budget.final_delta_left() == pytest.approx(0.050 - 0.007 - 0.002)
    assert "5.0 ms for an undo's call" in budget.describe()
    clock.advance(0.035)  # 15 ms left: 8 before the cut, 7 planned
    assert budget.activation_fits()
    clock.advance(0.002)
    assert not budget.activation_fits()


def test_an_undo_call_that_timed_out_cannot_lock_every_activation_out() -> None:
    """One undo call that ran to its timeout (the whole deadline) is capped in the plan:
    an activation that fits the rest still goes ahead."""
    clock = ManualClock()
    times = StepTimes()
    times.record("activate", 0.020)
    times.record("undo_call", 0.051)
    budget = _budget(times, clock)
    assert budget.undo_s == pytest.approx(0.3 * 0.050)
    assert budget.activation_fits()  # 35 ms before the cut, 20 planned


def test_the_loop_lag_is_kept_in_reserve_after_every_cut() -> None:
    clock = ManualClock()
    times = StepTimes()
    times.record("flip", 0.002)
    times.record("activate", 0.007)
    budget = HoldBudget(clock, clock.monotonic(), 0.05, times, round_trip_s=0.001, lag_s=0.010)
    assert budget.reserve_s == pytest.approx(0.012)
    assert budget.final_delta_left() == pytest.approx(0.050 - 0.007 - 0.012)
    assert budget.activation_left() == pytest.approx(0.050 - 0.012 - 0.015)
    assert "the loop's lag (10.0 ms)" in budget.describe()


def test_how_late_recent_cuts_ended_their_holds_is_kept_in_reserve_too() -> None:
    clock = ManualClock()
    times = StepTimes()
    times.record("cut_late", 0.003)
    budget = HoldBudget(clock, clock.monotonic(), 0.05, times, round_trip_s=0.001, lag_s=0.001)
    assert budget.reserve_s == pytest.approx(0.003)
    assert budget.final_delta_cut_ms is None


def test_the_lag_reserve_is_at_most_a_quarter_of_the_deadline() -> None:
    clock = ManualClock()
    budget = HoldBudget(clock, clock.monotonic(), 0.05, StepTimes(), round_trip_s=0.001, lag_s=0.07)
    assert budget.reserve_s == pytest.approx(0.0125)  # not 70 ms: that refuses every cutover
    assert budget.final_delta_left() > 0


def test_cold_plan_is_the_round_trip_and_three_durable_writes() -> None:
    times = StepTimes()
    times.record("state_write", 0.004)
    budget = _budget(times, ManualClock())
    assert budget.reserve_s == 0.0
    assert budget.activation_s == pytest.approx(0.001 + 3 * 0.004)


def test_no_deadline_cuts_nothing() -> None:
    budget = HoldBudget(ManualClock(), 1000.0, None, StepTimes(), round_trip_s=0.001)
    assert not budget.bounded
    assert budget.final_delta_left() == float("inf")


def test_after_forecast_refusals_a_cutover_probes_the_activation() -> None:
    # Step times from a slow spell forecast that no activation fits: the plan refuses up
    # to twice, then lets one attempt run to the activation's cut, so fresh times replace
    # the old ones instead of every later cutover being refused.
    clock = ManualClock()
    times = StepTimes()
    times.record("flip", 0.001)
    times.record("activate", 0.060)  # more than a 50 ms budget
    for _ in range(2):
        budget = _budget(times, clock)
        assert not budget.probing
        assert budget.final_delta_left() < 0
        times.refused_by_forecast()
    probe = _budget(times, clock)
    assert probe.probing
    # planned at a quarter of the budget, not at the slow spell's 60 ms: the probe runs
    assert probe.activation_s == pytest.approx(0.0125)
    assert probe.final_delta_left() == pytest.approx(0.050 - 0.0125 - 0.001)
    assert probe.activation_fits()
    times.record("activate", 0.010)  # the probe's activation measured: the count resets
    assert not _budget(times, clock).probing


def test_a_probe_plans_the_fastest_recent_activation_not_none() -> None:
    # Refused twice on the upper quartile (30 ms of a 50 ms budget, the final delta long):
    # the probe plans the fastest recent activation, so its final delta is cut in time
    # for one; planned at 0 ms it ran to the deadline and the activation it then started
    # was cut at once and undone past the budget.
    clock = ManualClock()
    times = StepTimes()
    times.record("flip", 0.001)
    for ms in (6, 30, 30, 30):
        times.record("activate", ms / 1000)
    times.refused_by_forecast()
    times.refused_by_forecast()
    probe = _budget(times, clock)
    assert probe.probing
    assert probe.activation_s == pytest.approx(0.006)
    clock.advance(0.045)  # the final delta still runs: 5 ms left
    assert probe.final_delta_left() < 0  # cut now, undone within the budget
    assert not probe.activation_fits()


def test_without_a_deadline_nothing_is_kept_for_an_undo() -> None:
    clock = ManualClock()
    budget = HoldBudget(clock, clock.monotonic(), None, StepTimes(), round_trip_s=0.001)
    assert budget.undo_s == 0.0
    assert budget.activation_left() == float("inf")
    assert budget.activation_fits()
