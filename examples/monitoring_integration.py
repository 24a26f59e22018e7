"""Port of the guide's "Integration with Edge Monitoring" sample."""

from __future__ import annotations

from _common import seed

from edge_actors.runtime.local import LocalRuntime
from edge_actors.workflow.builder import WorkflowBuilder


def monitoring_integration() -> dict[str, dict[str, object]]:
    seed("source-edge", ["monitored-app"])
    workflow = WorkflowBuilder()

    # Start edge monitoring
    workflow.add_node(
        "EdgeMonitoringNode",
        "monitor",
        {
            "operation": "start_monitor",
            "edge_nodes": ["source-edge", "target-edge"],
            "anomaly_detection": True,
        },
    )

    # Plan migration
    workflow.add_node(
        "EdgeMigrationNode",
        "migrate",
        {
            "operation": "plan_migration",
            "source_edge": "source-edge",
            "target_edge": "target-edge",
            "workloads": ["monitored-app"],
        },
    )

    # Get post-migration analytics
    workflow.add_node(
        "EdgeMonitoringNode",
        "analytics",
        {
            "operation": "get_analytics",
            "edge_nodes": ["source-edge", "target-edge"],
            "time_range": "1h",
        },
    )

    # Connect for integrated monitoring
    workflow.add_connection("monitor", "status", "migrate", "input")
    workflow.add_connection("migrate", "plan", "analytics", "migration_info")

    results, _ = LocalRuntime().execute(workflow.build())
    print(f"plan: {results['migrate']['plan']['migration_id']}")
    for edge, per_metric in results["analytics"]["analytics"]["edges"].items():
        print(edge, {name: stats["count"] for name, stats in per_metric.items()})
    return results


if __name__ == "__main__":
    monitoring_integration()
