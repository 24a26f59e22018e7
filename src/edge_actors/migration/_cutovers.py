"""Which cutovers of a plan run together, so every hold fits ``max_downtime`` (layer: migration).

A plan of many workloads must not cut them all over at once: concurrent cutovers from one
source share its link and its event loop, so each one's final delta waits for the others'
and every hold stretches (50 at once held writes 63-84 ms against a 50 ms budget while
each estimate alone said 12.5 ms). The cutover phase therefore runs in small **groups**:
:func:`next_group` takes workloads in plan order while every member's estimated hold, its
own (:meth:`RoundEstimator.expected_downtime_s`) plus the final deltas of the other
members (they ship on the same link meanwhile), stays within :data:`GROUP_FILL` of the
budget; a workload whose estimate alone does not fit the budget is returned apart, for
another pre-copy round before it is cut over. Pure arithmetic: the phases do the I/O.

A cutover the source undid (its hold could not finish within the deadline) is not a crash
of the run: :class:`CutoverUndone` takes the workload back to the run's pool, and its
cutover is retried after :data:`RETRY_BACKOFF`, with a new epoch, up to the plan's
``cutover_attempts``.

Undone attempts feed on each other: each one's retry, delta round and journal write load
the source and the target that are already too slow for the holds, and the next attempts
fail too (a 100 x 10 MB wide plan in a slow spell: 149 undone attempts, 4 run restarts,
2.4 times the queued plans' time). :class:`CutoverBrake` stops that: when
:data:`BRAKE_AT` of the plan's last :data:`BRAKE_WINDOW` attempts were undone, cutovers
run one at a time, each on a source and a target that copy nothing else, until
:data:`BRAKE_RELEASE` in a row cut over.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from edge_actors.actors import Backoff

if TYPE_CHECKING:
    from collections.abc import Container, Sequence

    from ._errors import EdgeUnreachable
    from ._strategies import RoundEstimator

__all__ = [
    "BRAKE_AT",
    "BRAKE_RELEASE",
    "BRAKE_WINDOW",
    "GROUP_FILL",
    "MAX_CATCH_UPS",
    "QUIET_AFTER_UNDONE",
    "RETRY_BACKOFF",
    "Candidate",
    "CutoverBrake",
    "CutoverUndone",
    "needs_round",
    "next_group",
]

GROUP_FILL = 0.5
"""A group's estimated holds aim at this share of ``max_downtime``: the estimates come
from the last rounds, and a loaded machine adds to every hold; the rest is margin."""

MAX_CATCH_UPS = 3
"""Extra delta rounds one workload gets in the cutover phase of one run for the margin
rule (a workload over the whole budget gets rounds until ``max_rounds``)."""

QUIET_AFTER_UNDONE = 2
"""In a pipelined stage, a workload whose cutover was undone this many times in the run
holds new copies back until it is cut over (its retries then share the source and the
target with no copy starting meanwhile)."""

RETRY_BACKOFF = Backoff(initial_s=0.2, factor=2.0, max_s=5.0)
"""Wait before the n-th retry of one workload's undone cutover (n = 0 first): the run's
other workloads go on meanwhile, and the workload's gap gets a delta round if it needs
one. Short: an undone hold is mostly a busy moment of the machine or the link."""

BRAKE_WINDOW = 4
"""The plan's most recent cutover attempts the brake looks at."""

BRAKE_AT = 2
"""Undone attempts among the last :data:`BRAKE_WINDOW` that engage the brake."""

BRAKE_RELEASE = 2
"""Attempts in a row that cut over, while braked, that release the brake."""

Candidate = tuple[str, "RoundEstimator", int]
"""A workload waiting for its cutover: name, its estimator, its LSN gap now."""


