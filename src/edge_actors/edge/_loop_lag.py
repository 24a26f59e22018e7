"""How late this daemon's event loop runs its timers during holds (edge layer).

A cutover's cuts (the final delta's, the activation's: :mod:`._hold_budget`) are timers on
the daemon's loop. When the loop is busy with other work (other cutovers, peer streams
applying, foreground writes, worker threads contending for the GIL), a timer's callback
runs only when the callback in progress, and those ready before it, are done: the cut
fires late and the hold ends past its deadline. :class:`LoopLag` measures that lateness
cheaply with one probe task that sleeps and records by how much each wake-up overshot
(the same delay a cut timer meets):

* **during holds** (urgent work registered on :class:`~._urgent.UrgentWork`: background
  copies are paused then, as they are when a cut fires) it probes every
  :data:`HOLD_PROBE_S`, keeping the last :data:`_KEEP_HOLD` samples;
* otherwise every :data:`PROBE_S`, keeping the last :data:`_KEEP_AMBIENT` (~4 s; the
  ``edge_loop_lag_seconds`` gauge is their maximum).

What a hold's plan keeps in reserve (:meth:`LoopLag.recent_s`) is a high quantile
(:data:`_QUANTILE`) of the samples taken during holds in the last :data:`_FRESH_S`; with
fewer than :data:`_MIN_HOLD_SAMPLES` of them, the same quantile of the samples outside
holds. Both choices were measured on this 2-core machine under other jobs' load (load
average 8-10): the maximum of the samples outside holds reserved 20-43 ms of a 50 ms
budget and undid nearly every cutover; the maximum of the last 64 samples during holds
locked itself in (a 53 ms spike was kept while every cutover was undone at once, too short
to be probed again: 119 undone attempts in one run). Samples therefore age out by time,
and one spike (the process descheduled, which no reserve can plan for) does not set the
reserve.

Measured on the loop's own clock (``time.perf_counter``), not the injectable clock: the
lateness is a fact of the real loop. Owned by the daemon's loop.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import TYPE_CHECKING, Final

import anyio

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ._urgent import UrgentWork

__all__ = ["HOLD_PROBE_S", "PROBE_S", "LoopLag"]

PROBE_S: Final = 0.25
"""Seconds between probes while no hold is active (4 wake-ups a second: at 20, an idle
daemon spent 0.14 CPU seconds in 30 s on them, measured on this machine)."""

HOLD_PROBE_S: Final = 0.01
"""Seconds between probes while a hold is active."""

_KEEP_HOLD: Final = 64  # samples taken during holds
_KEEP_AMBIENT: Final = 16  # samples taken outside holds (~4 s)
_QUANTILE: Final = 0.9  # of the samples: the reserve
_FRESH_S: Final = 2.0  # samples during holds older than this no longer count
_MIN_HOLD_SAMPLES: Final = 8  # fewer fresh ones: the samples outside holds count instead


class LoopLag:
    """The recent lateness of this loop's timers (a probe task feeds it).

    Args:
        urgent: The edge's urgent work: while some is registered, samples are taken
            every :data:`HOLD_PROBE_S` and count as taken during a hold.
    """

    def __init__(self, urgent: UrgentWork) -> None:
        self._urgent = urgent
        self._hold: deque[tuple[float, float]] = deque(maxlen=_KEEP_HOLD)  # (taken, late)
        self._ambient: deque[float] = deque(maxlen=_KEEP_AMBIENT)

    @property
    def samples(self) -> tuple[int, int]:
        """How many samples are kept: ``(during holds, outside holds)``."""
        return len(self._hold), len(self._ambient)

    def recent_s(self, now: float | None = None) -> float:
        """What a hold keeps in reserve for a late cut, in seconds (see the module doc).

        Args:
            now: ``time.perf_counter()`` (default: read it); samples during holds taken
                more than :data:`_FRESH_S` before it no longer count.
        """
        now = time.perf_counter() if now is None else now
        fresh = [late for taken, late in self._hold if now - taken <= _FRESH_S]
        if len(fresh) >= _MIN_HOLD_SAMPLES:
            return _quantile(fresh)
        return _quantile(self._ambient) if self._ambient else 0.0

    def ambient_s(self) -> float:
        """The largest lateness outside holds in the last ~4 s (the metrics' gauge)."""
        return max(self._ambient, default=0.0)

    def record(self, late_s: float, *, during_hold: bool, taken: float | None = None) -> None:
        """Add one measured lateness (negative values count as on time), ``taken`` at
        ``time.perf_counter()`` (default: now)."""
        late_s = max(0.0, late_s)
        if during_hold:
            self._hold.append((time.perf_counter() if taken is None else taken, late_s))
        else:
            self._ambient.append(late_s)

    async def run(self) -> None:
        """Probe forever (a task of the daemon's task group; cancelled at shutdown).

        Outside holds it also wakes as soon as urgent work begins, so the first
        milliseconds of a hold are probed at the hold's rate.
        """
        urgent = self._urgent
        while True:
            if urgent.active:
                due = time.perf_counter() + HOLD_PROBE_S
                await anyio.sleep(HOLD_PROBE_S)
                self.record(time.perf_counter() - due, during_hold=bool(urgent.active))
                continue
            due = time.perf_counter() + PROBE_S
            with anyio.move_on_after(PROBE_S) as timed:
                await urgent.begun()
            if timed.cancelled_caught:
                self.record(time.perf_counter() - due, during_hold=False)


def _quantile(samples: Iterable[float]) -> float:
    """The :data:`_QUANTILE` of ``samples`` (not empty)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(_QUANTILE * len(ordered)) - 1)]
