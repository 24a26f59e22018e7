"""The time plan of a cutover's hold: every step fits the deadline, or it is undone early.

Edge layer. A cutover's hold (``_cutover``) ends one of two ways: the **flip** (the target
went active; the route here turns ``moved`` and the held writes are released, forwarded)
or the **undo** (the held writes are released here; if the target was asked to activate,
one more call first sets it back to ``incoming``). :class:`HoldBudget` places the steps
inside ``deadline_ms``, counted from the hold, from the step times this edge measured on
its recent cutovers (:class:`StepTimes`):

* the activation is started only if its upper-quartile time here (the call; the
  ``retiring_to`` mark is written before the hold) and the flip still fit; otherwise
  the cutover is undone before it, which calls nobody (nothing on the target changed)
  and ends at once;
* the final delta is cut when it can no longer end in time for that activation;
* a started activation runs until ``end - flip - undo``: if it answers by then, the flip
  fits; if it is cut there, so does the call that undoes it (:attr:`HoldBudget.undo_s`).

The cuts are timers on the daemon's loop, which other work (copies, peer streams) may
keep busy: a timer runs late by as much as the loop lags. The reserve kept after every
cut is therefore the flip's time *plus* the loop's recent lag (``lag_s``: the lateness
measured during recent holds, :mod:`._loop_lag`), and at least how late recent cut final
deltas ended their holds (``cut_late``: the timer fires late, the cancellation takes
another turn of the loop, the undo runs; in a full suite run the probe's lag alone
reserved 0.4-1.2 ms where cuts ended 1.5 ms late), so a late cut still ends the hold
inside the deadline. That reserve is capped at :data:`_LAG_SHARE` of the deadline: a loop
that lags more (the process stalled for tens of milliseconds, as on this machine under
other jobs' load: 65-71 ms reserves refused every cutover of a plan at once for seconds)
cannot be planned around, and refusing every cutover measures nothing new.

An activation that does not answer by its cut is undone with a call to the target, and
that hold ends past the deadline (the undo's call may take up to the budget again: its
timeout). Cutting the activation earlier to leave room for that call was tried and
measured worse: on this 2-core machine the undo's call after a cut activation took
35-55 ms where recent calls to the target took 4-20 ms (it meets a target still busy with
the activation it cut), so cutting for it turned holds that would have flipped in time
into undone holds over the budget (100 x 10 MB wide plan: 21 of 24 activation cuts over
50 ms). Deciding before the activation, on the upper quartile, is what keeps holds inside.
Since then the undo's call waits for no fsync when the target had not begun its durable
writes (``WorkloadRouter.undo_unbegun``), and the source clears its mark after the
release; a cut activation still ends its hold past the deadline by that call (7-26 ms in
session 7's wide plans). Keeping the upper quartile of recent undo calls in reserve was
tried then and not kept: one undo call that timed out (51 ms) made the reserve exceed
what any activation could fit, every later cutover was refused on the forecast (2,539
refusals in four minutes, the probe included), and no undo ran again to lower it. So
the reserve for it (:attr:`HoldBudget.undo_s`) is capped at :data:`_UNDO_SHARE` of the
deadline, as the lag's is. The cap was 20 % until session 11. In that session's wide
plans, 10 of the 12 holds over a 50 ms budget were cut activations whose hold ended
10.9-17.0 ms after the cut; 7 of them had kept the capped 10 ms for the undo call. With
30 % (15 ms), three alternated pairs had no hold over 50 ms (longest 19.2-29.4 ms,
against 32.8-51.4 with 20 %), and the undone attempts stayed few (2, 0, 2 against 1, 0,
0). The cap only lowers the cut when recent undo calls took longer than 10 ms.

The target shares the activation's cut: the call carries ``within_ms``
(:meth:`HoldBudget.target_within_ms`, the time until the cut less the round trip
measured before the hold), and a target that can no longer make the activation durable
in that time refuses it before writing anything (``activation_too_late``). Its refusal
arrives before the cut, and the undo then needs no call to the target, so an activation
that would have been cut ends the hold inside the deadline. The source's cut, and its
undo call, remain for a target that does not answer at all.

The forecast must not lock itself in: step times from a slow spell could forecast that no
activation fits, and a cutover undone on that forecast measures nothing new. After
:data:`_PROBE_AFTER` such refusals in a row, the next hold *probes*: it plans the
activation optimistically, at the fastest recent one (at most :data:`_PROBE_SHARE` of the
deadline, so a slow spell's times cannot refuse the probe too), and keeps the
activation's cut. A probe that planned nothing at all (it used to: the final delta ran
until ``end - flip``) started its activation with no time left, and that activation, cut
at once, was undone with a call to the target past the deadline.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from edge_actors.clock import Clock

__all__ = ["HoldBudget", "Step", "StepLaps", "StepTimes"]

Step = Literal["final_delta", "activate", "state_write", "flip", "cut_late", "undo_call"]
"""Timed steps: ``activate`` is the source's whole activation step (the call);
``state_write`` one durable state-file write here (the ``retiring_to`` mark, before the
hold);
``flip`` the route change and the release; ``cut_late`` how long after its planned cut a
cut final delta's hold ended (the timer's lateness, the cancellation and the undo);
``undo_call`` the call that puts the target back to ``incoming`` after a cut activation."""

_KEEP: Final = 32  # recent samples per step
_QUANTILE: Final = 0.75  # of the recent samples: what a step is planned to take
_PROBE_AFTER: Final = 2  # forecast refusals in a row, then one attempt probes
_PROBE_SHARE: Final = 0.25  # the most of a deadline a probe plans for its activation
_LAG_SHARE: Final = 0.25  # the most of a deadline kept in reserve for the loop's lag
_UNDO_SHARE: Final = 0.3  # the most of a deadline kept for a cut activation's undo call


class StepLaps:
    """Milliseconds per finished step of one cutover (``perf_counter``: a metric only,
    the cutover's answer's ``steps_ms``)."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self._mark = time.perf_counter()

    def restart(self) -> None:
        """Start timing the next step from now."""
        self._mark = time.perf_counter()

    def lap(self, done: str) -> None:
        """Record the step ``done`` as ending now."""
        now = time.perf_counter()
        self.steps[done] = round((now - self._mark) * 1000, 3)
        self._mark = now


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

    def fastest(self, step: Step, default: float) -> float:
        """The shortest recent duration of ``step`` (``default`` when none)."""
        samples = self._samples.get(step)
        return min(samples) if samples else default

    def high(self, step: Step, default: float, *, quantile: float = _QUANTILE) -> float:
        """The ``quantile`` (by default the upper quartile) of the recent durations of
        ``step`` (``default`` when none)."""
        samples = self._samples.get(step)
        if not samples:
            return default
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, max(1, math.ceil(quantile * len(ordered))) - 1)]


