"""Port of the guide's "Live Migration (Default)" sample."""

from __future__ import annotations

from _common import seed

from edge_actors.runtime.local import LocalRuntime
from edge_actors.workflow.builder import WorkflowBuilder


def live_migration() -> dict[str, dict[str, object]]:
    seed("primary", ["critical-app"])
    workflow = WorkflowBuilder()
    workflow.add_node(
        "EdgeMigrationNode",
        "migrate",
        {
            "operation": "plan_migration",
            "source_edge": "primary",
            "target_edge": "secondary",
            "workloads": ["critical-app"],
            "strategy": "live",
            "constraints": {
                "max_downtime": "30s",
                "sync_interval": "5s",
            },
        },
    )

    # Our port goes on to run it and read the engine's report.
    workflow.add_node(
        "EdgeMigrationNode", "execute", {"operation": "execute_migration", "wait": True}
    )
    workflow.add_node("EdgeMigrationNode", "metrics", {"operation": "get_metrics"})
    workflow.add_connection("migrate", "plan.migration_id", "execute", "migration_id")
    workflow.add_connection("execute", "result", "metrics", "migration_id")

    results, _ = LocalRuntime().execute(workflow.build())
    for node_id, result in results.items():
        print(f"{node_id}: {result['status']}")
    metrics = results["metrics"]["metrics"]
    print(f"state={results['execute']['state']} downtime_ms={metrics['downtime_ms']}")
    return results


if __name__ == "__main__":
    live_migration()
