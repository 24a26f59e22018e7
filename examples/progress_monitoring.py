"""Port of the guide's "Progress Monitoring" sample.

The guide executes ``"existing_migration_id"``; our port plans that migration first and
hands its id on, so every node has a real migration to act on.
"""

from __future__ import annotations

from _common import seed

from edge_actors.runtime.local import LocalRuntime
from edge_actors.workflow.builder import WorkflowBuilder


def progress_monitoring() -> dict[str, dict[str, object]]:
    seed("edge-a", ["orders"], records=2000)
    workflow = WorkflowBuilder()
    workflow.add_node(
        "EdgeMigrationNode",
        "plan",
        {
            "operation": "plan_migration",
            "source_edge": "edge-a",
            "target_edge": "edge-b",
            "workloads": ["orders"],
        },
    )

    # Start migration
    workflow.add_node("EdgeMigrationNode", "migrate", {"operation": "execute_migration"})

    # Monitor progress
    workflow.add_node("EdgeMigrationNode", "progress", {"operation": "get_progress"})

    # Check metrics
    workflow.add_node("EdgeMigrationNode", "metrics", {"operation": "get_metrics"})

    # Pass migration_id from plan to migrate, and from migrate result to progress
    workflow.add_connection("plan", "plan.migration_id", "migrate", "migration_id")
    workflow.add_connection("migrate", "result", "progress", "migration_id")
    workflow.add_connection("progress", "result", "metrics", "input")

    results, _ = LocalRuntime().execute(workflow.build())
    progress = results["progress"]["progress"]
    print(f"phase={progress['phase']} records_done={progress['records_done']}")
    return results


if __name__ == "__main__":
    progress_monitoring()
