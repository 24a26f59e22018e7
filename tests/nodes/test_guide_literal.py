"""The guide's samples, as literally as possible: only the imports differ (and seeding first).

Each sample's text is run with ``exec`` on the process-wide default engine (as a user's
script would), with ``EDGE_ACTORS_DATA_DIR`` pointing into the test's tmp dir; then what
its prose promises is checked from later workflows.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from edge_actors import seed_workload
from edge_actors.runtime import default_engine
from edge_actors.runtime.local import LocalRuntime
from edge_actors.workflow import WorkflowError
from edge_actors.workflow.builder import WorkflowBuilder

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

IMPORTS = """\
from edge_actors.workflow.builder import WorkflowBuilder
from edge_actors.runtime.local import LocalRuntime
"""


@pytest.fixture(autouse=True)
def fresh_default_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("EDGE_ACTORS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("EDGE_ACTORS_TOPOLOGY", raising=False)
    default_engine().shutdown()
    try:
        yield
    finally:
        default_engine().shutdown()


def run_sample(text: str, **names: Any) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__main__", **names}
    exec(compile(text, "<guide sample>", "exec"), namespace)
    return namespace


def one(config: dict[str, Any]) -> dict[str, Any]:
    workflow = WorkflowBuilder()
    workflow.add_node("EdgeMigrationNode", "n", config)
    results, _ = LocalRuntime().execute(workflow.build())
    return results["n"]


def wait_completed(migration_id: str, limit: float = 60.0) -> str:
    deadline = time.monotonic() + limit
    while True:
        state = one({"operation": "get_progress", "migration_id": migration_id})["progress"][
            "state"
        ]
        if state in ("completed", "failed", "rolled_back") or time.monotonic() > deadline:
            return str(state)
        time.sleep(0.05)


BASIC = (
    IMPORTS
    + """
def basic_migration():
    workflow = WorkflowBuilder()

    # Plan a migration - shared state automatically available to other nodes
    workflow.add_node("EdgeMigrationNode", "plan", {
        "operation": "plan_migration",
        "source_edge": "edge-west-1",
        "target_edge": "edge-east-1",
        "workloads": ["api-service", "cache-layer"],
        "strategy": "live"
    })

    # Check migration status (demonstrates shared state access)
    workflow.add_node("EdgeMigrationNode", "status", {
        "operation": "get_active_migrations"
    })

    # Connect for sequential execution
    workflow.add_connection("plan", "status", "status", "input")

    # Execute
    runtime = LocalRuntime()
    results, run_id = runtime.execute(workflow.build())

    # Migration plan is now accessible across all EdgeMigrationNode instances
    migration_id = results["plan"]["plan"]["migration_id"]
    print(f"Migration {migration_id} planned and visible system-wide")

    return results

# Run the migration
basic_migration()
"""
)


def test_basic_migration(capsys: pytest.CaptureFixture[str]) -> None:
    for workload in ("api-service", "cache-layer"):
        seed_workload("edge-west-1", workload, records=100)
    run_sample(BASIC)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.endswith("planned and visible system-wide")
    migration_id = line.split()[1]
    # "visible system-wide": a separate workflow on a separate runtime sees it
    active = one({"operation": "get_active_migrations"})["migrations"]
    assert migration_id in [m["migration_id"] for m in active]


PAUSE_RESUME = (
    IMPORTS
    + """
def pause_resume_migration():
    # Create migration plan in first workflow
    plan_workflow = WorkflowBuilder()
    plan_workflow.add_node("EdgeMigrationNode", "plan", {
        "operation": "plan_migration",
        "source_edge": "edge-source",
        "target_edge": "edge-target",
        "workloads": ["long-running-service"],
        "strategy": "incremental"
    })

    runtime = LocalRuntime()
    plan_results, _ = runtime.execute(plan_workflow.build())
    migration_id = plan_results["plan"]["plan"]["migration_id"]

    # Pause migration in separate workflow (shared state coordination)
    pause_workflow = WorkflowBuilder()
    pause_workflow.add_node("EdgeMigrationNode", "pause", {
        "operation": "pause_migration",
        "migration_id": migration_id
    })

    runtime.execute(pause_workflow.build())

    # Resume migration later (again using shared state)
    resume_workflow = WorkflowBuilder()
    resume_workflow.add_node("EdgeMigrationNode", "resume", {
        "operation": "resume_migration",
        "migration_id": migration_id
    })

    resume_results, _ = runtime.execute(resume_workflow.build())
    return resume_results

