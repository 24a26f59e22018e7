"""While a hold or an activation runs, and only then, the cyclic garbage collector is off
and the GIL's switch interval is short (``edge_actors._urgent_process``).

The effect on holds is measured by ``benchmarks/wide_plan.py`` (``docs/benchmarks.md``);
these tests check the process-wide state the blocks leave behind.
"""

from __future__ import annotations

import gc
import sys
import threading
import weakref
from contextlib import ExitStack
from typing import TYPE_CHECKING

import pytest

from edge_actors._urgent_process import (
    MAX_PAUSE_S,
    URGENT_SWITCH_INTERVAL_S,
    freeze_startup_objects,
    urgent_process,
)
from edge_actors.clock import ManualClock
from edge_actors.edge._metrics import DaemonMetrics
from edge_actors.edge._urgent import UrgentWork

if TYPE_CHECKING:
    from collections.abc import Iterator


class _Cycle:
    """An object that refers to itself: only the cyclic collector can free it."""

    def __init__(self) -> None:
        self.me = self


def _garbage_cycle() -> weakref.ref[_Cycle]:
    """A cycle nothing refers to any more; its weak reference dies once it is collected."""
    return weakref.ref(_Cycle())


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    """Each test starts with the collector on and leaves it as it found it."""
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_the_collector_is_off_inside_the_block_and_on_after() -> None:
    clock = ManualClock()
    with urgent_process(clock):
        assert not gc.isenabled()
        cycle = _garbage_cycle()
        for _ in range(5 * gc.get_threshold()[0]):  # allocations that would trigger it
            _Cycle()
        assert cycle() is not None, "no automatic collection ran inside the block"
    assert gc.isenabled()
    gc.collect()
    assert cycle() is None


def test_overlapping_blocks_keep_it_off_until_the_last_ends_in_any_order() -> None:
    clock = ManualClock()
    first, second = ExitStack(), ExitStack()
    first.enter_context(urgent_process(clock))
    second.enter_context(urgent_process(clock))
    first.close()  # not the innermost: ends first all the same
    assert not gc.isenabled()
    second.close()
    assert gc.isenabled()


def test_a_collector_the_application_turned_off_stays_off() -> None:
    gc.disable()
    with urgent_process(ManualClock()):
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_a_pause_kept_up_past_its_bound_runs_a_young_collection_when_the_next_begins() -> None:
    clock = ManualClock()
    with urgent_process(clock):
        early = _garbage_cycle()
        clock.advance(MAX_PAUSE_S / 2)
        with urgent_process(clock):  # within the bound: nothing collected
            assert early() is not None
        clock.advance(MAX_PAUSE_S)
        with urgent_process(clock):  # past it: the young generations are collected
            assert early() is None
            assert not gc.isenabled()
        late = _garbage_cycle()
        with urgent_process(clock):  # the bound counts again from that collection
            assert late() is not None
    assert gc.isenabled()


def test_blocks_on_two_threads_share_one_pause() -> None:
    clock = ManualClock()
    inside = threading.Event()
    leave = threading.Event()

    def other_edge() -> None:
        with urgent_process(clock):
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=other_edge)
    thread.start()
    try:
        assert inside.wait(10)
        with urgent_process(clock):
            assert not gc.isenabled()
        assert not gc.isenabled(), "the other thread's block still runs"
    finally:
        leave.set()
        thread.join(10)
    assert gc.isenabled()


def test_urgent_work_pauses_the_collector_until_it_ends() -> None:
    clock = ManualClock()
    urgent = UrgentWork("e", DaemonMetrics("e"), clock)
    with urgent.running(clock.monotonic() + 1.0) as end:
        with urgent.running(clock.monotonic() + 1.0):
            assert not gc.isenabled()
        assert not gc.isenabled()
        end()  # ended early, as a cutover's hold is at its release
        assert gc.isenabled()
        end()  # idempotent
        assert gc.isenabled()
    assert gc.isenabled()


def test_startup_objects_are_frozen_out_of_later_collections() -> None:
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > 1000
        assert gc.get_count()[2] == 0
    finally:
        gc.unfreeze()


_DEFAULT = 0.005  # CPython's default switch interval


@pytest.fixture(autouse=True)
def _default_interval() -> Iterator[None]:
    """Each test starts at CPython's default interval and leaves the one it found."""
    was = sys.getswitchinterval()
    sys.setswitchinterval(_DEFAULT)
    yield
    sys.setswitchinterval(was)


def _close(interval: float) -> bool:
    return abs(sys.getswitchinterval() - interval) < 1e-6


def test_the_switch_interval_is_short_inside_the_block_and_back_after() -> None:
    with urgent_process():
        assert _close(URGENT_SWITCH_INTERVAL_S)
    assert _close(_DEFAULT)


def test_overlapping_blocks_keep_the_interval_short_until_the_last_ends() -> None:
    first, second = ExitStack(), ExitStack()
    first.enter_context(urgent_process())
    second.enter_context(urgent_process())
    first.close()
    assert _close(URGENT_SWITCH_INTERVAL_S)
    second.close()
    assert _close(_DEFAULT)


def test_an_interval_the_application_set_lower_is_left_alone() -> None:
    sys.setswitchinterval(0.0001)
    with urgent_process():
        assert _close(0.0001)
    assert _close(0.0001)


def test_an_interval_the_application_changed_meanwhile_is_not_overwritten() -> None:
    with urgent_process():
        sys.setswitchinterval(0.002)
    assert _close(0.002)


def test_urgent_work_shortens_the_interval_until_it_ends() -> None:
    urgent = UrgentWork("edge-a", DaemonMetrics("edge-a"), ManualClock())
    with urgent.running(until=10.0) as end:
        assert _close(URGENT_SWITCH_INTERVAL_S)
        end()  # ended early, as a cutover does before its answer
        assert _close(_DEFAULT)
    assert _close(_DEFAULT)
