"""Port of the guide's "Pause and Resume" sample (unchanged but for the imports and seeding)."""

from __future__ import annotations

from _common import seed

from edge_actors.runtime.local import LocalRuntime
from edge_actors.workflow.builder import WorkflowBuilder


def pause_resume_migration() -> dict[str, dict[str, object]]:
    seed("edge-source", ["long-running-service"])
    # Create migration plan in first workflow
    plan_workflow = WorkflowBuilder()
    plan_workflow.add_node(
        "EdgeMigrationNode",
        "plan",
        {
            "operation": "plan_migration",
            "source_edge": "edge-source",
            "target_edge": "edge-target",
            "workloads": ["long-running-service"],
            "strategy": "incremental",
        },
    )

    runtime = LocalRuntime()
    plan_results, _ = runtime.execute(plan_workflow.build())
    migration_id = plan_results["plan"]["plan"]["migration_id"]

    # Pause migration in separate workflow (shared state coordination)
    pause_workflow = WorkflowBuilder()
    pause_workflow.add_node(
        "EdgeMigrationNode", "pause", {"operation": "pause_migration", "migration_id": migration_id}
    )

    runtime.execute(pause_workflow.build())

    # Resume migration later (again using shared state)
    resume_workflow = WorkflowBuilder()
    resume_workflow.add_node(
        "EdgeMigrationNode",
        "resume",
        {"operation": "resume_migration", "migration_id": migration_id},
    )

    resume_results, _ = runtime.execute(resume_workflow.build())
    print(f"resume: {resume_results['resume']['status']} -> {resume_results['resume']['result']}")
    return resume_results


if __name__ == "__main__":
    pause_resume_migration()