# Run pause/resume example
pause_resume_migration()
"""
)


def test_pause_and_resume() -> None:
    seed_workload("edge-source", "long-running-service", records=200)
    run_sample(PAUSE_RESUME)
    history = one({"operation": "get_history"})
    transitions = [(e["from_state"], e["to_state"]) for e in history["history"]]
    assert any(to == "paused" for _, to in transitions), transitions
    assert any(frm == "paused" for frm, _ in transitions), transitions
    migration_id = history["history"][0]["migration_id"]
    # resumed, the incremental migration runs to the end
    assert wait_completed(migration_id) == "completed"


STRATEGY_SNIPPETS: dict[str, tuple[str, str, list[str], str]] = {
    "live": (
        "primary",
        "migrate",
        ["critical-app"],
        """
workflow.add_node("EdgeMigrationNode", "migrate", {
    "operation": "plan_migration",
    "source_edge": "primary",
    "target_edge": "secondary",
    "workloads": ["critical-app"],
    "strategy": "live",
    "constraints": {
        "max_downtime": "30s",
        "sync_interval": "5s"
    }
})
""",
    ),
    "staged": (
        "datacenter-1",
        "migrate",
        ["database", "file-storage"],
        """
workflow.add_node("EdgeMigrationNode", "migrate", {
    "operation": "plan_migration",
    "source_edge": "datacenter-1",
    "target_edge": "datacenter-2",
    "workloads": ["database", "file-storage"],
    "strategy": "staged",
    "constraints": {
        "time_window": "02:00-06:00",
        "validation_required": True
    }
})
""",
    ),
    "bulk": (
        "old-edge",
        "migrate",
        ["batch-processor", "logging"],
        """
workflow.add_node("EdgeMigrationNode", "migrate", {
    "operation": "plan_migration",
    "source_edge": "old-edge",
    "target_edge": "new-edge",
    "workloads": ["batch-processor", "logging"],
    "strategy": "bulk",
    "bandwidth_limit_mbps": 1000
})
""",
    ),
    "incremental": (
        "primary-db",
        "migrate",
        ["large-database"],
        """
workflow.add_node("EdgeMigrationNode", "migrate", {
    "operation": "plan_migration",
    "source_edge": "primary-db",
    "target_edge": "replica-db",
    "workloads": ["large-database"],
    "strategy": "incremental",
    "constraints": {
        "sync_interval": "10m",
        "delta_threshold": "100MB"
    }
})
""",
    ),
    "emergency": (
        "failing-edge",
        "evacuate",
        ["all-critical"],
        """
