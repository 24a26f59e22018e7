"""Port of the guide's "Staged Migration" sample.

The guide's window is 02:00-06:00 UTC: outside it the executed migration waits,
visibly, so this port plans it and shows the waiting state when run outside the window.

The runtime reads the time of day through its clock. ``--at HH:MM`` runs the sample as
if it were that time (UTC) today, on a ``ManualClock``: ``--at 23:00`` shows the
migration waiting for the window, ``--at 03:00`` shows it running to completion, whatever
the hour on your machine. Without it the sample uses the real clock."""

from __future__ import annotations

import argparse
import datetime as dt
import time

from _common import seed

from edge_actors.clock import ManualClock
from edge_actors.runtime.local import LocalRuntime
from edge_actors.workflow.builder import WorkflowBuilder


def staged_migration(runtime: LocalRuntime) -> dict[str, dict[str, object]]:
    seed("datacenter-1", ["database", "file-storage"], engine=runtime.engine)
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

    # Our port starts it and reads its progress: outside 02:00-06:00 UTC it waits, visibly
    # ("wait": False returns once queued, instead of waiting for the migration's end).
    workflow.add_node(
        "EdgeMigrationNode", "execute", {"operation": "execute_migration", "wait": False}
    )
    workflow.add_node("EdgeMigrationNode", "progress", {"operation": "get_progress"})
    workflow.add_connection("migrate", "plan.migration_id", "execute", "migration_id")
    workflow.add_connection("execute", "result", "progress", "migration_id")

    results, _ = runtime.execute(workflow.build())
    for node_id, result in results.items():
        print(f"{node_id}: {result['status']}")
    migration_id = results["migrate"]["plan"]["migration_id"]

    # The migration runs in the background: read its progress from later workflows until
    # it finished its stages or reports that it waits for the window.
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


def runtime_at(at: str | None) -> LocalRuntime:
    """The default runtime, or one whose clock reads ``at`` (``HH:MM`` UTC) today."""
    if at is None:
        return LocalRuntime()
    hour, minute = (int(part) for part in at.split(":"))
    today = dt.datetime.now(dt.UTC).date()
    start = dt.datetime.combine(today, dt.time(hour, minute), tzinfo=dt.UTC)
    return LocalRuntime(clock=ManualClock(start))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--at", metavar="HH:MM", help="run as if it were this time (UTC)")
    runtime = runtime_at(parser.parse_args().at)
    staged_migration(runtime)
    runtime.engine.shutdown()
