"""Port of the guide's "Best Practices / Testing and Validation" sample.

``get_progress`` with ``validate_functionality`` compares both sides' content digests and
probes each ``test_endpoints`` path on the target edge; our port runs a migration first so
there is something to validate.
"""

from __future__ import annotations

from _common import seed

from edge_actors.runtime.local import LocalRuntime
from edge_actors.workflow.builder import WorkflowBuilder


def validation_example() -> dict[str, dict[str, object]]:
    seed("edge-v1", ["checkout"])
    workflow = WorkflowBuilder()
    workflow.add_node(
        "EdgeMigrationNode",
        "plan",
        {
            "operation": "plan_migration",
            "source_edge": "edge-v1",
            "target_edge": "edge-v2",
            "workloads": ["checkout"],
        },
    )
    workflow.add_node(
        "EdgeMigrationNode", "execute", {"operation": "execute_migration", "wait": True}
    )

    # Add validation phase
    workflow.add_node(
        "EdgeMigrationNode",
        "validate",
        {
            "operation": "get_progress",
            "validate_functionality": True,
            "test_endpoints": ["/api/health", "/api/status"],
        },
    )
    workflow.add_connection("plan", "plan.migration_id", "execute", "migration_id")
    workflow.add_connection("execute", "result", "validate", "migration_id")

    results, _ = LocalRuntime().execute(workflow.build())
    validation = results["validate"]["validation"]
    print(f"digests_match={validation['digests_match']} endpoints={validation['endpoints']}")
    return results


if __name__ == "__main__":
    validation_example()