workflow.add_node("EdgeMigrationNode", "evacuate", {
    "operation": "plan_migration",
    "source_edge": "failing-edge",
    "target_edge": "backup-edge",
    "workloads": ["all-critical"],
    "strategy": "emergency",
    "priority": 10,  # Maximum priority
    "constraints": {
        "skip_validation": True,
        "force_migration": True
    }
})
""",
    ),
}


@pytest.mark.parametrize("strategy", sorted(STRATEGY_SNIPPETS))
def test_strategy_plans(strategy: str) -> None:
    source, node_id, workloads, snippet = STRATEGY_SNIPPETS[strategy]
    for workload in workloads:
        seed_workload(source, workload, records=20)
    workflow = WorkflowBuilder()
    run_sample(snippet, workflow=workflow)
    results, _ = LocalRuntime().execute(workflow.build())
    result = results[node_id]
    assert result["status"] == "success", result
    plan = result["plan"]
    assert plan["strategy"] == strategy
    assert plan["workloads"] == workloads
    constraints = plan["constraints"]
    if strategy == "live":
        assert (constraints["max_downtime_s"], constraints["sync_interval_s"]) == (30.0, 5.0)
    elif strategy == "staged":
        assert constraints["time_window"]["start_min"] == 120
        assert constraints["validation_required"] is True
    elif strategy == "bulk":
        assert plan["bandwidth_bps"] == 1000e6
    elif strategy == "incremental":
        assert constraints["sync_interval_s"] == 600.0
        assert constraints["delta_threshold_bytes"] == 100_000_000
    else:
        assert plan["priority"] == 10
        assert constraints["skip_validation"] is True
        assert constraints["force_migration"] is True


BANDWIDTH = """
workflow.add_node("EdgeMigrationNode", "migrate", {
    "operation": "plan_migration",
    "source_edge": "edge-1",
    "target_edge": "edge-2",
    "workloads": ["large-data"],
    "bandwidth_limit_mbps": 100,  # Limit to 100 Mbps
    "enable_compression": True,    # Enable compression
    "sync_batch_size": 1000       # Records per batch
})
"""


def test_bandwidth_management() -> None:
    seed_workload("edge-1", "large-data", records=2000, value_bytes=512)
    workflow = WorkflowBuilder()
    run_sample(BANDWIDTH, workflow=workflow)
    results, _ = LocalRuntime().execute(workflow.build())
    plan = results["migrate"]["plan"]
    assert plan["bandwidth_bps"] == 100e6
    assert plan["enable_compression"] is True
    assert plan["sync_batch_size"] == 1000
    executed = one(
        {"operation": "execute_migration", "migration_id": plan["migration_id"], "wait": True}
    )
    assert executed["state"] == "completed"
    metrics = one({"operation": "get_metrics", "migration_id": plan["migration_id"]})["metrics"]
    assert metrics["bytes_wire"] < metrics["bytes_raw"]  # compressed on the wire


COMPLETE = (
    IMPORTS
    + '''
def migrate_application_stack():
    """Migrate complete application stack between regions."""

    workflow = WorkflowBuilder()

    # 1. Start migration service
    workflow.add_node("EdgeMigrationNode", "start_service", {
        "operation": "start_migrator",
        "checkpoint_interval": 30,
        "bandwidth_limit_mbps": 500
    })

    # 2. Enable monitoring
    workflow.add_node("EdgeMonitoringNode", "monitor", {
        "operation": "start_monitor",
        "edge_nodes": ["us-west", "us-east"],
        "anomaly_detection": True
    })

    # 3. Migrate database first (incremental)
    workflow.add_node("EdgeMigrationNode", "migrate_db", {
        "operation": "plan_migration",
        "source_edge": "us-west",
        "target_edge": "us-east",
        "workloads": ["postgres-primary"],
        "strategy": "incremental",
        "priority": 9
    })

    # 4. Execute database migration
    workflow.add_node("EdgeMigrationNode", "exec_db", {
        "operation": "execute_migration"
    })

    # 5. Migrate application tier (staged)
    workflow.add_node("EdgeMigrationNode", "migrate_app", {
        "operation": "plan_migration",
        "source_edge": "us-west",
        "target_edge": "us-east",
        "workloads": ["api-service", "web-frontend"],
        "strategy": "staged",
        "priority": 8
    })

    # 6. Execute application migration
    workflow.add_node("EdgeMigrationNode", "exec_app", {
        "operation": "execute_migration"
    })

    # 7. Migrate cache layer (live)
    workflow.add_node("EdgeMigrationNode", "migrate_cache", {
        "operation": "plan_migration",
        "source_edge": "us-west",
        "target_edge": "us-east",
        "workloads": ["redis-cache"],
        "strategy": "live",
        "priority": 7
    })

    # 8. Execute cache migration
    workflow.add_node("EdgeMigrationNode", "exec_cache", {
        "operation": "execute_migration"
    })

    # 9. Final validation
    workflow.add_node("EdgeMonitoringNode", "validate", {
        "operation": "get_analytics",
        "edge_nodes": ["us-east"],
        "metrics": ["latency", "error_rate", "throughput"]
    })

    # 10. Get migration report
    workflow.add_node("EdgeMigrationNode", "report", {
        "operation": "get_metrics"
    })

    # Connect workflow
    workflow.add_connection("start_service", "status", "monitor", "input")
    workflow.add_connection("monitor", "status", "migrate_db", "input")
    # With shared state, migration_id is automatically accessible across nodes
    workflow.add_connection("migrate_db", "status", "exec_db", "input")
    workflow.add_connection("exec_db", "status", "migrate_app", "input")
    workflow.add_connection("migrate_app", "status", "exec_app", "input")
    workflow.add_connection("exec_app", "status", "migrate_cache", "input")
    workflow.add_connection("migrate_cache", "status", "exec_cache", "input")
    workflow.add_connection("exec_cache", "status", "validate", "input")
    workflow.add_connection("validate", "analytics", "report", "input")

    # Execute migration
    runtime = LocalRuntime()
    results, run_id = runtime.execute(workflow.build())

    # Check results
    print(f"Migration completed: {results['report']['metrics']}")
    return results

# Run the migration
if __name__ == "__main__":
    migrate_application_stack()
'''
)


def test_complete_multi_stage(capsys: pytest.CaptureFixture[str]) -> None:
    stack = ["postgres-primary", "api-service", "web-frontend", "redis-cache"]
    for workload in stack:
        seed_workload("us-west", workload, records=200)
    run_sample(COMPLETE)
    assert "Migration completed: {'migrations': 3" in capsys.readouterr().out
    history = one({"operation": "get_history"})["history"]
    ids = list(dict.fromkeys(e["migration_id"] for e in history))
    assert len(ids) == 3
    # execute_migration returns once its migration ended (the original SDK's default, so
    # "Migration completed" is true when printed); each execution was resolved to the
    # plan just upstream of it.
    states = [one({"operation": "get_progress", "migration_id": mid}) for mid in ids]
    assert [s["progress"]["state"] for s in states] == ["completed"] * 3
    moved: list[str] = []
    for mid in ids:
        check = one(
            {"operation": "get_progress", "migration_id": mid, "validate_functionality": True}
        )
        assert check["validation"]["digests_match"] is not False, repr(check["validation"])
        for workload, sides in check["validation"]["workloads"].items():
            assert sides["digests_match"] is not False
            assert sides["target"]["edge"] == "us-east"
            assert sides["target"]["records"] == 200
            moved.append(workload)
    assert sorted(moved) == sorted(stack)
    summary = one({"operation": "get_metrics"})["metrics"]
    assert summary["completed"] == 3
    assert summary["bytes_raw"] > 0


PROGRESS = """
# Start migration
workflow.add_node("EdgeMigrationNode", "migrate", {
    "operation": "execute_migration",
    "migration_id": "existing_migration_id"
})

