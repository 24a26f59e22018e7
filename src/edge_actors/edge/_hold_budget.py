"""The time plan of a cutover's hold: every step fits the deadline, or it is undone early.

Edge layer. A cutover's hold (``_cutover``) ends one of two ways: the **flip** (the target
went active; the route here turns ``moved`` and the held writes are released, forwarded)
or the **undo** (the held writes are released here; if the target was asked to activate,
one more call first sets it back to ``incoming``). :class:`HoldBudget` fits both inside
``deadline_ms``, counted from the hold, from the step times this edge measured on its
recent cutovers (:class:`StepTimes`):

* the activation call is cut at ``end - reserve``, where ``reserve`` covers whichever
  ends the hold after it: the flip, or the undo's call to the target (the larger of the
  two, from their recent times);
* the activation is not started unless its typical time fits before that cut;
* the final delta is cut when it cannot end in time for a typical activation. An undo
  before the activation calls nobody: nothing on the target changed.

So a hold that will not fit is undone as soon as that is known, not at the deadline, and
an undo started at a cut point is expected to end within the deadline. Estimates, not
guarantees: an undo call slower than ``reserve`` still ends the hold late (bounded by the
undo call's own timeout, the budget again).

The forecast must not lock itself in: step times from a slow spell could forecast that no
activation fits, and a cutover undone on that forecast measures nothing new. After
:data:`_PROBE_AFTER` such refusals in a row, the next hold *probes*: it ignores the
typical activation time (the final delta runs until ``end - reserve``, the activation is
tried) and keeps only the hard cut, which still leaves the reserve for the undo.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from edge_actors.clock import Clock

__all__ = ["HoldBudget", "Step", "StepTimes"]

Step = Literal["final_delta", "activate", "target_call", "state_write", "flip"]
"""Timed steps: ``activate`` is the source's whole activation step (its mark write and
the call); ``target_call`` a call that changes the target's route (the activation call,
the undo's call: a round trip and two durable writes there), what an undo pays;
``state_write`` one durable state-file write here (the ``retiring_to`` mark)."""

_KEEP: Final = 32  # recent samples per step
_RESERVE_QUANTILE: Final = 0.75  # of the recent target calls: what an undo's call takes
_PROBE_AFTER: Final = 2  # forecast refusals in a row, then one attempt probes


class StepTimes:
    """Recent durations of a cutover's steps on this edge, in seconds (bounded).

    Owned by the edge's :class:`~._cutover.CutoverSaga` (the daemon's loop only).
    """

    def __init__(self) -> None:
        self._samples: dict[Step, deque[float]] = {}
        self.refusals = 0
        """Cutovers undone in a row on a forecast (before their activation was tried)."""

    def record(self, step: Step, seconds: float) -> None:
        """Add one measured duration of ``step`` (an activation resets :attr:`refusals`)."""
        self._samples.setdefault(step, deque(maxlen=_KEEP)).append(max(0.0, seconds))
        if step == "activate":
            self.refusals = 0

    def refused_by_forecast(self) -> None:
        """Count a cutover undone because its activation was forecast not to fit."""
        self.refusals += 1

    def typical(self, step: Step, default: float) -> float:
        """The median of the recent durations of ``step`` (``default`` when none)."""
        samples = self._samples.get(step)
        return statistics.median(samples) if samples else default

    def high(self, step: Step, default: float) -> float:
        """The upper quartile of the recent durations of ``step`` (``default`` when none)."""
        samples = self._samples.get(step)
        if not samples:
            return default
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, math.ceil(_RESERVE_QUANTILE * len(ordered)) - 1)]


class HoldBudget:
    """One hold's deadline and its cut points (see the module doc).

    Args:
        clock: The clock the hold is timed by (the write gate's).
        held_since: When the hold began, on ``clock`` (``WriteGate.held_since``).
        deadline_s: The budget from the hold (``None``: no deadline, nothing is cut).
        times: This edge's recent step times.
        round_trip_s: A call to the target measured just before the hold: the estimate
            of a call when ``times`` has none yet.
    """

    def __init__(
        self,
        clock: Clock,
        held_since: float,
        deadline_s: float | None,
        times: StepTimes,
        round_trip_s: float,
    ) -> None:
        self._clock = clock
        self._times = times
        self._round_trip_s = round_trip_s
        self._held_since = held_since
        self._end = math.inf if deadline_s is None else held_since + deadline_s
        self.undo_timeout_s = deadline_s
        """The undo's call to the target times out after this (``None``: its own timeout)."""

    @property
    def reserve_s(self) -> float:
        """Kept after the activation's cut for whichever ends the hold, flip or undo.

        The undo's call: the upper quartile of recent route-changing calls to the target;
        before there are any, the round trip measured before the hold plus two durable
        writes as this edge measured them (what the target does for it).
        """
        times = self._times
        cold = self._round_trip_s + 2 * times.high("state_write", 0.0)
        return max(times.high("target_call", cold), times.high("flip", 0.0))

    @property
    def probing(self) -> bool:
        """Whether this hold ignores the activation forecast (see the module doc)."""
        return self._times.refusals >= _PROBE_AFTER

    @property
    def activation_s(self) -> float:
        """What an activation step typically takes here (before any: as the undo's call;
        ``0`` while :attr:`probing`)."""
        if self.probing:
            return 0.0
        return self._times.typical("activate", self.reserve_s)

    @property
    def bounded(self) -> bool:
        """Whether the hold has a deadline at all."""
        return not math.isinf(self._end)

    def held_ms(self) -> float:
        """How long writes have been held so far, in milliseconds (on the hold's clock)."""
        return (self._clock.monotonic() - self._held_since) * 1000

    def left(self) -> float:
        """Seconds left until the deadline (``inf`` without one; may be negative)."""
        return self._end - self._clock.monotonic()

    def final_delta_left(self) -> float:
        """Seconds the final delta may still take: a typical activation and the reserve
        must fit after it."""
        return self.left() - self.activation_s - self.reserve_s

    def activation_left(self) -> float:
        """Seconds the activation call may still take before it is cut (the reserve
        stays for the flip or the undo)."""
        return self.left() - self.reserve_s

    def activation_fits(self) -> bool:
        """Whether a typical activation still fits before its cut."""
        return self.activation_left() >= self.activation_s

    def describe(self) -> str:
        """The plan in words, for an undo's message."""
        probing = " (probing: the forecast was ignored)" if self.probing else ""
        return (
            f"{max(0.0, self.left()) * 1000:.1f} ms left; a typical activation here takes "
            f"{self.activation_s * 1000:.1f} ms and {self.reserve_s * 1000:.1f} ms stay for "
            f"the flip or the undo{probing}"
        )
