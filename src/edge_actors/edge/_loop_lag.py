"""How late this daemon's event loop runs its timers right now (edge layer).

A cutover's cuts (the final delta's, the activation's: :mod:`._hold_budget`) are timers on
the daemon's loop. When the loop is busy with other work (other transfers encoding and
sending, peer streams applying), a timer's callback runs only when the callback in
progress, and those ready before it, are done: the cut fires late and the hold ends past
its deadline. :class:`LoopLag` measures that lateness cheaply: one probe task sleeps
:data:`PROBE_S` at a time and records by how much each wake-up overshot (the same delay a
cut timer meets). :meth:`LoopLag.recent_s` is the largest of the last :data:`_KEEP`
samples (about 1.6 s): the hold's plan keeps that much in reserve, so a late cut still
ends the hold inside its deadline.

Measured on the loop's own clock (``time.perf_counter``), not the injectable clock: the
lateness is a fact of the real loop. Owned by the daemon's loop.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Final

import anyio

__all__ = ["PROBE_S", "LoopLag"]

PROBE_S: Final = 0.05
"""Seconds between probes (20 wake-ups a second: a few microseconds of CPU each)."""

_KEEP: Final = 32  # recent samples: the window the reserve is the maximum of


class LoopLag:
    """The recent lateness of this loop's timers (a probe task feeds it)."""

    def __init__(self) -> None:
        self._samples: deque[float] = deque(maxlen=_KEEP)

    @property
    def samples(self) -> int:
        """How many samples the window holds (at most 32)."""
        return len(self._samples)

    def recent_s(self) -> float:
        """The largest lateness of a timer in the recent window, in seconds (0: none yet)."""
        return max(self._samples, default=0.0)

    def record(self, late_s: float) -> None:
        """Add one measured lateness (negative values count as on time)."""
        self._samples.append(max(0.0, late_s))

    async def run(self) -> None:
        """Probe forever (a task of the daemon's task group; cancelled at shutdown)."""
        while True:
            due = time.perf_counter() + PROBE_S
            await anyio.sleep(PROBE_S)
            self.record(time.perf_counter() - due)
