"""Port of the guide's "Best Practices / Resource Planning" sample.

The guide connects ``check_resources`` to a node named ``health`` that it never adds; our
port connects it to the migration node it guards, so the plan runs only once the target's
health was checked (a failed check skips the plan, naming the cause). A health check
never starts an edge (it would only find it healthy because it just started it: an edge
nobody configured or started is ``unknown``), so the port first gives the target a small
workload of its own, as a running target edge would have.
"""

from __future__ import annotations

from _common import seed

from edge_actors.runtime.local import LocalRuntime
from edge_actors.workflow.builder import WorkflowBuilder


def resource_planning() -> dict[str, dict[str, object]]:
    seed("source-edge", ["app"])
    seed("target-edge", ["resident-app"], records=10)
    workflow = WorkflowBuilder()

    # Check resources before migration
    workflow.add_node(
        "EdgeMonitoringNode",
        "check_resources",
        {"operation": "get_health", "edge_nodes": ["target-edge"]},
    )

    workflow.add_node(
        "EdgeMigrationNode",
        "migrate",
        {
            "operation": "plan_migration",
            "source_edge": "source-edge",
            "target_edge": "target-edge",
            "workloads": ["app"],
        },
    )

    # Only migrate if resources available
    workflow.add_connection("check_resources", "result", "migrate", "input")

    results, _ = LocalRuntime().execute(workflow.build())
    health = results["check_resources"]["health"]["target-edge"]
    print(f"target-edge: {health['status']} free_bytes={health['capacity']['free_bytes']}")
    print(f"plan: {results['migrate']['status']}")
    return results


if __name__ == "__main__":
    resource_planning()
