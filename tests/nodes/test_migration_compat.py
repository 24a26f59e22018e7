"""Code written against the original SDK's EdgeMigrationNode outputs runs unchanged here.

Real workflows through ``WorkflowBuilder`` and ``LocalRuntime`` on a private engine with
embedded edges under the test's tmp dir. ``OriginalReader`` reads results the way the
original SDK's users did, key by key, with the types that SDK returned: a missing key
is a ``KeyError`` and a wrong type a ``TypeError``, which fail the test.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pytest
from nodes_support import mig, mon, run_nodes
from structlog.testing import capture_logs

from edge_actors import seed_workload
from edge_actors.runtime import get_environment
from edge_actors.workflow import WorkflowBuilder, WorkflowError

if TYPE_CHECKING:
    from edge_actors.runtime import Engine

NUMBER = (int, float)
PHASES = ("planning", "pre_sync", "sync", "cutover", "validation", "cleanup")
PHASES += ("completed", "failed", "rollback")


def typed(value: object, kind: type | tuple[type, ...]) -> Any:
    """``value`` if it has the original's type, else a TypeError (as such code would hit)."""
    if isinstance(value, bool) and kind in (int, float, NUMBER):
        raise TypeError(f"expected a number, got {value!r}")
    if not isinstance(value, kind):
        raise TypeError(f"expected {kind}, got {type(value).__name__}: {value!r}")
    return value


def when(text: object) -> dt.datetime:
    """An ISO 8601 string of the original's outputs, as an aware datetime."""
    parsed = dt.datetime.fromisoformat(typed(text, str))
    assert parsed.tzinfo is not None
    return parsed


class OriginalReader:
    """Reads every key of the original SDK's migration contract, with its types."""

    @staticmethod
    def envelope(r: dict[str, Any]) -> None:
        assert typed(r["status"], str) in ("success", "error")

    @staticmethod
    def plan(p: dict[str, Any]) -> None:
        typed(p["migration_id"], str)
        typed(p["source_edge"], str), typed(p["target_edge"], str)
        for workload in typed(p["workloads"], list):
            typed(workload, str)
        assert typed(p["strategy"], str) in ("live", "staged", "bulk", "incremental", "emergency")
        typed(p["data_size_estimate"], int)
        assert 1 <= typed(p["priority"], int) <= 10
        typed(p["constraints"], dict)
        when(p["created_at"])

    @classmethod
    def planned(cls, r: dict[str, Any]) -> None:
        cls.envelope(r)
        cls.plan(r["plan"])
        assert typed(r["estimated_duration"], NUMBER) >= 0

    @classmethod
    def executed(cls, r: dict[str, Any]) -> None:
        cls.envelope(r)
        result = typed(r["result"], dict)
        assert typed(result["status"], str) in ("success", "failed")
        typed(result["migration_id"], str)
        if result["status"] == "success":
            assert typed(result["duration"], NUMBER) >= 0
            typed(result["data_transferred"], int)
            for workload in typed(result["workloads_migrated"], list):
                typed(workload, str)

    @classmethod
    def progress(cls, r: dict[str, Any]) -> None:
        cls.envelope(r)
        p = typed(r["progress"], dict)
        typed(p["migration_id"], str)
        assert typed(p["phase"], str) in PHASES
        assert 0 <= typed(p["progress_percent"], NUMBER) <= 100
        typed(p["data_transferred"], int)
        for workload in typed(p["workloads_migrated"], list):
            typed(workload, str)
        when(p["start_time"])
        if p["estimated_completion"] is not None:
            when(p["estimated_completion"])
        for error in typed(p["errors"], list):
            typed(error, str)
        metrics = typed(p["metrics"], dict)
        typed(metrics["transfer_rate_mbps"], NUMBER), typed(metrics["paused"], NUMBER)

    @classmethod
    def paused(cls, r: dict[str, Any]) -> None:
        cls.envelope(r)
        result = r["result"]
        assert typed(result["status"], str) == "paused"
        typed(result["migration_id"], str)
        typed(result["checkpoint_id"], (str, type(None)))
        typed(result["can_resume"], bool)

    @classmethod
    def resumed(cls, r: dict[str, Any]) -> None:
        cls.envelope(r)
        result = r["result"]
        assert typed(result["status"], str) == "resumed"
        typed(result["migration_id"], str)
        assert typed(result["phase"], str) in PHASES

    @classmethod
    def rolled_back(cls, r: dict[str, Any]) -> None:
        cls.envelope(r)
        result = r["result"]
        assert typed(result["status"], str) == "rolled_back"
        typed(result["migration_id"], str)
        typed(result["checkpoint_used"], (str, type(None)))

    @classmethod
    def active(cls, r: dict[str, Any]) -> None:
        cls.envelope(r)
        for plan in typed(r["migrations"], list):
            cls.plan(plan)
        assert typed(r["count"], int) == len(r["migrations"])

    @classmethod
    def history(cls, r: dict[str, Any]) -> None:
        cls.envelope(r)
        for entry in typed(r["migrations"], list):
            typed(entry["migration_id"], str)
            when(entry["completed_at"])
            typed(entry["duration"], NUMBER)
            typed(entry["data_transferred"], int)
            for workload in typed(entry["workloads"], list):
                typed(workload, str)
        assert typed(r["count"], int) == len(r["migrations"])

    @classmethod
    def metrics(cls, r: dict[str, Any]) -> None:
        cls.envelope(r)
        m = typed(r["metrics"], dict)
        for key in ("total_migrations", "active_migrations", "completed_migrations"):
            typed(m[key], int)
        typed(m["failed_migrations"], int), typed(m["total_data_transferred"], int)
        assert 0.0 <= typed(m["success_rate"], NUMBER) <= 1.0

    @classmethod
    def migrator(cls, r: dict[str, Any], active: bool) -> None:
        cls.envelope(r)
        assert typed(r["migrator_active"], bool) is active