# Monitor progress
workflow.add_node("EdgeMigrationNode", "progress", {
    "operation": "get_progress"
})

# Check metrics
workflow.add_node("EdgeMigrationNode", "metrics", {
    "operation": "get_metrics"
})

# Connect for continuous monitoring
# Pass migration_id from migrate result to progress
workflow.add_connection("migrate", "result", "progress", "migration_id")
workflow.add_connection("progress", "result", "metrics", "input")
"""


def test_progress_monitoring_with_the_guide_placeholder_id_fails_clearly() -> None:
    workflow = WorkflowBuilder()
    run_sample(PROGRESS, workflow=workflow)
    results, _ = LocalRuntime().execute(workflow.build())
    assert results["migrate"]["status"] == "error"
    assert "existing_migration_id" in results["migrate"]["error"]
    assert results["progress"]["status"] == "skipped"


RESOURCES = """
# Check resources before migration
workflow.add_node("EdgeMonitoringNode", "check_resources", {
    "operation": "get_health",
    "edge_nodes": ["target-edge"]
})

workflow.add_node("EdgeMigrationNode", "migrate", {
    "operation": "plan_migration",
    "source_edge": "source-edge",
    "target_edge": "target-edge",
    "workloads": ["app"]
})

# Only migrate if resources available
workflow.add_connection("check_resources", "result", "health", "input")
"""


def test_resource_planning_names_the_missing_node() -> None:
    workflow = WorkflowBuilder()
    run_sample(RESOURCES, workflow=workflow)
    with pytest.raises(WorkflowError, match="'health' does not exist"):
        workflow.build()


def test_progress_monitoring_runs_once_its_placeholder_id_is_a_planned_migration() -> None:
    # Seeding: a planned migration under the id the sample names (plans may choose ids).
    seed_workload("edge-a", "orders", records=300)
    planned = one(
        {
            "operation": "plan_migration",
            "source_edge": "edge-a",
            "target_edge": "edge-b",
            "workloads": ["orders"],
            "migration_id": "existing_migration_id",
        }
    )
    assert planned["status"] == "success", planned
    workflow = WorkflowBuilder()
    run_sample(PROGRESS, workflow=workflow)
    results, _ = LocalRuntime().execute(workflow.build())
    assert [r["status"] for r in results.values()] == ["success"] * 3, results
    # execute_migration ran it to its end, so the progress read after it is final
    assert results["migrate"]["result"]["status"] == "success"
    assert results["progress"]["progress"]["phase"] == "completed"
    assert results["progress"]["progress"]["progress_percent"] == 100.0
    assert results["metrics"]["metrics"]["completed_migrations"] == 1


ROLLBACK = """
# Automatic rollback on failure
workflow.add_node("EdgeMigrationNode", "migrate", {
    "operation": "execute_migration",
    "migration_id": "migration_123",
    "auto_rollback": True
})

