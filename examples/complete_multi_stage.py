"""Port of the guide's "Complete Example: Multi-Stage Migration".

Unchanged but for the imports and the seeding: ``execute_migration`` returns once its
migration has ended (as in the guide's original SDK), so each tier is moved before the
next is planned and "Migration completed" is printed after all three completed.
"""

from __future__ import annotations

from _common import seed

from edge_actors.runtime.local import LocalRuntime
from edge_actors.workflow.builder import WorkflowBuilder


def migrate_application_stack() -> dict[str, dict[str, object]]:
    """Migrate complete application stack between regions."""
    seed("us-west", ["postgres-primary", "api-service", "web-frontend", "redis-cache"])

    workflow = WorkflowBuilder()

    # 1. Start migration service
    workflow.add_node(
        "EdgeMigrationNode",
        "start_service",
        {"operation": "start_migrator", "checkpoint_interval": 30, "bandwidth_limit_mbps": 500},
    )

    # 2. Enable monitoring
    workflow.add_node(
        "EdgeMonitoringNode",
        "monitor",
        {
            "operation": "start_monitor",
            "edge_nodes": ["us-west", "us-east"],
            "anomaly_detection": True,
        },
    )

    # 3. Migrate database first (incremental)
    workflow.add_node(
        "EdgeMigrationNode",
        "migrate_db",
        {
            "operation": "plan_migration",
            "source_edge": "us-west",
            "target_edge": "us-east",
            "workloads": ["postgres-primary"],
            "strategy": "incremental",
            "priority": 9,
        },
    )

    # 4. Execute database migration
    workflow.add_node("EdgeMigrationNode", "exec_db", {"operation": "execute_migration"})

    # 5. Migrate application tier (staged)
    workflow.add_node(
        "EdgeMigrationNode",
        "migrate_app",
        {
            "operation": "plan_migration",
            "source_edge": "us-west",
            "target_edge": "us-east",
            "workloads": ["api-service", "web-frontend"],
            "strategy": "staged",
            "priority": 8,
        },
    )

    # 6. Execute application migration
    workflow.add_node("EdgeMigrationNode", "exec_app", {"operation": "execute_migration"})

    # 7. Migrate cache layer (live)
    workflow.add_node(
        "EdgeMigrationNode",
        "migrate_cache",
        {
            "operation": "plan_migration",
            "source_edge": "us-west",
            "target_edge": "us-east",
            "workloads": ["redis-cache"],
            "strategy": "live",
            "priority": 7,
        },
    )

    # 8. Execute cache migration
    workflow.add_node("EdgeMigrationNode", "exec_cache", {"operation": "execute_migration"})

    # 9. Final validation
    workflow.add_node(
        "EdgeMonitoringNode",
        "validate",
        {
            "operation": "get_analytics",
            "edge_nodes": ["us-east"],
            "metrics": ["latency", "error_rate", "throughput"],
        },
    )

    # 10. Get migration report
    workflow.add_node("EdgeMigrationNode", "report", {"operation": "get_metrics"})

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


if __name__ == "__main__":
    migrate_application_stack()