def plan(node_id: str, source: str, workloads: list[str], **extra: Any) -> Any:
    return mig(
        node_id,
        operation="plan_migration",
        source_edge=source,
        target_edge="edge-east",
        workloads=workloads,
        **extra,
    )


def one(engine: Engine, **config: Any) -> dict[str, Any]:
    return run_nodes(engine, mig("n", **config))["n"]


def test_a_script_written_for_the_original_sdk_runs_unchanged(engine: Engine) -> None:
    """Only the original's operations and parameters; every key read with its type."""
    read = OriginalReader
    for workload in ("svc-a", "svc-b", "svc-c"):
        seed_workload("edge-west", workload, records=300, engine=engine)
    started = run_nodes(engine, mig("s", operation="start_migrator", checkpoint_interval=30))
    read.migrator(started["s"], active=True)
    r = run_nodes(
        engine,
        plan("plan_a", "edge-west", ["svc-a"], strategy="live", priority=7),
        plan("plan_b", "edge-west", ["svc-b"], strategy="incremental"),
        plan("plan_c", "edge-west", ["svc-c"], strategy="bulk", bandwidth_limit_mbps=100),
    )
    for node_id in ("plan_a", "plan_b", "plan_c"):
        read.planned(r[node_id])
    a, b, c = (r[n]["plan"]["migration_id"] for n in ("plan_a", "plan_b", "plan_c"))
    assert r["plan_a"]["plan"]["priority"] == 7
    assert r["plan_a"]["plan"]["data_size_estimate"] == r["plan_a"]["plan"]["estimated_bytes"] > 0
    # 100 Mbit/s: the estimate is the plan's bytes at that rate, and says so
    size = r["plan_c"]["plan"]["data_size_estimate"]
    assert r["plan_c"]["estimated_duration"] == pytest.approx(size * 8 / 100e6)
    read.active(active := one(engine, operation="get_active_migrations"))
    assert {a, b, c} <= {m["migration_id"] for m in active["migrations"]}

    executed = one(engine, operation="execute_migration", migration_id=a)
    read.executed(executed)
    result = executed["result"]
    assert (result["status"], result["migration_id"]) == ("success", a)
    assert result["workloads_migrated"] == ["svc-a"]
    assert result["data_transferred"] > 0
    progress = one(engine, operation="get_progress", migration_id=a)
    read.progress(progress)
    p = progress["progress"]
    assert (p["phase"], p["progress_percent"]) == ("completed", 100.0)
    assert p["estimated_completion"] is None
    assert p["data_transferred"] == result["data_transferred"]
    assert when(p["start_time"]) == when(r["plan_a"]["plan"]["created_at"])

    paused = one(engine, operation="pause_migration", migration_id=b)
    read.paused(paused)
    assert paused["result"]["can_resume"] is True
    read.progress(held := one(engine, operation="get_progress", migration_id=b))
    assert held["progress"]["metrics"]["paused"] == 1
    resumed = one(engine, operation="resume_migration", migration_id=b)
    read.resumed(resumed)
    read.paused(one(engine, operation="pause_migration", migration_id=c))
    rolled = one(engine, operation="rollback_migration", migration_id=c)
    read.rolled_back(rolled)
    assert rolled["result"]["checkpoint_used"] is None

    history = one(engine, operation="get_history")
    read.history(history)
    assert [e["migration_id"] for e in history["migrations"]][:1] == [a]
    assert history["migrations"][0]["data_transferred"] == result["data_transferred"]
    metrics = one(engine, operation="get_metrics")
    read.metrics(metrics)
    m = metrics["metrics"]
    assert m["total_migrations"] == 3
    assert m["completed_migrations"] >= 1
    assert m["success_rate"] == pytest.approx(m["completed_migrations"] / 3)
    assert m["total_data_transferred"] >= result["data_transferred"]
    read.migrator(one(engine, operation="stop_migrator"), active=False)