# Manual rollback to checkpoint
workflow.add_node("EdgeMigrationNode", "rollback", {
    "operation": "rollback_migration",
    "migration_id": "migration_123",
    "checkpoint_id": "checkpoint_456"  # Optional
})
"""


def test_rollback_sample_with_its_ids_seeded() -> None:
    seed_workload("edge-r1", "payments", records=200)
    planned = one(
        {
            "operation": "plan_migration",
            "source_edge": "edge-r1",
            "target_edge": "edge-r2",
            "workloads": ["payments"],
            "migration_id": "migration_123",
        }
    )
    assert planned["status"] == "success", planned
    workflow = WorkflowBuilder()
    run_sample(ROLLBACK, workflow=workflow)
    results, _ = LocalRuntime().execute(workflow.build())
    # The two nodes are not connected: they run side by side. The named checkpoint is
    # not one of this migration's, which the rollback says; the execution is unaffected.
    assert results["rollback"]["status"] == "error"
    assert "checkpoint_456" in results["rollback"]["error"]
    assert results["migrate"]["status"] == "success", results["migrate"]
    assert results["migrate"]["result"]["workloads_migrated"] == ["payments"]


MONITORING = """
# Start edge monitoring
workflow.add_node("EdgeMonitoringNode", "monitor", {
    "operation": "start_monitor",
    "edge_nodes": ["source-edge", "target-edge"],
    "anomaly_detection": True
})

# Plan migration
workflow.add_node("EdgeMigrationNode", "migrate", {
    "operation": "plan_migration",
    "source_edge": "source-edge",
    "target_edge": "target-edge",
    "workloads": ["monitored-app"]
})

# Get post-migration analytics
workflow.add_node("EdgeMonitoringNode", "analytics", {
    "operation": "get_analytics",
    "edge_nodes": ["source-edge", "target-edge"],
    "time_range": "1h"
})

