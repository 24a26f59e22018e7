"""Port of the guide's "Rollback Capabilities" sample.

The guide names placeholder ids (``migration_123``, ``checkpoint_456``); our port plans a
real migration and executes it with ``auto_rollback`` under a low bandwidth limit (so it
is still syncing when we act), pauses it, rolls it back to one of the checkpoints the
engine recorded (the migration is then paused there, resumable), and finally rolls it back
completely: the workload is served by the source edge again and the target's copy is
dropped. A completed migration cannot be rolled back (its source copy was released).
"""

from __future__ import annotations

import time

from _common import seed

from edge_actors.runtime.local import LocalRuntime
from edge_actors.workflow.builder import WorkflowBuilder


def one_node(config: dict[str, object]) -> dict[str, object]:
    """Run a workflow of one EdgeMigrationNode and return its result."""
    workflow = WorkflowBuilder()
    workflow.add_node("EdgeMigrationNode", "node", config)
    results, _ = LocalRuntime().execute(workflow.build())
    return results["node"]


def rollback_example() -> dict[str, object]:
    seed("edge-r1", ["payments"], records=3000)
    workflow = WorkflowBuilder()
    workflow.add_node(
        "EdgeMigrationNode",
        "plan",
        {
            "operation": "plan_migration",
            "source_edge": "edge-r1",
            "target_edge": "edge-r2",
            "workloads": ["payments"],
            "bandwidth_limit_mbps": 0.5,
            "sync_batch_size": 100,
        },
    )
    # Automatic rollback on failure ("wait": False: return once queued, to pause it below)
    workflow.add_node(
        "EdgeMigrationNode",
        "migrate",
        {"operation": "execute_migration", "auto_rollback": True, "wait": False},
    )
    workflow.add_connection("plan", "plan.migration_id", "migrate", "migration_id")
    results, _ = LocalRuntime().execute(workflow.build())
    migration_id = results["plan"]["plan"]["migration_id"]
    print(f"executing {migration_id}: {results['migrate']['state']}")

    # Let it sync a while, then pause it (a pause journals a checkpoint).
    deadline = time.monotonic() + 30
    while True:
        progress = one_node({"operation": "get_progress", "migration_id": migration_id})
        if progress["progress"]["records_done"] > 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    paused = one_node({"operation": "pause_migration", "migration_id": migration_id})
    print(f"pause: {paused['status']} -> {paused['state']}")
    history = one_node({"operation": "get_history", "migration_id": migration_id})
    checkpoint_id = history["checkpoints"][-1]["checkpoint_id"]

    # Manual rollback to checkpoint
    to_checkpoint = one_node(
        {
            "operation": "rollback_migration",
            "migration_id": migration_id,
            "checkpoint_id": checkpoint_id,  # Optional
        }
    )
    print(f"rollback to {checkpoint_id}: {to_checkpoint['status']} -> {to_checkpoint['state']}")

    # Without a checkpoint: back to the source for good.
    full = one_node({"operation": "rollback_migration", "migration_id": migration_id})
    print(f"rollback: {full['status']} -> {full['state']}")
    check = one_node(
        {"operation": "get_progress", "migration_id": migration_id, "validate_functionality": True}
    )
    source = check["validation"]["workloads"]["payments"]["source"]
    target = check["validation"]["workloads"]["payments"]["target"]
    print(f"source edge-r1: {source['status']} with {source['records']} records; target: {target}")
    return full


if __name__ == "__main__":
    rollback_example()