def test_execute_waits_for_the_end_by_default_and_wait_false_returns_at_once(
    engine: Engine,
) -> None:
    seed_workload("edge-west", "slow", records=600, engine=engine)
    seed_workload("edge-west", "fast", records=50, engine=engine)
    paced = {"bandwidth_limit_mbps": 0.2, "sync_batch_size": 50}  # ~160 kB: seconds
    r = run_nodes(
        engine,
        plan("plan", "edge-west", ["slow"], **paced),
        mig("exec", operation="execute_migration", wait=False),
        links=(("plan", "status", "exec", "input"),),
    )
    assert r["exec"]["status"] == "success"
    assert r["exec"]["result"]["status"] not in ("success", "failed")  # still going
    assert r["exec"]["state"] != "completed"
    slow = r["plan"]["migration_id"]
    assert one(engine, operation="pause_migration", migration_id=slow)["state"] == "paused"
    r = run_nodes(
        engine,
        plan("plan", "edge-west", ["fast"]),
        mig("exec", operation="execute_migration"),
        links=(("plan", "status", "exec", "input"),),
    )
    assert r["exec"]["state"] == "completed"  # the original's promise: it ran to its end
    assert r["exec"]["result"]["status"] == "success"
    # executing the paused one again is refused (resume_migration continues it)
    again = one(engine, operation="execute_migration", migration_id=slow)
    assert again["status"] == "error"
    assert slow in again["error"]


def test_rolling_back_a_migration_that_never_ran_cancels_it(engine: Engine) -> None:
    seed_workload("edge-west", "idle", records=5, engine=engine)
    planned = run_nodes(engine, plan("p", "edge-west", ["idle"]))["p"]
    rolled = one(engine, operation="rollback_migration", migration_id=planned["migration_id"])
    OriginalReader.rolled_back(rolled)
    assert rolled["state"] == "cancelled"  # nothing had moved: the journal says what happened


def test_failures_are_status_error_with_the_detail(engine: Engine) -> None:
    missing = one(engine, operation="execute_migration", migration_id="mig-nope")
    assert missing["status"] == "error"
    assert "execute_migration" in missing["error"]
    assert "mig-nope" in missing["error"]
    plan_failed = run_nodes(engine, plan("p", "edge-west", ["ghost"]))["p"]
    assert plan_failed["status"] == "error"
    assert "ghost" in plan_failed["error"]


@pytest.mark.parametrize(
    "node", [mig("n", operation="frobnicate"), mon("n", operation="frobnicate", edge_node="x")]
)
def test_an_unknown_operation_is_an_error_result_not_a_build_failure(
    engine: Engine, node: tuple[str, str, dict[str, Any]]
) -> None:
    with capture_logs() as logs:
        result = run_nodes(engine, node, mig("after", operation="get_metrics"),
                           links=(("n", "status", "after", "input"),))  # fmt: skip
    assert result["n"]["status"] == "error"
    assert "unknown operation 'frobnicate'" in result["n"]["error"]
    assert "plan_migration" in result["n"]["error"] or "get_health" in result["n"]["error"]
    assert result["after"]["status"] == "skipped"
    assert "upstream node 'n' failed" in result["after"]["error"]
    [warning] = [e for e in logs if e["event"] == "node.finished" and e["log_level"] == "warning"]
    assert "frobnicate" in warning["error"]


def test_a_failing_node_logs_its_reason_at_warning_level(engine: Engine) -> None:
    with capture_logs() as logs:
        result = one(engine, operation="get_progress", migration_id="mig-missing")
    assert result["status"] == "error"
    warnings = [e for e in logs if e["log_level"] == "warning" and e.get("node_id") == "n"]
    assert [e["error"] for e in warnings] == [result["error"]]


