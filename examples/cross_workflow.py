"""Port of the guide's "Cross-Workflow Coordination" sample.

The guide's function awaits ``execute_async`` inside a plain ``def``; our port makes it a
coroutine and awaits every run (a synchronous ``execute`` inside a running event loop would
block that loop, which the runtime refuses with a clear error).
"""

from __future__ import annotations

import asyncio

from _common import seed

from edge_actors.runtime.local import LocalRuntime
from edge_actors.workflow.builder import WorkflowBuilder


async def cross_workflow_coordination() -> dict[str, object]:
    """Demonstrates migration coordination across separate workflows."""
    runtime = LocalRuntime()

    # Workflow 1: Planning team creates migration plan
    planning_workflow = WorkflowBuilder()
    planning_workflow.add_node(
        "EdgeMigrationNode",
        "plan",
        {
            "operation": "plan_migration",
            "source_edge": "datacenter-east",
            "target_edge": "datacenter-west",
            "workloads": ["user-service", "auth-service"],
            "strategy": "staged",
            "priority": 8,
        },
    )

    plan_results, _ = await runtime.execute_async(planning_workflow.build())
    migration_id = plan_results["plan"]["plan"]["migration_id"]
    print(f"Planning team created migration: {migration_id}")

    # Workflow 2: Operations team monitors (different workflow, same state)
    monitoring_workflow = WorkflowBuilder()
    monitoring_workflow.add_node(
        "EdgeMigrationNode", "check_active", {"operation": "get_active_migrations"}
    )

    monitor_results, _ = await LocalRuntime().execute_async(monitoring_workflow.build())
    active_migrations = monitor_results["check_active"]["migrations"]
    active_ids = [m["migration_id"] for m in active_migrations]

    # Migration created by planning team should be visible to operations team
    assert migration_id in active_ids, "Shared state coordination working"
    print(f"Operations team sees migration: {migration_id}")

    # Workflow 3: Execution team pauses migration (shared state access)
    execution_workflow = WorkflowBuilder()
    execution_workflow.add_node(
        "EdgeMigrationNode", "pause", {"operation": "pause_migration", "migration_id": migration_id}
    )

    await runtime.execute_async(execution_workflow.build())
    print(f"Execution team paused migration: {migration_id}")

    return {"migration_id": migration_id, "workflows_coordinated": 3}


if __name__ == "__main__":
    seed("datacenter-east", ["user-service", "auth-service"])
    asyncio.run(cross_workflow_coordination())
