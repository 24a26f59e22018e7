"""EdgeMigrationNode through LocalRuntime on the embedded default: every operation."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from nodes_support import mig, run_nodes

from edge_actors import seed_workload
from edge_actors.edge import EdgeClient
from edge_actors.runtime import LocalRuntime, get_environment
from edge_actors.workflow import WorkflowBuilder, WorkflowError

if TYPE_CHECKING:
    from edge_actors.runtime import Engine


def plan_cfg(source: str, target: str, workloads: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "operation": "plan_migration",
        "source_edge": source,
        "target_edge": target,
        "workloads": workloads,
        **extra,
    }


def wait_state(engine: Engine, migration_id: str, states: set[str], limit: float = 60.0) -> str:
    """Poll get_progress from fresh workflows until the migration is in ``states``."""
    deadline = time.monotonic() + limit
    while True:
        results = run_nodes(engine, mig("p", operation="get_progress", migration_id=migration_id))
        assert results["p"]["status"] == "success", results["p"]
        state = results["p"]["progress"]["state"]
        if state in states or time.monotonic() > deadline:
            return str(state)
        time.sleep(0.05)


def test_plan_then_active_and_full_plan(engine: Engine) -> None:
    seed_workload("edge-w", "api-service", records=50, engine=engine)
    results = run_nodes(
        engine,
        mig("plan", **plan_cfg("edge-w", "edge-e", ["api-service"], priority=7)),
        mig("status", operation="get_active_migrations"),
        links=(("plan", "status", "status", "input"),),
    )
    plan = results["plan"]
    assert plan["status"] == "success"
    migration_id = plan["plan"]["migration_id"]
    assert plan["migration_id"] == migration_id == plan["result"]["migration_id"]
    assert plan["plan"]["strategy"] == "live"
    assert plan["plan"]["priority"] == 7
    assert plan["plan"]["estimates"][0]["records"] == 50
    active = results["status"]["migrations"]
    assert migration_id in [m["migration_id"] for m in active]
    assert results["status"]["result"] == active


def test_every_plan_parameter_reaches_the_engine(engine: Engine) -> None:
    seed_workload("edge-w", "large-data", records=10, engine=engine)
    cfg = plan_cfg(
        "edge-w",
        "edge-e",
        ["large-data"],
        strategy="incremental",
        priority=9,
        constraints={"sync_interval": "10s", "delta_threshold": "100MB", "max_downtime": "5m"},
        bandwidth_limit_mbps=100,
        enable_compression=False,
        sync_batch_size=250,
        checkpoint_interval="45s",
        test_endpoints=["/api/health"],
    )
    plan = run_nodes(engine, mig("plan", **cfg))["plan"]["plan"]
    assert plan["strategy"] == "incremental"
    assert plan["priority"] == 9
    assert plan["bandwidth_bps"] == 100e6
    assert plan["enable_compression"] is False
    assert plan["sync_batch_size"] == 250
    assert plan["checkpoint_interval_s"] == 45.0
    assert plan["test_endpoints"] == ["/api/health"]
    assert plan["constraints"]["sync_interval_s"] == 10.0
    assert plan["constraints"]["delta_threshold_bytes"] == 100_000_000
    assert plan["constraints"]["max_downtime_s"] == 300.0


def test_start_migrator_sets_defaults_for_later_plans(engine: Engine) -> None:
    seed_workload("edge-w", "app", records=5, engine=engine)
    results = run_nodes(
        engine,
        mig(
            "start",
            operation="start_migrator",
            checkpoint_interval=30,
            bandwidth_limit_mbps=500,
            sync_batch_size=200,
            enable_compression=True,
            max_concurrent=3,
        ),
        mig("plan", **plan_cfg("edge-w", "edge-e", ["app"])),
        links=(("start", "status", "plan", "input"),),
    )
    start = results["start"]
    assert start["status"] == "success"
    assert start["defaults"] == {
        "checkpoint_interval_s": 30.0,
        "bandwidth_limit_mbps": 500.0,
        "sync_batch_size": 200,
        "enable_compression": True,
        "max_concurrent": 3,
        "link_transfers": 4,  # not a parameter of the node: the service's default
    }
    plan = results["plan"]["plan"]
    assert plan["checkpoint_interval_s"] == 30.0
    assert plan["bandwidth_bps"] == 500e6
    assert plan["sync_batch_size"] == 200


def test_execute_wait_progress_validation_metrics_history(engine: Engine) -> None:
    seed_workload("edge-w", "checkout", records=300, engine=engine)
    results = run_nodes(
        engine,
        mig("plan", **plan_cfg("edge-w", "edge-e", ["checkout"])),
        mig("exec", operation="execute_migration", wait=True),
        mig(
            "validate",
            operation="get_progress",
            validate_functionality=True,
            test_endpoints=["/api/health", "/v1/workloads/{workload}/health", "/nope"],
        ),
        mig("metrics", operation="get_metrics"),
        mig("history", operation="get_history"),
        links=(
            ("plan", "status", "exec", "input"),
            ("exec", "result", "validate", "migration_id"),
            ("validate", "result", "metrics", "migration_id"),
            ("exec", "result", "history", "migration_id"),
        ),
    )
    migration_id = results["plan"]["migration_id"]
    assert results["exec"]["status"] == "success", results["exec"]
    assert results["exec"]["state"] == "completed"
    progress = results["validate"]["progress"]
    assert progress["state"] == "completed"
    assert progress["records_done"] >= 300
    validation = results["validate"]["validation"]
    assert validation["digests_match"] is True
    side = validation["workloads"]["checkout"]
    assert side["target"]["records"] == 300
    assert side["target"]["digest"]
    assert side["source"]["status"] == "moved"
    assert [(p["path"], p["status"]) for p in validation["endpoints"]] == [
        ("/api/health", 200),
        ("/v1/workloads/checkout/health", 200),
        ("/nope", 404),
    ]
    assert validation["passed"] is False  # /nope answered 404
    metrics = results["metrics"]["metrics"]
    assert metrics["migration_id"] == migration_id
    assert metrics["records"] >= 300
    assert metrics["bytes_raw"] > 0
    history = results["history"]
    assert history["migration_id"] == migration_id
    assert [e["to_state"] for e in history["history"]][-1] == "completed"
    assert history["checkpoints"]
    assert all(c["checkpoint_id"].startswith(migration_id) for c in history["checkpoints"])
    overall = run_nodes(engine, mig("m", operation="get_metrics"))["m"]["metrics"]
    assert overall["completed"] == 1


def test_live_validation_of_both_sides_before_cleanup(engine: Engine) -> None:
    """While nothing moved yet, both sides are compared live: no target copy, no match."""
    seed_workload("edge-w", "orders", records=20, engine=engine)
    results = run_nodes(
        engine,
        mig("plan", **plan_cfg("edge-w", "edge-e", ["orders"])),
        mig("v", operation="get_progress", validate_functionality=True),
        links=(("plan", "status", "v", "input"),),
    )
    validation = results["v"]["validation"]
    assert validation["digests_match"] is False
    assert validation["workloads"]["orders"]["target"] is None
    assert validation["workloads"]["orders"]["source"]["records"] == 20


def test_migration_id_resolution_paths(engine: Engine) -> None:
    seed_workload("edge-w", "svc", records=5, engine=engine)
    results = run_nodes(
        engine,
        mig("plan", **plan_cfg("edge-w", "edge-e", ["svc"])),
        # nearest upstream plan_migration (input carries only "success")
        mig("by_upstream", operation="get_progress"),
        # a connected dict on an unrelated input that carries migration_id
        mig("by_input", operation="get_progress"),
        # a connected dict into the migration_id parameter itself
        mig("by_param_dict", operation="get_progress"),
        links=(
            ("plan", "status", "by_upstream", "input"),
            ("plan", "plan", "by_input", "plan_info"),
            ("by_upstream", "result", "by_param_dict", "migration_id"),
        ),
    )
    migration_id = results["plan"]["migration_id"]
    for node in ("by_upstream", "by_input", "by_param_dict"):
        assert results[node]["status"] == "success", results[node]
        assert results[node]["migration_id"] == migration_id
    explicit = run_nodes(engine, mig("x", operation="get_progress", migration_id=migration_id))
    assert explicit["x"]["progress"]["migration_id"] == migration_id
    missing = run_nodes(engine, mig("lost", operation="execute_migration"))["lost"]
    assert missing["status"] == "error"
    assert "no migration_id" in missing["error"]
    assert "plan_migration" in missing["error"]
    unknown = run_nodes(engine, mig("u", operation="pause_migration", migration_id="mig-nope"))
    assert unknown["u"]["status"] == "error"
    assert "mig-nope" in unknown["u"]["error"]
    assert "Traceback" not in unknown["u"]["error"]


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        (
            {"strategy": "teleport"},
            "strategy: expected one of live, staged, bulk, incremental, emergency, got 'teleport'",
        ),
        ({"priority": 11}, "priority"),
        ({"priority": 0}, "priority"),
        ({"constraints": {"max_downtime": "5 fortnights"}}, "constraints.max_downtime"),
        ({"constraints": {"warp": True}}, "constraints.warp"),
        ({"constraints": {"time_window": "25:00-06:00"}}, "constraints.time_window"),
        ({"constraints": {"delta_threshold": "lots"}}, "constraints.delta_threshold"),
        ({"constraints": {"bandwidth": "fast"}}, "constraints.bandwidth"),
        ({"bandwidth_limit_mbps": "fast"}, "bandwidth_limit_mbps"),
        ({"checkpoint_interval": "soon"}, "checkpoint_interval"),
        ({"sync_batch_size": 0}, "sync_batch_size"),
        ({"enable_compression": "yes"}, "enable_compression"),
        ({"workloads": "api-service"}, "workloads"),
        ({"workloads": ["Bad Name"]}, "workloads"),
        ({"target_edge": "edge-w"}, "target_edge"),
    ],
)
def test_malformed_plan_parameters_rejected_at_build(config: dict[str, Any], fragment: str) -> None:
    builder = WorkflowBuilder()
    builder.add_node(
        "EdgeMigrationNode", "bad_node", {**plan_cfg("edge-w", "edge-e", ["app"]), **config}
    )
    with pytest.raises(WorkflowError) as caught:
        builder.build()
    message = str(caught.value)
    assert "'bad_node'" in message
    assert fragment in message


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"operation": "execute_migration", "wait": "yes"}, "wait"),
        ({"operation": "execute_migration", "migration_id": "../x"}, "migration_id"),
        ({"operation": "start_migrator", "max_concurrent": 0}, "max_concurrent"),
        ({"operation": "start_migrator", "checkpoint_interval": "-3s"}, "checkpoint_interval"),
        ({"operation": "get_progress", "test_endpoints": ["api"]}, "test_endpoints"),
    ],
)
def test_malformed_control_parameters_rejected_at_build(
    config: dict[str, Any], fragment: str
) -> None:
    builder = WorkflowBuilder()
    builder.add_node("EdgeMigrationNode", "n1", config)
    with pytest.raises(WorkflowError) as caught:
        builder.build()
    assert "'n1'" in str(caught.value)
    assert fragment in str(caught.value)


def test_plan_of_missing_workload_fails_clearly(engine: Engine) -> None:
    results = run_nodes(engine, mig("plan", **plan_cfg("edge-w", "edge-e", ["ghost-app"])))
    plan = results["plan"]
    assert plan["status"] == "error"
    assert plan["result"] is None
    assert "plan_migration" in plan["error"]
    assert "ghost-app" in plan["error"]
    assert "edge-w" in plan["error"]


def test_plan_starts_embedded_edges(engine: Engine) -> None:
    seed_workload("edge-src", "app", records=3, engine=engine)
    run_nodes(engine, mig("plan", **plan_cfg("edge-src", "edge-new", ["app"])))

    async def edges() -> list[str]:
        return (await get_environment(engine)).edges()

    assert engine.call(edges) == ["edge-new", "edge-src"]


def test_shared_state_across_runtimes_and_execute_async(engine: Engine) -> None:
    seed_workload("edge-w", "user-service", records=5, engine=engine)
    first, second = LocalRuntime(engine), LocalRuntime(engine)
    builder = WorkflowBuilder()
    builder.add_node("EdgeMigrationNode", "plan", plan_cfg("edge-w", "edge-e", ["user-service"]))
    plan_results, _ = first.execute(builder.build())
    migration_id = plan_results["plan"]["migration_id"]

    check = WorkflowBuilder()
    check.add_node("EdgeMigrationNode", "active", {"operation": "get_active_migrations"})

    async def from_a_loop() -> dict[str, Any]:
        results, _ = await second.execute_async(check.build())
        return results

    results = anyio.run(from_a_loop)
    assert migration_id in [m["migration_id"] for m in results["active"]["migrations"]]


def test_migration_keeps_running_after_execute_returns(engine: Engine) -> None:
    seed_workload("edge-w", "cache-layer", records=400, engine=engine)
    results = run_nodes(
        engine,
        mig("plan", **plan_cfg("edge-w", "edge-e", ["cache-layer"])),
        mig("exec", operation="execute_migration", wait=False),
        links=(("plan", "status", "exec", "input"),),
    )
    assert results["exec"]["status"] == "success"
    assert results["exec"]["state"] != "completed" or results["exec"]["migration"]
    migration_id = results["plan"]["migration_id"]
    assert wait_state(engine, migration_id, {"completed"}) == "completed"
    env = engine.call(get_environment, engine)

    async def read_back() -> bytes | None:
        async with EdgeClient(env.daemon("edge-w").url, token=env.daemon("edge-w").token) as client:  # type: ignore[union-attr]
            return await client.get("cache-layer", "rec-000007")

    value = engine.call(read_back)  # follows the 307 to edge-e
    assert value is not None
    assert value.startswith(b'{"id":7,')


def test_pause_resume_rollback_and_cancel(engine: Engine) -> None:
    seed_workload("edge-w", "db", records=2000, engine=engine)
    seed_workload("edge-w", "other", records=20, engine=engine)
    # ~540 kB at 0.2 Mbit/s: the sync phase lasts long enough to pause it mid-way
    paced = {"bandwidth_limit_mbps": 0.2, "sync_batch_size": 50}
    results = run_nodes(
        engine,
        mig("plan", **plan_cfg("edge-w", "edge-e", ["db"], **paced)),
        mig("exec", operation="execute_migration", auto_rollback=True, wait=False),
        links=(("plan", "status", "exec", "input"),),
    )
    migration_id = results["plan"]["migration_id"]
    assert results["exec"]["migration"]["auto_rollback"] is True
    assert wait_state(engine, migration_id, {"sync"}) == "sync"

    paused = run_nodes(engine, mig("p", operation="pause_migration", migration_id=migration_id))
    assert paused["p"]["status"] == "success", paused["p"]
    assert paused["p"]["state"] == "paused"

    history = run_nodes(engine, mig("h", operation="get_history", migration_id=migration_id))
    checkpoint_id = history["h"]["checkpoints"][-1]["checkpoint_id"]
    back = run_nodes(
        engine,
        mig(
            "r",
            operation="rollback_migration",
            migration_id=migration_id,
            checkpoint_id=checkpoint_id,
        ),
    )["r"]
    assert back["status"] == "success", back
    assert back["checkpoint_id"] == checkpoint_id
    assert back["state"] == "paused"

    resumed = run_nodes(engine, mig("r", operation="resume_migration", migration_id=migration_id))
    assert resumed["r"]["status"] == "success", resumed["r"]
    assert resumed["r"]["state"] not in ("paused", "failed")

    full = run_nodes(engine, mig("r", operation="rollback_migration", migration_id=migration_id))
    assert full["r"]["status"] == "success", full["r"]
    assert full["r"]["state"] == "rolled_back"

    # a second migration, planned and cancelled
    second = run_nodes(
        engine,
        mig("plan", **plan_cfg("edge-w", "edge-e", ["other"])),
        mig("cancel", operation="cancel_migration"),
        links=(("plan", "status", "cancel", "input"),),
    )
    assert second["cancel"]["status"] == "success", second["cancel"]
    assert second["cancel"]["state"] == "cancelled"

    env = engine.call(get_environment, engine)

    async def served_by_source() -> tuple[str, int]:
        info = await env.gateway.workload_info("edge-w", "db")
        return info.status, info.records

    assert engine.call(served_by_source) == ("active", 2000)


def test_pause_of_a_planned_migration_then_resume(engine: Engine) -> None:
    """The guide pauses a migration it only planned: it is held before it starts."""
    seed_workload("edge-w", "long-running-service", records=30, engine=engine)
    results = run_nodes(
        engine,
        mig("plan", **plan_cfg("edge-w", "edge-e", ["long-running-service"])),
        mig("pause", operation="pause_migration"),
        links=(("plan", "status", "pause", "input"),),
    )
    pause = results["pause"]
    assert pause["status"] == "success", pause
    assert pause["state"] == "paused"
    migration_id = results["plan"]["migration_id"]
    history = run_nodes(engine, mig("h", operation="get_history", migration_id=migration_id))
    states = [event["to_state"] for event in history["h"]["history"]]
    assert states[-1] == "paused"
    assert "queued" not in states, "a paused planned migration must not have started"
    resumed = run_nodes(engine, mig("r", operation="resume_migration", migration_id=migration_id))
    assert resumed["r"]["status"] == "success", resumed["r"]
    assert wait_state(engine, migration_id, {"completed"}) == "completed"


def test_illegal_transition_is_a_clear_failure(engine: Engine) -> None:
    seed_workload("edge-w", "app", records=5, engine=engine)
    results = run_nodes(
        engine,
        mig("plan", **plan_cfg("edge-w", "edge-e", ["app"])),
        mig("resume", operation="resume_migration"),
        links=(("plan", "status", "resume", "input"),),
    )
    resume = results["resume"]
    assert resume["status"] == "error"
    assert resume["error"].startswith("resume_migration: ")
    assert "planned" in resume["error"]