def needs_round(est: RoundEstimator, gap: int, budget_s: float, *, margin: bool) -> bool:
    """Whether a workload should get another delta round before its cutover: its own
    estimate exceeds ``budget_s``, or, with ``margin``, exceeds ``GROUP_FILL * budget_s``
    while one more round is predicted to cut it substantially
    (:meth:`RoundEstimator.worth_another_round`)."""
    est.sharing_s = 0.0
    # The plan's measured excess (``bias_s``) shrinks groups, but it does not make a
    # workload wait for rounds that cannot remove it (it is not in the final delta).
    alone = est.expected_downtime_s(gap) - est.bias_s
    return alone > budget_s or (
        margin and alone > GROUP_FILL * budget_s and est.worth_another_round(gap)
    )


def next_group(
    candidates: Sequence[Candidate], budget_s: float, max_size: int, *, margin: Container[str]
) -> tuple[list[str], list[str]]:
    """The next cutover group from ``candidates`` (in plan order), and those too slow.

    A candidate that :func:`needs_round` (with the margin rule for the names in
    ``margin``: the caller leaves out those that had their share of extra rounds) is
    *too slow*. The others join the group in order while, for every member, its own
    estimate plus the other members' final-delta ship times stays within
    ``GROUP_FILL * budget_s`` (the first member only has to fit ``budget_s`` alone), up to
    ``max_size`` members; the scan stops at the first one that does not fit. Each
    member's :attr:`RoundEstimator.sharing_s` is set to the others' ship time, so the
    estimate the cutover records is the group's; the caller resets it afterwards.

    Returns:
        ``(group, too_slow)``: names in plan order.
    """
    group: list[Candidate] = []
    too_slow: list[str] = []
    for cand in candidates:
        name, est, gap = cand
        if needs_round(est, gap, budget_s, margin=name in margin):
            too_slow.append(name)
            continue
        if len(group) >= max_size:
            break
        trial = [*group, cand]
        if group and _worst_hold_s(trial) > GROUP_FILL * budget_s:
            break
        group = trial
    ships = [e.ship_s(g) for _, e, g in group]
    total = sum(ships)
    for (_, est, _), own in zip(group, ships, strict=True):
        est.sharing_s = total - own
    return [name for name, _, _ in group], too_slow


def _worst_hold_s(group: Sequence[Candidate]) -> float:
    """The longest estimated hold in ``group`` when its members cut over together."""
    ships = [e.ship_s(g) for _, e, g in group]
    total = sum(ships)
    return max(
        e.expected_downtime_s(g) + total - own for (_, e, g), own in zip(group, ships, strict=True)
    )


class CutoverBrake:
    """The plan-wide brake on cutovers (see the module doc). Pure bookkeeping, owned by
    one run's cutover task: it counts outcomes; the task applies :meth:`group_size` and
    keeps copies back while :attr:`engaged`."""

    def __init__(self) -> None:
        self._recent: deque[bool] = deque(maxlen=BRAKE_WINDOW)  # True: undone
        self._cut_over_in_a_row = 0
        self.engaged = False
        self.engagements = 0
        """Times the brake engaged."""

    def record(self, undone: bool) -> bool:
        """Count one attempt's outcome; return whether :attr:`engaged` changed."""
        self._recent.append(undone)
        self._cut_over_in_a_row = 0 if undone else self._cut_over_in_a_row + 1
        if self.engaged:
            if self._cut_over_in_a_row < BRAKE_RELEASE:
                return False
            self.engaged = False
            self._recent.clear()  # the undone attempts before the brake are spent
            return True
        if sum(self._recent) < BRAKE_AT:
            return False
        self.engaged = True
        self.engagements += 1
        return True

    def group_size(self, size: int) -> int:
        """The most cutovers a group may have now: ``size``, or 1 while engaged."""
        return 1 if self.engaged else size


class CutoverUndone(Exception):
    """One workload's cutover failed and its source undid it (writes released to the
    source, the target back to ``incoming`` or left to be settled); raised by the phase's
    cutover of one workload to the round scheduling, which retries it later.

    Attributes:
        error: what the gateway raised (the cause of the run's failure once the
            attempts are spent).
        held_ms: the attempt's write hold as counted in the metrics.
    """

    def __init__(self, error: EdgeUnreachable, held_ms: float) -> None:
        super().__init__(str(error))
        self.error = error
        self.held_ms = held_ms
