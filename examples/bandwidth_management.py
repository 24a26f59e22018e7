"""Port of the guide's "Bandwidth Management" sample: a 100 Mbps, compressed migration."""

from __future__ import annotations

from _common import seed

from edge_actors.runtime.local import LocalRuntime
from edge_actors.workflow.builder import WorkflowBuilder


def bandwidth_management() -> dict[str, dict[str, object]]:
    seed("edge-1", ["large-data"], records=4000, value_bytes=512)
    workflow = WorkflowBuilder()
    workflow.add_node(
        "EdgeMigrationNode",
        "migrate",
        {
            "operation": "plan_migration",
            "source_edge": "edge-1",
            "target_edge": "edge-2",
            "workloads": ["large-data"],
            "bandwidth_limit_mbps": 100,  # Limit to 100 Mbps
            "enable_compression": True,  # Enable compression
            "sync_batch_size": 1000,  # Records per batch
        },
    )
    workflow.add_node(
        "EdgeMigrationNode", "execute", {"operation": "execute_migration", "wait": True}
    )
    workflow.add_node("EdgeMigrationNode", "metrics", {"operation": "get_metrics"})
    workflow.add_connection("migrate", "plan.migration_id", "execute", "migration_id")
    workflow.add_connection("execute", "result", "metrics", "migration_id")

    results, _ = LocalRuntime().execute(workflow.build())
    metrics = results["metrics"]["metrics"]
    print(
        f"raw={metrics['bytes_raw']} wire={metrics['bytes_wire']} "
        f"compression_ratio={metrics['compression_ratio']:.2f}"
    )
    return results


if __name__ == "__main__":
    bandwidth_management()
