"""Port of the guide's "Staged Migration" sample.

The guide's window is 02:00-06:00 UTC: outside it the executed migration waits,
visibly, so this port plans it and shows the waiting state when run outside the window."""

from __future__ import annotations

import time

from _common import seed

from edge_actors.runtime.local import LocalRuntime
from edge_actors.workflow.builder import WorkflowBuilder


def staged_migration() -> dict[str, dict[str, object]]:
    seed("datacenter-1", ["database", "file-storage"])
    workflow = WorkflowBuilder()
    workflow.add_node(
        "EdgeMigrationNode",
        "migrate",
        {
            "operation": "plan_migration",
            "source_edge": "datacenter-1",
            "target_edge": "datacenter-2",
            "workloads": ["database", "file-storage"],
            "strategy": "staged",
            "constraints": {
                "time_window": "02:00-06:00",
                "validation_required": True,
            },
        },
    )

    # Our port starts it and reads its progress: outside 02:00-06:00 UTC it waits, visibly.
    workflow.add_node("EdgeMigrationNode", "execute", {"operation": "execute_migration"})
    workflow.add_node("EdgeMigrationNode", "progress", {"operation": "get_progress"})
    workflow.add_connection("migrate", "plan.migration_id", "execute", "migration_id")
    workflow.add_connection("execute", "result", "progress", "migration_id")

    runtime = LocalRuntime()
    results, _ = runtime.execute(workflow.build())
    for node_id, result in results.items():
        print(f"{node_id}: {result['status']}")
    migration_id = results["migrate"]["plan"]["migration_id"]

    # The migration runs in the background: read its progress from later workflows until
    # it finished its first stage or reports that it waits for the window.
    check = WorkflowBuilder()
    check.add_node(
        "EdgeMigrationNode", "progress", {"operation": "get_progress", "migration_id": migration_id}
    )
    deadline = time.monotonic() + 60
    while True:
        progress = runtime.execute(check.build())[0]["progress"]["progress"]
        waiting = progress["detail"].startswith("waiting for time window")
        if waiting or progress["state"] == "completed" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    print(f"state={progress['state']} phase={progress['phase']} detail={progress['detail']}")
    return results


if __name__ == "__main__":
    staged_migration()