# Connect for integrated monitoring
workflow.add_connection("monitor", "status", "migrate", "input")
workflow.add_connection("migrate", "plan", "analytics", "migration_info")
"""


def test_integration_with_edge_monitoring() -> None:
    seed_workload("source-edge", "monitored-app", records=50)
    workflow = WorkflowBuilder()
    run_sample(MONITORING, workflow=workflow)
    results, _ = LocalRuntime().execute(workflow.build())
    assert [r["status"] for r in results.values()] == ["success"] * 3, results
    assert results["monitor"]["monitor_active"] is True
    assert results["migrate"]["plan"]["workloads"] == ["monitored-app"]
    assert set(results["analytics"]["analytics"]["edges"]) <= {"source-edge", "target-edge"}


CROSS_WORKFLOW = (
    IMPORTS
    + '''
def cross_workflow_coordination():
    """Demonstrates migration coordination across separate workflows."""
    runtime = LocalRuntime()

    # Workflow 1: Planning team creates migration plan
    planning_workflow = WorkflowBuilder()
    planning_workflow.add_node("EdgeMigrationNode", "plan", {
        "operation": "plan_migration",
        "source_edge": "datacenter-east",
        "target_edge": "datacenter-west",
        "workloads": ["user-service", "auth-service"],
        "strategy": "staged",
        "priority": 8
    })

    plan_results, _ = await runtime.execute_async(planning_workflow.build())
    migration_id = plan_results["plan"]["plan"]["migration_id"]
    print(f"Planning team created migration: {migration_id}")

    # Workflow 2: Operations team monitors (different workflow, same state)
    monitoring_workflow = WorkflowBuilder()
    monitoring_workflow.add_node("EdgeMigrationNode", "check_active", {
        "operation": "get_active_migrations"
    })

    monitor_results, _ = runtime.execute(monitoring_workflow.build())
    active_migrations = monitor_results["check_active"]["migrations"]
    active_ids = [m["migration_id"] for m in active_migrations]

    # Migration created by planning team should be visible to operations team
    assert migration_id in active_ids, "Shared state coordination working"
    print(f"Operations team sees migration: {migration_id}")

    # Workflow 3: Execution team pauses migration (shared state access)
    execution_workflow = WorkflowBuilder()
    execution_workflow.add_node("EdgeMigrationNode", "pause", {
        "operation": "pause_migration",
        "migration_id": migration_id
    })

    runtime.execute(execution_workflow.build())
    print(f"Execution team paused migration: {migration_id}")

    return {"migration_id": migration_id, "workflows_coordinated": 3}

# Run cross-workflow example
cross_workflow_coordination()
'''
)


def test_cross_workflow_coordination(capsys: pytest.CaptureFixture[str]) -> None:
    # The sample awaits inside a plain def: Python itself refuses to compile it.
    with pytest.raises(SyntaxError, match="'await' outside async function"):
        compile(CROSS_WORKFLOW, "<guide sample>", "exec")
    # The smallest change that runs: an async def run by asyncio.run, whose two
    # synchronous execute() calls become awaited execute_async() (a blocking call inside
    # a running event loop is refused: it would block that loop).
    ported = (
        CROSS_WORKFLOW.replace(
            "def cross_workflow_coordination", "async def cross_workflow_coordination"
        )
        .replace("runtime.execute(", "await runtime.execute_async(")
        .replace(
            "\ncross_workflow_coordination()\n",
            "\nimport asyncio\nasyncio.run(cross_workflow_coordination())\n",
        )
    )
    for workload in ("user-service", "auth-service"):
        seed_workload("datacenter-east", workload, records=20)
    run_sample(ported)
    out = capsys.readouterr().out
    migration_id = out.split("Planning team created migration: ")[1].split()[0]
    assert f"Operations team sees migration: {migration_id}" in out
    assert f"Execution team paused migration: {migration_id}" in out
    paused = one({"operation": "get_progress", "migration_id": migration_id})
    assert paused["progress"]["state"] == "paused"


VALIDATION = """
# Add validation phase
workflow.add_node("EdgeMigrationNode", "validate", {
    "operation": "get_progress",
    "validate_functionality": True,
    "test_endpoints": [
        "/api/health",
        "/api/status"
    ]
})
"""


def test_validation_sample_says_which_migration_it_needs() -> None:
    workflow = WorkflowBuilder()
    run_sample(VALIDATION, workflow=workflow)
    results, _ = LocalRuntime().execute(workflow.build())
    # The block names no migration and has nothing upstream: it says how to give one
    # (examples/validation.py connects it to a completed migration).
    assert results["validate"]["status"] == "error"
    assert "no migration_id" in results["validate"]["error"]
