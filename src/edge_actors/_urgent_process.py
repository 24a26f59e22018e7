"""The process set up for urgent work while a hold or an activation runs.

While any :func:`urgent_process` block runs in the process, two settings that stall a
hold are changed, and both are back when the last block ends:

* **The cyclic garbage collector is off.** A collection of the oldest generation walks
  every tracked object with the GIL held, so nothing else in the process runs
  meanwhile: in a daemon applying copies such collections took 16-66 ms of wall time,
  every 1-2 s, which is most of a 50 ms hold's budget when one lands inside a hold.
  Reference counting still frees every acyclic object at once; the pending collection
  runs after the hold. The pause is bounded: if overlapping blocks kept the collector
  off for longer than :data:`MAX_PAUSE_S` without a gap, the next block to begin first
  runs a collection of the young generations (short: it walks only objects allocated
  since), so garbage cycles cannot pile up however busy the edge is. A collector that
  was already off when the first block began (the embedding application's choice) is
  left off.
* **The GIL is handed over sooner.** A thread that wants the GIL while another runs
  Python code waits for the switch interval (5 ms by default) before the holder is asked
  to let go, and every SQLite call in a worker thread gives the GIL up and takes it
  again. The threads applying copies run Python code most of the time, so each such
  hand-over in a cutover's path (the activation's writes, the event loop waking up for
  their answer) could cost up to 5 ms: in a wide plan's benchmark the activation's final
  delta of 3-5 changes took 24 ms at the 90th percentile and 55-60 ms at worst. The
  interval is :data:`URGENT_SWITCH_INTERVAL_S` meanwhile; copies still get their turns,
  at most that long apart. An interval the application set lower is left as it is, and
  one it changes while a block runs is not overwritten at the end.

Process-wide state, guarded by a lock: edges in one process may run on several threads.
"""

from __future__ import annotations

import gc
import sys
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING

from edge_actors.clock import SYSTEM_CLOCK

if TYPE_CHECKING:
    from collections.abc import Iterator

    from edge_actors.clock import Clock

__all__ = ["MAX_PAUSE_S", "URGENT_SWITCH_INTERVAL_S", "freeze_startup_objects", "urgent_process"]

MAX_PAUSE_S = 1.0
"""Longest the collector stays off without a young collection (seconds of the clock)."""

URGENT_SWITCH_INTERVAL_S = 0.0005
"""The GIL's switch interval while urgent work runs (seconds): a tenth of CPython's default."""

_lock = threading.Lock()
_holders = 0
_restore_collector = False  # whether the last block's end turns collection back on
_off_since = 0.0
_restore_interval: float | None = None  # the switch interval to put back, if changed here


@contextmanager
def urgent_process(clock: Clock = SYSTEM_CLOCK) -> Iterator[None]:
    """Keep the collector off and the GIL's switch interval short for the ``with`` block
    (module doc).

    Args:
        clock: The clock the collector pause's bound is read on (the edge's).
    """
    global _holders
    with _lock:
        if _holders == 0:
            _begin(clock.monotonic())
        else:
            _again(clock.monotonic())
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                _end()


def _begin(now: float) -> None:
    global _restore_collector, _off_since, _restore_interval
    _restore_collector = gc.isenabled()
    gc.disable()
    _off_since = now
    interval = sys.getswitchinterval()
    _restore_interval = interval if interval > URGENT_SWITCH_INTERVAL_S else None
    if _restore_interval is not None:
        sys.setswitchinterval(URGENT_SWITCH_INTERVAL_S)


def _again(now: float) -> None:
    global _off_since
    if _restore_collector and now - _off_since > MAX_PAUSE_S:
        gc.collect(1)
        _off_since = now


def _end() -> None:
    global _restore_interval
    if _restore_collector:
        gc.enable()
    # sys.setswitchinterval keeps the value rounded to whole microseconds
    if (
        _restore_interval is not None
        and abs(sys.getswitchinterval() - URGENT_SWITCH_INTERVAL_S) < 1e-6
    ):
        sys.setswitchinterval(_restore_interval)
    _restore_interval = None


def freeze_startup_objects() -> None:
    """Collect once, then move every object alive now out of the collector's reach.

    For a long-running process, called once it has started: modules, classes and the
    objects built at start-up live as long as the process, and every later full
    collection would walk them again (most of the ~50,000 objects a daemon tracks).
    """
    gc.collect()
    gc.freeze()