class HoldBudget:
    """One hold's deadline and its cut points (see the module doc).

    Args:
        clock: The clock the hold is timed by (the write gate's).
        held_since: When the hold began, on ``clock`` (``WriteGate.held_since``).
        deadline_s: The budget from the hold (``None``: no deadline, nothing is cut).
        times: This edge's recent step times.
        round_trip_s: A call to the target measured just before the hold (the plan of
            an activation when ``times`` has none yet).
        lag_s: How late the loop's timers ran recently (kept in the reserve: a cut
            fires that late); at least ``times``' recent ``cut_late``; at most
            :data:`_LAG_SHARE` of ``deadline_s``.
    """

    def __init__(
        self,
        clock: Clock,
        held_since: float,
        deadline_s: float | None,
        times: StepTimes,
        round_trip_s: float,
        *,
        lag_s: float = 0.0,
    ) -> None:
        self._clock = clock
        lag_s = max(lag_s, times.high("cut_late", 0.0))
        self._lag_s = lag_s if deadline_s is None else min(lag_s, _LAG_SHARE * deadline_s)
        self.final_delta_cut_ms: float | None = None
        """When the final delta was cut, planned, in ms from the hold (``None``: not cut)."""
        self._times = times
        self._round_trip_s = round_trip_s
        self._held_since = held_since
        self._end = math.inf if deadline_s is None else held_since + deadline_s
        self.undo_timeout_s = deadline_s
        """The undo's call to the target times out after this (``None``: its own timeout)."""

    @property
    def reserve_s(self) -> float:
        """Kept after the activation's cut: the flip (its recent upper quartile) and the
        loop's recent lag (how late the cut itself may fire)."""
        return self._times.high("flip", 0.0) + self._lag_s

    @property
    def probing(self) -> bool:
        """Whether this hold ignores the activation forecast (see the module doc)."""
        return self._times.refusals >= _PROBE_AFTER

    @property
    def activation_s(self) -> float:
        """What an activation step is planned to take here: the upper quartile of recent
        ones; before any, the round trip measured before the hold plus the mark write
        here and two durable writes on the target, each as this edge measured its own.
        While :attr:`probing`: the fastest recent one, at most :data:`_PROBE_SHARE` of
        the deadline."""
        cold = self._round_trip_s + 3 * self._times.high("state_write", 0.0)
        if self.probing:
            fastest = self._times.fastest("activate", cold)
            return min(fastest, _PROBE_SHARE * (self._end - self._held_since))
        return self._times.high("activate", cold)

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
        """Seconds the final delta may still take: the planned activation and the
        reserve must fit after it."""
        return self.left() - self.activation_s - self.reserve_s

    @property
    def undo_s(self) -> float:
        """Kept before the activation's cut for the undo's call to the target, should the
        activation be cut: the upper quartile of recent ones here, at most
        :data:`_UNDO_SHARE` of the deadline (so a call that timed out cannot make every
        later activation look too late); before any was measured, that most. The round
        trip measured before the hold was too little: in session 7 the first cut of a
        wide plan, planned with 1.5 ms, was undone in 9 ms, 7 ms past the deadline."""
        if not self.bounded:  # nothing is cut
            return 0.0
        cap = _UNDO_SHARE * (self._end - self._held_since)
        return min(self._times.high("undo_call", cap), cap)

    def activation_left(self) -> float:
        """Seconds the activation may still take before it is cut (the reserve stays for
        the flip, and :attr:`undo_s` for the undo's call should it be cut)."""
        return self.left() - self.reserve_s - self.undo_s

    def target_within_ms(self) -> float | None:
        """What the target is given to make the activation durable, from its receipt: the
        activation's time until its cut less the round trip measured before the hold, so
        the target's refusal (it wrote nothing) arrives before the cut and the undo needs
        no call (at least 1 ms; ``None`` without a deadline)."""
        if not self.bounded:
            return None
        return max(0.001, self.activation_left() - self._round_trip_s) * 1000

    def activation_fits(self) -> bool:
        """Whether the planned activation still fits before its cut."""
        return self.activation_left() >= self.activation_s

    def describe(self) -> str:
        """The plan in words, for an undo's message."""
        probing = " (probing: the forecast was ignored)" if self.probing else ""
        return (
            f"{max(0.0, self.left()) * 1000:.1f} ms left; an activation here is planned at "
            f"{self.activation_s * 1000:.1f} ms and {self.reserve_s * 1000:.1f} ms stay for "
            f"the flip and the loop's lag ({self._lag_s * 1000:.1f} ms), "
            f"{self.undo_s * 1000:.1f} ms for an undo's call{probing}"
        )
