"""Migration strategies as policy objects over one machinery (layer: migration).

A :class:`Strategy` does not move data itself; it tells the migration actor how to cut the
work into stages, whether writes stay held for the whole copy, how delta rounds are paced,
when to validate and how to treat priority and link limits. Convergence arithmetic (when
the next cutover fits in ``max_downtime``) lives in :class:`RoundEstimator`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import msgspec

from edge_actors.errors import ConfigError
from edge_actors.schema import StrategyName, convert

if TYPE_CHECKING:
    from ._constraints import Constraints

__all__ = ["STRATEGIES", "RoundEstimator", "Strategy", "get_strategy"]


class Strategy(msgspec.Struct, frozen=True, kw_only=True):
    """How one strategy drives the phases.

    Attributes:
        name: the strategy name.
        default_priority: priority when the plan gives none.
        preempts: may pause lower-priority running migrations to start (emergency).
        per_workload_stages: one stage per workload, in the order given (staged).
        freeze_writes: hold writes for the whole copy; no delta rounds (bulk).
        paced_rounds: delta rounds wait for ``sync_interval`` or ``delta_threshold``
            (incremental).
        ignores_link_limit: the service-wide bandwidth default does not apply; only a
            limit set on the plan itself does (emergency).
        default_sync_interval_s: pacing when the plan gives no ``sync_interval``.
        respects_time_window: stages start only inside ``time_window``.
    """

    name: str
    default_priority: int = 5
    preempts: bool = False
    per_workload_stages: bool = False
    freeze_writes: bool = False
    paced_rounds: bool = False
    ignores_link_limit: bool = False
    default_sync_interval_s: float | None = None
    respects_time_window: bool = True

    def stages(self, workloads: tuple[str, ...]) -> list[tuple[str, ...]]:
        """Split the plan's workloads into the stages run one after another."""
        if self.per_workload_stages:
            return [(w,) for w in workloads]
        return [workloads]

    def validate_after_stage(self, constraints: Constraints, last: bool) -> bool:
        """Whether the validation phase runs after this stage (always after the last)."""
        if constraints.skip_validation:
            return False
        return last or constraints.validation_required

    def sync_interval_s(self, constraints: Constraints) -> float | None:
        """Pacing between delta round starts (``None``: back to back)."""
        if constraints.sync_interval_s is not None:
            return constraints.sync_interval_s
        return self.default_sync_interval_s


STRATEGIES: dict[str, Strategy] = {
    "live": Strategy(name="live"),
    "staged": Strategy(name="staged", per_workload_stages=True),
    "bulk": Strategy(name="bulk", freeze_writes=True),
    "incremental": Strategy(name="incremental", paced_rounds=True, default_sync_interval_s=5.0),
    "emergency": Strategy(
        name="emergency", default_priority=10, preempts=True, ignores_link_limit=True
    ),
}


def get_strategy(name: object) -> Strategy:
    """Return the strategy called ``name``.

    Raises:
        ConfigError: unknown strategy; the message lists the known ones.
    """
    return STRATEGIES[convert(name, StrategyName, field="strategy")]


