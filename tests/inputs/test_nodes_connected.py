"""Malformed values arriving over connections: the node fails with a one-line message
naming the node and the parameter, its dependents are skipped, nothing is journaled."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from edge_actors.runtime import Engine, EnvironmentConfig, LocalRuntime, configure_environment
from edge_actors.workflow import WorkflowBuilder

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

MIG = "EdgeMigrationNode"
MON = "EdgeMonitoringNode"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine()
    configure_environment(EnvironmentConfig(data_dir=str(tmp_path / "data")), engine=eng)
    try:
        yield eng
    finally:
        eng.shutdown()


def run(engine: Engine, builder: WorkflowBuilder) -> dict[str, dict[str, Any]]:
    results, _ = LocalRuntime(engine).execute(builder.build())
    return results


def journaled(engine: Engine) -> list[Any]:
    builder = WorkflowBuilder().add_node(MIG, "h", {"operation": "get_history"})
    history = run(engine, builder)["h"]
    assert history["status"] == "success", history
    return [*history["history"], *history["checkpoints"]]


# (source node config, source output) -> a value that is not a migration id
SOURCES: list[tuple[str, dict[str, Any], str, str]] = [
    (MIG, {"operation": "get_active_migrations"}, "count", "got 0"),  # a number
    (MON, {"operation": "get_summary"}, "summary", "got {"),  # a dict without one
    (MIG, {"operation": "get_active_migrations"}, "migrations", "got []"),  # a list
    # a well-formed id that names no migration: the service's refusal
    (MIG, {"operation": "get_active_migrations"}, "status", "unknown migration 'success'"),
]


@pytest.mark.parametrize(("src_type", "src_cfg", "output", "fragment"), SOURCES)
@pytest.mark.parametrize("operation", ["execute_migration", "pause_migration", "get_progress"])
def test_connected_migration_id_that_is_not_one(
    engine: Engine,
    src_type: str,
    src_cfg: dict[str, Any],
    output: str,
    fragment: str,
    operation: str,
) -> None:
    builder = WorkflowBuilder()
    builder.add_node(src_type, "src", src_cfg)
    builder.add_node(MIG, "use", {"operation": operation})
    builder.add_node(MIG, "after", {"operation": "get_active_migrations"})
    builder.add_connection("src", output, "use", "migration_id")
    builder.add_connection("use", "status", "after", "input")
    results = run(engine, builder)
    assert results["src"]["status"] == "success", results["src"]
    use = results["use"]
    assert use["status"] == "error"
    assert use["result"] is None
    error = use["error"]
    if output == "status":
        assert error == f"{operation}: {fragment}"
    else:
        assert error.startswith(f"node 'use' ({MIG}.{operation}): migration_id: "), error
        assert fragment in error
    assert "Traceback" not in error
    assert "\n" not in error
    after = results["after"]
    assert after["status"] == "skipped"
    assert after["error"] == f"skipped: upstream node 'use' failed: {error}"
    assert journaled(engine) == []


def test_connected_path_into_garbage_fails_with_the_available_keys(engine: Engine) -> None:
    builder = WorkflowBuilder()
    builder.add_node(MIG, "src", {"operation": "get_active_migrations"})
    builder.add_node(MIG, "use", {"operation": "execute_migration"})
    builder.add_connection("src", "count.migration_id", "use", "migration_id")
    results = run(engine, builder)
    error = results["use"]["error"]
    assert error.startswith("input of node 'use': output 'count.migration_id' of node 'src'")
    assert "available a value of type int, which has no keys" in error
    assert journaled(engine) == []


def test_connected_bad_monitoring_values_fail_the_node(engine: Engine) -> None:
    """A list connected into ``edge_nodes``/``interval``: the monitor is not started."""
    builder = WorkflowBuilder()
    builder.add_node(MIG, "src", {"operation": "get_active_migrations"})
    builder.add_node(MON, "watch", {"operation": "start_monitor", "edge_nodes": ["edge-m"]})
    builder.add_node(MON, "watch2", {"operation": "start_monitor"})
    builder.add_connection("src", "count", "watch", "interval")
    builder.add_connection("src", "migrations", "watch2", "edge_nodes")
    results = run(engine, builder)
    assert results["watch"]["error"] == (
        f"node 'watch' ({MON}.start_monitor): interval: must be greater than zero, got 0.0"
    )
    assert results["watch2"]["error"] == (
        f"node 'watch2' ({MON}.start_monitor): edge_nodes: expected a non-empty list of "
        "edge names (at most 1000), got []"
    )
    summary = run(engine, WorkflowBuilder().add_node(MON, "s", {"operation": "get_summary"}))
    assert summary["s"]["summary"]["monitored_edges"] == []


def test_connected_none_into_a_required_parameter(engine: Engine) -> None:
    builder = WorkflowBuilder()
    builder.add_node(MIG, "src", {"operation": "get_metrics"})
    builder.add_node(MON, "rec", {"operation": "record_metric", "edge": "edge-r", "value": 1})
    builder.add_connection("src", "metrics.max_downtime_ms_missing_key", "rec", "metric")
    results = run(engine, builder)
    assert results["rec"]["status"] == "error"
    assert "not found" in results["rec"]["error"]
    builder = WorkflowBuilder()
    builder.add_node(MON, "rec", {"operation": "record_metric", "edge": "edge-r", "value": 1})
    builder.add_node(MIG, "plan", {"operation": "get_history"})
    builder.add_connection("plan", "migration_id_missing", "rec", "metric")
    assert "not found" in run(engine, builder)["rec"]["error"]
