"""Port of the guide's "Emergency Migration" sample."""

from __future__ import annotations

from _common import seed

from edge_actors.runtime.local import LocalRuntime
from edge_actors.workflow.builder import WorkflowBuilder


def emergency_migration() -> dict[str, dict[str, object]]:
    seed("failing-edge", ["all-critical"])
    workflow = WorkflowBuilder()
    workflow.add_node(
        "EdgeMigrationNode",
        "evacuate",
        {
            "operation": "plan_migration",
            "source_edge": "failing-edge",
            "target_edge": "backup-edge",
            "workloads": ["all-critical"],
            "strategy": "emergency",
            "priority": 10,  # Maximum priority
            "constraints": {
                "skip_validation": True,
                "force_migration": True,
            },
        },
    )

    # Our port goes on to run it and read the engine's report.
    workflow.add_node(
        "EdgeMigrationNode", "execute", {"operation": "execute_migration", "wait": True}
    )
    workflow.add_node("EdgeMigrationNode", "metrics", {"operation": "get_metrics"})
    workflow.add_connection("evacuate", "plan.migration_id", "execute", "migration_id")
    workflow.add_connection("execute", "result", "metrics", "migration_id")

    results, _ = LocalRuntime().execute(workflow.build())
    for node_id, result in results.items():
        print(f"{node_id}: {result['status']}")
    metrics = results["metrics"]["metrics"]
    print(f"state={results['execute']['state']} downtime_ms={metrics['downtime_ms']}")
    return results


if __name__ == "__main__":
    emergency_migration()