class RoundEstimator:
    """Measures rounds of one workload and predicts the next cutover's write hold.

    The model of a one-call cutover's hold (all of it runs in the source daemon): the
    final delta of ``n`` changes ships in ``fixed_s + n * change_s``, then the source
    makes one admin call to the target (activation, ``call_s``) and each side persists
    its route (:attr:`ROUTE_SYNCS` fsyncs of ``sync_s``).

    ``fixed_s`` is what a small transfer costs over the daemon's pooled session and
    actor system (WebSocket handshake, Hello, Done, close): a prior,
    :attr:`FIXED_S`, measured on that path. ``change_s`` is calibrated on the delta
    rounds, whose changes are the ones the final delta ships (the hot records, often
    much smaller than the workload's average): their elapsed time minus the fixed cost
    and the round's admin request, per change shipped (a first round that is not bulk
    counts too: a restarted run's first round is a small delta, and its goodput alone
    would price every change at that small round's fixed costs). Until then,
    changes are costed as ``avg_change_bytes`` at the bulk bandwidth (the raw goodput of
    rounds of at least :attr:`BULK_ROUND_BYTES`, or of the first round). The dirty rate is
    the raw bytes per second of changes the source took during the last round.

    Args:
        avg_change_bytes: mean size of one change (record bytes / records), for turning
            LSN growth into bytes.
    """

    CUTOVER_CALLS = 1
    ROUTE_SYNCS = 2
    FIXED_S = 0.006
    BULK_ROUND_BYTES = 8 << 20
    WORTH_A_ROUND = 0.5
    MIN_ROUND_SAVING_S = 0.001
    """A round that would shorten the hold by less than this is not run for it
    (:meth:`worth_a_smaller_final_delta`)."""
    """Another delta round is run when it is predicted to cut the hold at least this much."""

    def __init__(self, avg_change_bytes: float) -> None:
        self.avg_change_bytes = max(1.0, avg_change_bytes)
        self.bandwidth_Bps: float | None = None
        self.dirty_rate_Bps = 0.0
        self.fixed_s = self.FIXED_S
        self.change_s: float | None = None
        self.call_s = 0.002
        self.sync_s = 0.001
        self.rounds = 0
        self.sharing_s = 0.0
        """Seconds of other cutovers' final deltas that run on the same link during this
        workload's hold (its cutover group, :mod:`._cutovers`): added to the estimate."""
        self.bias_s = 0.0
        """What this plan's recent holds took beyond their estimates (steps the model
        does not see, such as a loaded target's activation or slow route fsyncs):
        measured by the run on each cutover and added to the estimate."""

    def record_round(
        self, raw_bytes: int, elapsed_s: float, new_changes: int, records: int = 0
    ) -> None:
        """Account one finished round.

        Args:
            raw_bytes: raw bytes the target acknowledged in the round.
            elapsed_s: wall time of the round (transfer included).
            new_changes: LSNs the source advanced during the round (its dirtying).
            records: changes the target acknowledged in the round (0: unknown).
        """
        self.rounds += 1
        elapsed_s = max(elapsed_s, 1e-6)
        self.dirty_rate_Bps = new_changes * self.avg_change_bytes / elapsed_s
        bulk = raw_bytes >= self.BULK_ROUND_BYTES
        if raw_bytes and (bulk or self.bandwidth_Bps is None):
            self.bandwidth_Bps = raw_bytes / elapsed_s
        if records > 0 and not bulk:
            # A delta round: what the fixed cost and its admin request leave, per change.
            change = max(0.0, elapsed_s - self.fixed_s - self.call_s) / records
            self.change_s = change if self.change_s is None else (self.change_s + change) / 2

    def record_call(self, elapsed_s: float) -> None:
        """Account the latency of one admin call (smoothed)."""
        self.call_s = 0.7 * self.call_s + 0.3 * max(elapsed_s, 0.0)

    def delta_bytes(self, lsn_gap: int) -> float:
        """Bytes to ship for ``lsn_gap`` un-synced changes (an upper bound)."""
        return max(0, lsn_gap) * self.avg_change_bytes

    def ship_s(self, lsn_gap: int) -> float:
        """Predicted seconds to ship ``lsn_gap`` changes: the fixed cost alone when there
        is nothing to ship, else infinite before any measurement."""
        gap = max(0, lsn_gap)
        if gap == 0:
            return self.fixed_s
        if self.change_s is not None:
            return self.fixed_s + gap * self.change_s
        if not self.bandwidth_Bps:
            return math.inf
        return self.fixed_s + self.delta_bytes(gap) / self.bandwidth_Bps

    def expected_downtime_s(self, lsn_gap: int) -> float:
        """Predicted write hold of a cutover now: the final delta, the target's
        activation call, the two route fsyncs, the final deltas of the cutovers
        sharing the link with it (:attr:`sharing_s`) and the plan's measured excess
        (:attr:`bias_s`)."""
        return (
            self.CUTOVER_CALLS * self.call_s
            + self.ROUTE_SYNCS * self.sync_s
            + self.ship_s(lsn_gap)
            + self.sharing_s
            + self.bias_s
        )

    def worth_another_round(self, lsn_gap: int) -> bool:
        """Whether one more delta round is predicted to cut the cutover's hold at least
        by :attr:`WORTH_A_ROUND` (the changes the source takes while that round ships
        ``lsn_gap`` become the final delta instead)."""
        now = self.expected_downtime_s(lsn_gap)
        if math.isinf(now) or lsn_gap <= 0:
            return False
        next_gap = self._gap_after_a_round(lsn_gap)
        return self.expected_downtime_s(next_gap) <= now * (1.0 - self.WORTH_A_ROUND)

    def worth_a_smaller_final_delta(self, lsn_gap: int) -> bool:
        """Whether one more delta round is predicted to cut the final delta's own share of
        the hold (shipping and applying its changes; the calls and fsyncs stay) at least
        by :attr:`WORTH_A_ROUND`, and by at least :attr:`MIN_ROUND_SAVING_S`.

        What a plan of a few workloads asks before it cuts over. The final delta is applied
        inside the target's activation, with writes held: after a whole copy (a snapshot
        of 100 MB took 0.8 s at 1,000 writes/s) it holds the ~800 changes the copy took,
        which cost 10-30 ms of the hold on the target where one more round leaves ~30.
        :meth:`worth_another_round` weighs the same round against the whole hold, fixed
        costs included, and would cut over with them.
        """
        if lsn_gap <= 0 or math.isinf(self.ship_s(lsn_gap)):
            return False
        share_now = self.ship_s(lsn_gap) - self.fixed_s
        share_next = self.ship_s(self._gap_after_a_round(lsn_gap)) - self.fixed_s
        return (
            share_next <= share_now * (1.0 - self.WORTH_A_ROUND)
            and share_now - share_next >= self.MIN_ROUND_SAVING_S
        )

    def _gap_after_a_round(self, lsn_gap: int) -> int:
        """The changes the source is predicted to take while one round ships ``lsn_gap``."""
        round_s = self.call_s + self.ship_s(lsn_gap)
        return math.ceil(self.dirty_rate_Bps * round_s / self.avg_change_bytes)

    def converged(self, lsn_gap: int, max_downtime_s: float) -> bool:
        """Whether a cutover now is expected to hold writes within ``max_downtime_s``."""
        return self.expected_downtime_s(lsn_gap) <= max_downtime_s

    def not_converging_reason(self, rounds: int, max_rounds: int, restarts: int = 0) -> str:
        """The failure reason when rounds are exhausted, naming only what was measured.

        Args:
            rounds: delta rounds the migration ran in all (journaled across restarts).
            max_rounds: the constraint that was reached.
            restarts: restarts of the migration (after a failed cutover or a crash); a
                restarted run starts with no measurement of its own.
        """
        again = (
            f"; the migration restarted {restarts} times (failed cutovers or crashes)"
            if restarts
            else ""
        )
        if self.rounds == 0 or not self.bandwidth_Bps:
            return (
                f"not converging: max_rounds={max_rounds} reached after {rounds} delta rounds"
                f"{again}; no round measured since, so no "
                "further round or cutover is allowed"
            )
        floor_ms = self.expected_downtime_s(0) * 1000
        return (
            f"not converging: dirty rate {self.dirty_rate_Bps:.0f} B/s vs bandwidth "
            f"{self.bandwidth_Bps:.0f} B/s after {rounds} delta rounds "
            f"(max_rounds={max_rounds}{again}; a cutover with nothing left to ship is "
            f"estimated to hold writes {floor_ms:.1f} ms)"
        )


def check_priority(value: object, strategy: Strategy) -> int:
    """Validate a plan's priority (1..10), defaulting to the strategy's.

    Raises:
        ConfigError: not an integer in 1..10.
    """
    if value is None:
        return strategy.default_priority
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
        raise ConfigError(f"priority: expected an integer 1..10, got {value!r}")
    return value
