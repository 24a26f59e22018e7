"""The process's cyclic garbage collector held off while a hold or an activation runs.

A collection of the oldest generation walks every tracked object with the GIL held, so
nothing else in the process runs meanwhile: in a daemon applying copies such collections
took 16-66 ms of wall time, every 1-2 s, which is most of a 50 ms hold's budget when one
lands inside a hold. While any :func:`collector_paused` block runs in the process, automatic
collection is off (reference counting still frees every acyclic object at once); it is
back on when the last block ends, and the pending collection then runs outside the hold.

A pause is bounded: if the collector has been kept off for longer than
``MAX_PAUSE_S`` by blocks that overlap without a gap, the next block to begin first runs
a collection of the young generations (short: it walks only objects allocated since),
so garbage cycles cannot pile up however busy the edge is. A collector that was already
off when the first block began (the embedding application's choice) is left off.

Process-wide state, guarded by a lock: edges in one process may run on several threads.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING

from edge_actors.clock import SYSTEM_CLOCK

if TYPE_CHECKING:
    from collections.abc import Iterator

    from edge_actors.clock import Clock

__all__ = ["MAX_PAUSE_S", "collector_paused", "freeze_startup_objects"]

MAX_PAUSE_S = 1.0
"""Longest the collector stays off without a young collection (seconds of the clock)."""

_lock = threading.Lock()
_holders = 0
_restore = False  # whether the last block's end turns collection back on
_off_since = 0.0


@contextmanager
def collector_paused(clock: Clock = SYSTEM_CLOCK) -> Iterator[None]:
    """Keep automatic garbage collection off for the ``with`` block (module doc).

    Args:
        clock: The clock the pause's bound is read on (the edge's).
    """
    global _holders, _restore, _off_since
    with _lock:
        now = clock.monotonic()
        if _holders == 0:
            _restore = gc.isenabled()
            gc.disable()
            _off_since = now
        elif _restore and now - _off_since > MAX_PAUSE_S:
            gc.collect(1)
            _off_since = now
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _restore:
                gc.enable()


def freeze_startup_objects() -> None:
    """Collect once, then move every object alive now out of the collector's reach.

    For a long-running process, called once it has started: modules, classes and the
    objects built at start-up live as long as the process, and every later full
    collection would walk them again (most of the ~50,000 objects a daemon tracks).
    """
    gc.collect()
    gc.freeze()
