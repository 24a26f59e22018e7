"""Port of the guide's "Quick Start / Basic Migration" sample."""

from __future__ import annotations

from _common import seed

from edge_actors.runtime.local import LocalRuntime
from edge_actors.workflow.builder import WorkflowBuilder


def basic_migration() -> dict[str, dict[str, object]]:
    seed("edge-west-1", ["api-service", "cache-layer"])
    workflow = WorkflowBuilder()

    # Plan a migration - shared state automatically available to other nodes
    workflow.add_node(
        "EdgeMigrationNode",
        "plan",
        {
            "operation": "plan_migration",
            "source_edge": "edge-west-1",
            "target_edge": "edge-east-1",
            "workloads": ["api-service", "cache-layer"],
            "strategy": "live",
        },
    )

    # Check migration status (demonstrates shared state access)
    workflow.add_node("EdgeMigrationNode", "status", {"operation": "get_active_migrations"})

    # Connect for sequential execution
    workflow.add_connection("plan", "status", "status", "input")

    runtime = LocalRuntime()
    results, run_id = runtime.execute(workflow.build())

    migration_id = results["plan"]["plan"]["migration_id"]
    print(f"Migration {migration_id} planned and visible system-wide")
    active_ids = [m["migration_id"] for m in results["status"]["migrations"]]
    assert migration_id in active_ids
    return results


if __name__ == "__main__":
    basic_migration()
