"""Unit tests of the pure parts: transitions, constraints, time windows, convergence, journal."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest

from edge_actors.errors import ConfigError
from edge_actors.migration import (
    TRANSITIONS,
    Checkpoint,
    HistoryEvent,
    IllegalTransition,
    MigrationMetrics,
    MigrationPlan,
    MigrationStatus,
    RoundEstimator,
    TimeWindow,
    WorkloadCheckpoint,
    check_transition,
    parse_constraints,
)
from edge_actors.migration._strategies import get_strategy
from edge_actors.migration.journal import Journal

if TYPE_CHECKING:
    from pathlib import Path


def test_resume_completed_is_illegal_and_names_states() -> None:
    with pytest.raises(IllegalTransition, match=r"completed -> queued: completed is terminal"):
        check_transition("m1", "completed", "queued")


@pytest.mark.parametrize(
    ("src", "dst"),
    [("planned", "queued"), ("planned", "paused"), ("sync", "cutover"), ("sync", "paused"),
     ("paused", "queued"),
     ("failed", "rolling_back"), ("validation", "sync"), ("rolling_back", "paused"),
     ("cleanup", "rolling_back")],
)  # fmt: skip
def test_allowed_transitions(src: str, dst: str) -> None:
    check_transition("m", src, dst)


@pytest.mark.parametrize(
    ("src", "dst"),
    [("cutover", "paused"), ("cutover", "cancelled"), ("planned", "sync"),
     ("rolled_back", "queued"), ("cancelled", "queued"), ("completed", "rolling_back")],
)  # fmt: skip
def test_forbidden_transitions(src: str, dst: str) -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition("m", src, dst)
    assert info.value.from_state == src
    assert info.value.to_state == dst


def test_terminal_states_have_no_exit() -> None:
    for state in ("completed", "rolled_back", "cancelled"):
        assert not TRANSITIONS[state]


def test_constraints_parse_units() -> None:
    c = parse_constraints(
        {
            "time_window": "02:00-06:00",
            "bandwidth": "50mbps",
            "max_downtime": "30s",
            "sync_interval": "5m",
            "delta_threshold": "100MB",
            "skip_validation": True,
            "force_migration": True,
            "validation_required": True,
        }
    )
    assert c.bandwidth_bps == 50e6
    assert c.max_downtime_s == 30.0
    assert c.sync_interval_s == 300.0
    assert c.delta_threshold_bytes == 100_000_000
    assert c.skip_validation
    assert c.force_migration
    assert c.validation_required
    assert c.time_window == TimeWindow(120, 360, "UTC")


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"max_downtime": "30 parsecs"}, r"constraints\.max_downtime"),
        ({"max_downtime": "-5s"}, r"constraints\.max_downtime"),
        ({"bandwidth": "fast"}, r"constraints\.bandwidth"),
        ({"delta_threshold": "100 apples"}, r"constraints\.delta_threshold"),
        ({"time_window": "25:00-06:00"}, r"constraints\.time_window"),
        ({"time_window": "02:00-02:00"}, r"empty"),
        ({"time_window": "02:00-06:00 Mars/Olympus"}, r"unknown time zone"),
        ({"skip_validation": "yes"}, r"constraints\.skip_validation"),
        ({"max_rounds": 0}, r"constraints\.max_rounds"),
        ({"warp_speed": True}, r"unknown constraint 'warp_speed'"),
    ],
)
def test_constraint_errors_name_key(raw: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_constraints(raw)


def test_unknown_strategy() -> None:
    with pytest.raises(ConfigError, match=r"^strategy: expected one of live, .*, got 'teleport'$"):
        get_strategy("teleport")


def _at(hour: int, minute: int) -> dt.datetime:
    return dt.datetime(2024, 5, 1, hour, minute, tzinfo=dt.UTC)


def test_time_window_plain() -> None:
    w = TimeWindow.parse("02:00-06:00")
    assert w.contains(_at(3, 0))
    assert not w.contains(_at(6, 0))
    assert w.opens_in(_at(23, 0)) == 3 * 3600
    assert w.opens_in(_at(4, 0)) == 0


def test_time_window_crossing_midnight() -> None:
    w = TimeWindow.parse("22:00-04:00")
    assert w.contains(_at(23, 30))
    assert w.contains(_at(1, 0))
    assert not w.contains(_at(12, 0))
    assert w.opens_in(_at(21, 0)) == 3600
    assert w.closes_in(_at(23, 0)) == 5 * 3600


def test_time_window_zone() -> None:
    w = TimeWindow.parse("02:00-06:00 Asia/Tokyo")  # UTC+9
    assert w.contains(_at(18, 0))  # 03:00 in Tokyo
    assert not w.contains(_at(3, 0))


def test_convergence_estimate() -> None:
    est = RoundEstimator(avg_change_bytes=1000)
    assert not est.converged(10, 1.0)  # no bandwidth measured yet: never converged
    est.record_round(raw_bytes=10_000_000, elapsed_s=1.0, new_changes=1000)
    assert est.bandwidth_Bps == pytest.approx(10_000_000)
    assert est.dirty_rate_Bps == pytest.approx(1_000_000)
    # 100 changes * 1000 B at 10 MB/s = 10 ms, plus fixed overhead ~0 and 4 calls of 2 ms
    assert est.expected_downtime_s(100) == pytest.approx(0.018, abs=0.005)
    assert est.converged(100, 0.05)
    assert not est.converged(100_000, 0.05)
    assert "not converging: dirty rate 1000000 B/s vs bandwidth 10000000 B/s" in (
        est.not_converging_reason(rounds=1, max_rounds=1)
    )


def test_after_a_whole_copy_the_final_delta_is_worth_another_round() -> None:
    # A 100 MB snapshot in 0.8 s while 1,000 writes/s of 1 KiB came in: ~800 changes
    # would go inside the hold. The whole-hold test says no (the fixed costs dominate);
    # the final delta's own share is more than halved by one round, so it runs.
    est = RoundEstimator(avg_change_bytes=1024)
    est.record_round(raw_bytes=100_000_000, elapsed_s=0.8, new_changes=800)
    assert est.converged(800, 0.05)
    assert not est.worth_another_round(800)
    assert est.worth_a_smaller_final_delta(800)
    # That round leaves the changes written while it shipped: no further round pays.
    est.record_round(raw_bytes=800 * 1024, elapsed_s=0.03, new_changes=30, records=800)
    assert not est.worth_a_smaller_final_delta(30)
    # Nothing left, or nothing measured: no round for it.
    assert not est.worth_a_smaller_final_delta(0)
    assert not RoundEstimator(avg_change_bytes=1024).worth_a_smaller_final_delta(800)


def test_a_round_that_would_not_halve_the_final_delta_is_not_run() -> None:
    est = RoundEstimator(avg_change_bytes=1024)
    est.record_round(raw_bytes=100_000_000, elapsed_s=0.8, new_changes=800)
    # writes as fast as the link ships them: the next gap is as large as this one
    est.dirty_rate_Bps = est.bandwidth_Bps or 0.0
    assert not est.worth_a_smaller_final_delta(800)


def test_journal_roundtrip(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    plan = MigrationPlan(
        migration_id="m1", source_edge="a", target_edge="b", workloads=("w",),
        strategy="live", priority=5, constraints=parse_constraints({"max_downtime": "1s"}),
        bandwidth_bps=None, bandwidth_explicit=False, enable_compression=True,
        sync_batch_size=100, checkpoint_interval_s=1.0, created_at=1.0,
    )  # fmt: skip
    status = MigrationStatus(migration_id="m1", state="planned")
    journal.add_plan(plan, status)
    status.state = "queued"
    journal.transition(
        status,
        HistoryEvent(migration_id="m1", at=2.0, from_state="planned", to_state="queued"),
        MigrationMetrics(migration_id="m1", rounds=3),
    )
    cp = Checkpoint(
        checkpoint_id="m1-cp1", migration_id="m1", seq=1, created_at=3.0, phase="sync",
        workloads={"w": WorkloadCheckpoint(acked_lsn=42)},
    )  # fmt: skip
    journal.add_checkpoint(cp, MigrationMetrics(migration_id="m1", rounds=4))
    journal.close()
    again = Journal(tmp_path)
    [entry] = again.load()
    assert entry.plan == plan
    assert entry.status.state == "queued"
    assert entry.metrics.rounds == 4
    assert entry.checkpoint is not None
    assert entry.checkpoint.workloads["w"].acked_lsn == 42
    assert [e.to_state for e in again.history("m1")] == ["planned", "queued"]
    again.close()


def test_not_converging_reason_after_restart_says_what_was_measured() -> None:
    # A run restarted (after failed cutovers) from a checkpoint already at max_rounds has
    # measured nothing itself: the reason must say so, not "0 B/s ... 0 rounds ... inf ms".
    est = RoundEstimator(avg_change_bytes=1000)
    reason = est.not_converging_reason(rounds=30, max_rounds=30, restarts=3)
    assert "max_rounds=30 reached" in reason
    assert "30 delta rounds" in reason
    assert "restarted 3 times" in reason
    assert "no round measured" in reason
    for untrue in ("inf", "0 B/s", "after 0 rounds"):
        assert untrue not in reason


def test_not_converging_reason_counts_every_round() -> None:
    est = RoundEstimator(avg_change_bytes=1000)
    est.record_round(raw_bytes=10_000_000, elapsed_s=1.0, new_changes=1000)
    reason = est.not_converging_reason(rounds=30, max_rounds=30, restarts=0)
    assert "dirty rate 1000000 B/s vs bandwidth 10000000 B/s" in reason
    assert "after 30 delta rounds" in reason
    assert "restarted" not in reason