def test_two_upstream_plans_and_no_explicit_id_is_an_error_naming_both(engine: Engine) -> None:
    for workload in ("one", "two"):
        seed_workload("edge-west", workload, records=10, engine=engine)
    r = run_nodes(
        engine,
        plan("p1", "edge-west", ["one"]),
        plan("p2", "edge-west", ["two"]),
        mig("exec", operation="execute_migration"),
        links=(("p1", "status", "exec", "a"), ("p2", "status", "exec", "b")),
    )
    ids = [r["p1"]["migration_id"], r["p2"]["migration_id"]]
    assert r["exec"]["status"] == "error"
    for node_id, mid in zip(("p1", "p2"), ids, strict=True):
        assert f"plan node '{node_id}' gives '{mid}'" in r["exec"]["error"]
    # two connected inputs carrying different ids: the same refusal, naming the inputs
    r = run_nodes(
        engine,
        plan("p1", "edge-west", ["one"], migration_id="mig-one"),
        plan("p2", "edge-west", ["two"], migration_id="mig-two"),
        mig("progress", operation="get_progress"),
        links=(("p1", "plan", "progress", "first"), ("p2", "plan", "progress", "second")),
    )
    assert r["progress"]["status"] == "error"
    assert "input 'first' gives 'mig-one'" in r["progress"]["error"]
    assert "input 'second' gives 'mig-two'" in r["progress"]["error"]
    # an explicit id settles it
    r = run_nodes(
        engine,
        plan("p1", "edge-west", ["one"], migration_id="mig-one-b"),
        plan("p2", "edge-west", ["two"], migration_id="mig-two-b"),
        mig("progress", operation="get_progress"),
        links=(
            ("p1", "plan", "progress", "first"),
            ("p2", "plan.migration_id", "progress", "migration_id"),
        ),
    )
    assert r["progress"]["progress"]["migration_id"] == "mig-two-b"


@pytest.mark.parametrize(
    ("target_input", "fragment"),
    [
        ("migration_idd", "has no parameter 'migration_idd': did you mean 'migration_id'?"),
        ("checkpoint_id", "that is a parameter of rollback_migration"),
    ],
)
def test_connection_input_names_are_checked_at_build(target_input: str, fragment: str) -> None:
    builder = WorkflowBuilder()
    builder.add_node("EdgeMigrationNode", "plan", {"operation": "get_active_migrations"})
    builder.add_node("EdgeMigrationNode", "progress", {"operation": "get_progress"})
    builder.add_connection("plan", "result", "progress", target_input)
    with pytest.raises(WorkflowError, match="get_progress") as caught:
        builder.build()
    assert fragment in str(caught.value)
    # a free input name (ordering, data the node searches) is fine
    builder = WorkflowBuilder()
    builder.add_node("EdgeMigrationNode", "plan", {"operation": "get_active_migrations"})
    builder.add_node("EdgeMigrationNode", "progress", {"operation": "get_progress"})
    builder.add_connection("plan", "result", "progress", "input")
    builder.build()


def test_stop_migrator_pauses_what_runs_and_resume_continues_it(engine: Engine) -> None:
    seed_workload("edge-west", "busy", records=600, engine=engine)
    paced = {"bandwidth_limit_mbps": 0.2, "sync_batch_size": 50}
    r = run_nodes(
        engine,
        plan("plan", "edge-west", ["busy"], **paced),
        mig("exec", operation="execute_migration", wait=False),
        links=(("plan", "status", "exec", "input"),),
    )
    migration_id = r["plan"]["migration_id"]
    stopped = one(engine, operation="stop_migrator")
    assert stopped["migrator_active"] is False
    assert stopped["paused"] == [migration_id]
    held = one(engine, operation="get_progress", migration_id=migration_id)["progress"]
    assert (held["state"], held["metrics"]["paused"], held["estimated_completion"]) == (
        "paused",
        1,
        None,
    )
    assert one(engine, operation="start_migrator")["migrator_active"] is True
    resumed = one(engine, operation="resume_migration", migration_id=migration_id)
    assert resumed["result"]["status"] == "resumed"
    env = engine.call(get_environment, engine)

    async def settle() -> str:
        status = await env.migration.wait(migration_id, {"completed", "failed"}, timeout=60)
        return status.state

    assert engine.call(settle) == "completed"
    final = one(engine, operation="get_progress", migration_id=migration_id)["progress"]
    assert final["workloads_migrated"] == ["busy"]
