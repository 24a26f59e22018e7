# ruff: noqa: E501  (the table of refusals reads best one message per line)
"""Bad node parameters, node ids and connections: refused when the workflow is built.

Every refusal is a ``WorkflowError`` whose message names the node id and the key (or the
connection), on one line, without a traceback; nothing runs, so nothing can change.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_actors.runtime import Engine, LocalRuntime
from edge_actors.workflow import WorkflowBuilder, WorkflowError

MIG = "EdgeMigrationNode"
MON = "EdgeMonitoringNode"
PLAN: dict[str, Any] = {
    "operation": "plan_migration",
    "source_edge": "edge-a",
    "target_edge": "edge-b",
    "workloads": ["app"],
}


def refused(node_type: str, config: object, node_id: str = "bad-node") -> str:
    """Build a one-node workflow that must be refused; return the one-line message."""
    builder = WorkflowBuilder()
    builder.add_node(node_type, node_id, config)  # type: ignore[arg-type]
    with pytest.raises(WorkflowError) as caught:
        builder.build()
    message = str(caught.value)
    assert "Traceback" not in message
    return message


MIGRATION_CASES: list[tuple[dict[str, Any], str]] = [
    # wrong types
    ({**PLAN, "priority": "5"}, "priority: expected an integer 1..10, got '5'"),
    ({**PLAN, "priority": True}, "priority: expected an integer 1..10, got True"),
    ({**PLAN, "priority": 5.0}, "priority: expected an integer 1..10, got 5.0"),
    ({**PLAN, "priority": 0}, "priority: expected an integer 1..10, got 0"),
    ({**PLAN, "priority": 11}, "priority: expected an integer 1..10, got 11"),
    ({**PLAN, "source_edge": ["edge-a"]}, "source_edge: expected an edge name (letters, digits, '.', '_', '-'; up to 63 characters), got ['edge-a']"),
    ({**PLAN, "source_edge": None}, "source_edge: expected a value, got None"),
    ({**PLAN, "workloads": None}, "workloads: expected a value, got None"),
    ({**PLAN, "strategy": None}, "strategy: expected a value, got None"),
    ({**PLAN, "strategy": ["live"]}, "strategy: expected one of live, staged, bulk, incremental, emergency, got ['live']"),
    ({**PLAN, "workloads": {"app": 1}}, "workloads: expected a non-empty list"),
    ({**PLAN, "workloads": []}, "workloads: expected a non-empty list of workload names (at most 1000), got []"),
    ({**PLAN, "workloads": ["app", "app"]}, "workloads: 'app' is listed twice"),
    ({**PLAN, "workloads": [f"w{i}" for i in range(1001)]}, "workloads: expected a non-empty list of workload names (at most 1000), got 1001 items"),
    ({**PLAN, "sync_batch_size": True}, "sync_batch_size: expected an integer"),
    ({**PLAN, "checkpoint_interval": [1]}, "checkpoint_interval: expected seconds"),
    ({**PLAN, "checkpoint_interval": -5}, "checkpoint_interval: -5"),
    ({**PLAN, "bandwidth_limit_mbps": float("nan")}, "bandwidth_limit_mbps: nan"),
    ({**PLAN, "constraints": []}, "constraints: expected a mapping of constraint names to values, got []"),
    ({**PLAN, "constraints": {1: "x"}}, "constraints: names must be strings, got 1"),
    ({**PLAN, "constraints": {"max_rounds": True}}, "constraints.max_rounds"),
    ({**PLAN, "constraints": {"time_window": "25:00-06:00"}}, "constraints.time_window"),
    ({**PLAN, "test_endpoints": "/health"}, "test_endpoints: expected a list of paths"),
    ({**PLAN, "test_endpoints": ["/a b"]}, "test_endpoints: expected a path starting with '/' (at most 2048 printable characters, no spaces), got '/a b'"),
    ({**PLAN, "test_endpoints": ["/" + "a" * 3000]}, "test_endpoints: expected a path starting with '/' (at most 2048 printable characters, no spaces), got '/aaaa"),
    ({**PLAN, "migration_id": 5}, "migration_id: expected an id string"),
    ({**PLAN, "migration_id": {"migration_id": 5}}, "migration_id: expected an id string"),
    ({**PLAN, "migration_id": ""}, "migration_id: expected a migration id (letters, digits, '.', '_', '-'; up to 64 characters, starting with a letter or digit), got ''"),
    ({**PLAN, "timeout": -1}, "timeout: -1"),
    ({**PLAN, "timeout": True}, "timeout: expected seconds"),
    ({**PLAN, "sourc_edge": "edge-a"}, "unknown parameter 'sourc_edge'"),
    ({"operation": "execute_migration", "migration_id": "m1", "wait": 1}, "wait: expected true"),
    ({"operation": "execute_migration", "migration_id": "m1", "auto_rollback": None},
     "auto_rollback: expected a value, got None"),
    ({"operation": "rollback_migration", "migration_id": "m1", "checkpoint_id": 5},
     "checkpoint_id: expected an id string"),
    ({"operation": "get_metrics", "migration_id": [1]}, "migration_id: expected an id string"),
    ({"operation": "get_progress", "migration_id": "m1", "validate_functionality": "yes"},
     "validate_functionality: expected true or false"),
    ({"operation": "start_migrator", "max_concurrent": True}, "max_concurrent: expected"),
    ({"operation": "start_migrator", "max_concurrent": 0}, "max_concurrent: expected"),
    ({"operation": "start_migrator", "bandwidth_limit_mbps": [1]}, "bandwidth_limit_mbps"),
    ({"operation": "get_active_migrations", "migration_id": "m1"},
     "unknown parameter 'migration_id'"),
    ({"operation": 5}, "unknown operation 5"),
]  # fmt: skip


MONITORING_CASES: list[tuple[dict[str, Any], str]] = [
    ({"operation": "start_monitor", "edge_nodes": []}, "edge_nodes: expected a non-empty list"),
    ({"operation": "start_monitor", "edge_nodes": "edge-a"}, "edge_nodes: expected a non-empty"),
    ({"operation": "start_monitor", "edge_nodes": {"edge-a": 1}}, "edge_nodes: expected"),
    ({"operation": "start_monitor", "edge_nodes": ["a"], "edge_node": "a"},
     "edge_nodes, edge_node: give one of them, not both"),
    ({"operation": "start_monitor", "edge_nodes": ["a", "a"]}, "edge_nodes: lists an edge twice"),
    ({"operation": "start_monitor", "edge_nodes": [f"e{i}" for i in range(1001)]},
     "edge_nodes: expected a non-empty list of edge names (at most 1000), got 1001 items"),
    ({"operation": "start_monitor", "edge_nodes": ["a"], "interval": -1}, "interval: -1"),
    ({"operation": "start_monitor", "edge_nodes": ["a"], "interval": 0}, "interval: must be"),
    ({"operation": "start_monitor", "edge_nodes": ["a"], "interval": 1e-9},
     "interval: must be at least 0.01s"),
    ({"operation": "start_monitor", "edge_nodes": ["a"], "interval": None},
     "interval: expected a value, got None"),
    ({"operation": "start_monitor", "edge_nodes": ["a"], "anomaly_detection": 1},
     "anomaly_detection: expected true or false, got 1"),
    ({"operation": "get_analytics", "time_range": "-1h"}, "time_range: cannot parse '-1h'"),
    ({"operation": "get_analytics", "time_range": [1]}, "time_range: expected seconds"),
    ({"operation": "get_analytics", "time_range": "1h", "time_range_minutes": 5},
     "time_range, time_range_minutes: give one of them"),
    ({"operation": "get_analytics", "time_range_minutes": 0}, "time_range_minutes: expected a"),
    ({"operation": "get_analytics", "metrics": "latency"}, "metrics: expected a non-empty list"),
    ({"operation": "get_analytics", "metrics": []}, "metrics: expected a non-empty list"),
    ({"operation": "get_analytics", "metrics": [1]}, "metrics: expected a metric name (letters, digits, '_', '.', ':', '-'; up to 128 characters, starting with a letter or '_'), got 1"),
    ({"operation": "get_analytics", "metrics": ["x" * 300]}, "metrics: expected a metric name"),
    ({"operation": "record_metric", "edge": "a", "metric": "m\n", "value": 1}, "metric: expected a metric name"),
    ({"operation": "record_metric", "edge": "a", "metric": "m", "value": True}, "value: expected"),
    ({"operation": "record_metric", "edge": "a", "metric": "m", "value": None}, "value: expected"),
    ({"operation": "record_metric", "edge": "a", "metric": "m", "value": float("inf")},
     "value: expected a finite number, got inf"),
    ({"operation": "record_metric", "edge": ["a"], "metric": "m", "value": 1}, "edge: expected an edge name (letters, digits, '.', '_', '-'; up to 63 characters), got ['a']"),
    ({"operation": "query_metrics", "edge": "a", "metric": 5}, "metric: expected a metric name (letters, digits, '_', '.', ':', '-'; up to 128 characters, starting with a letter or '_'), got 5"),
    ({"operation": "set_threshold", "metric": "m"}, "give warning, critical or both"),
    ({"operation": "set_threshold", "metric": "m", "warning": 10, "critical": 5},
     "warning: 10 must be <= critical 5"),
    ({"operation": "set_threshold", "metric": "m", "warning": 1, "critical": 5,
      "direction": "below"}, "warning: 1 must be >= critical 5"),
    ({"operation": "set_threshold", "metric": "m", "warning": "10"}, "warning: expected"),
    ({"operation": "set_threshold", "metric": "m", "warning": 1, "direction": "ABOVE"},
     "direction: expected 'above' or 'below'"),
    ({"operation": "set_threshold", "metric": "m", "warning": 1, "threshold_value": 2},
     "threshold_value, warning: both set the warning limit"),
    ({"operation": "set_threshold", "metric": "m", "warning": 1, "severity": "error"},
     "severity: expected 'warning' or 'critical'"),
    ({"operation": "set_threshold", "metric_type": "latency", "warning": "2s", "critical": 1},
     "warning: '2s' must be <= critical 1"),
    ({"operation": "record_metric", "edge_node": "a", "metric_type": "m", "value": 1,
      "tags": {"k": 1}}, "tags: tag value 1"),
    ({"operation": "record_metric", "edge": "a", "edge_node": "b", "metric": "m", "value": 1},
     "edge, edge_node: give one of them"),
    ({"operation": "set_threshold", "metric": "m", "warning": 1, "cooldown": -1}, "cooldown: -1"),
    ({"operation": "get_alerts", "severity": ["warning"]}, "severity: expected 'warning'"),
    ({"operation": "get_alerts", "severity": "fatal"}, "severity: expected 'warning'"),
    ({"operation": "get_alerts", "active_only": "no"}, "active_only: expected true or false"),
    ({"operation": "get_summary", "edge": "a"}, "unknown parameter 'edge'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("node_type", "config", "fragment"),
    [(MIG, *case) for case in MIGRATION_CASES] + [(MON, *case) for case in MONITORING_CASES],
)
def test_node_refuses_bad_values_at_build(
    node_type: str, config: dict[str, Any], fragment: str
) -> None:
    message = refused(node_type, config)
    assert message.startswith("node 'bad-node'"), message
    assert fragment in message


@pytest.mark.parametrize(
    ("node_id", "fragment"),
    [
        (["x"], "node id must be a non-empty string, got ['x']"),
        ({"x": 1}, "node id must be a non-empty string, got {'x': 1}"),
        (5, "node id must be a non-empty string, got 5"),
        ("", "node id must be a non-empty string, got ''"),
        ("a\nb", "node id must be printable"),
        (" a", "node id must be printable, without leading or trailing spaces"),
        ("a" * 5000, "node id must be at most 128 characters"),
    ],
)
def test_bad_node_ids_are_refused(node_id: object, fragment: str) -> None:
    builder = WorkflowBuilder()
    builder.add_node(MIG, node_id, {"operation": "get_active_migrations"})  # type: ignore[arg-type]
    with pytest.raises(WorkflowError) as caught:
        builder.build()
    message = str(caught.value)
    assert fragment in message
    assert len(message) < 300  # a 5000-character id is shortened, never echoed in full


@pytest.mark.parametrize(
    ("output", "target_input", "fragment"),
    [
        ("", "input", "source output must be a non-empty string"),
        ("...", "input", "source output must be a key or a dotted path without empty segments"),
        ("plan..id", "input", "without empty segments"),
        (".plan", "input", "without empty segments"),
        ("plan[0]..x", "input", "without empty segments"),
        (5, "input", "source output must be a non-empty string"),
        ("status", ["x"], "target input must be a non-empty string"),
        ("status", "in\nput", "target input must be printable"),
    ],
)
def test_bad_connections_are_refused(output: object, target_input: object, fragment: str) -> None:
    builder = WorkflowBuilder()
    builder.add_node(MIG, "src", {"operation": "get_active_migrations"})
    builder.add_node(MIG, "dst", {"operation": "get_active_migrations"})
    builder.add_connection("src", output, "dst", target_input)  # type: ignore[arg-type]
    with pytest.raises(WorkflowError) as caught:
        builder.build()
    assert fragment in str(caught.value)
    assert "connection src." in str(caught.value)


def test_unhashable_connection_endpoint_is_named() -> None:
    builder = WorkflowBuilder()
    builder.add_node(MIG, "a", {"operation": "get_active_migrations"})
    builder.add_connection(["a"], "status", "a", "input")  # type: ignore[arg-type]
    with pytest.raises(WorkflowError, match=r"source node \['a'\] does not exist"):
        builder.build()


def test_unknown_node_type_name_is_shortened() -> None:
    message = refused("X" * 5000, {"operation": "x"}, node_id="n")
    assert "unknown node type 'XXX" in message
    assert len(message) < 400


@settings(max_examples=40, deadline=None)
@given(node_id=st.one_of(st.text(max_size=200), st.integers(), st.none(), st.lists(st.text())))
def test_any_node_id_builds_or_is_refused_cleanly(node_id: object) -> None:
    builder = WorkflowBuilder()
    builder.add_node(MIG, node_id, {"operation": "get_active_migrations"})  # type: ignore[arg-type]
    valid = (
        isinstance(node_id, str)
        and 0 < len(node_id) <= 128
        and node_id.isprintable()
        and node_id == node_id.strip()
    )
    if valid:
        assert list(builder.build().nodes) == [node_id]
    else:
        with pytest.raises(WorkflowError, match="node id"):
            builder.build()


@settings(max_examples=40, deadline=None)
@given(
    priority=st.one_of(
        st.integers(-5, 20), st.floats(allow_nan=True), st.text(max_size=5), st.booleans()
    )
)
def test_priority_is_accepted_only_as_an_integer_1_to_10(priority: object) -> None:
    builder = WorkflowBuilder()
    builder.add_node(MIG, "plan", {**PLAN, "priority": priority})
    ok = isinstance(priority, int) and not isinstance(priority, bool) and 1 <= priority <= 10
    if ok:
        builder.build()
    else:
        with pytest.raises(WorkflowError, match=r"node 'plan' .*priority: expected an integer"):
            builder.build()


def test_not_a_workflow_is_refused_before_anything_runs() -> None:
    runtime = LocalRuntime(Engine())
    try:
        builder = WorkflowBuilder()
        things: list[object] = [builder, None, {"nodes": []}, "workflow", 5]
        for thing in things:
            with pytest.raises(WorkflowError, match="LocalRuntime runs a built Workflow"):
                runtime.execute(thing)  # type: ignore[arg-type]
    finally:
        runtime.engine.shutdown()


def test_changing_a_built_workflow_does_not_change_what_runs() -> None:
    """Mutating the config dict a built workflow exposes (even nested values) has no effect:
    runs use the copies validated at build time."""
    builder = WorkflowBuilder()
    builder.add_node("WfNoteProbe" if False else MIG, "n", {"operation": "get_active_migrations"})
    workflow = builder.build()
    spec = workflow.nodes["n"]
    spec.config["operation"] = "explode"
    spec.config["bogus"] = object()
    assert workflow.initial_params("n") == {"operation": "get_active_migrations"}
    assert workflow.configured("n") == frozenset({"operation"})


def test_fan_out_of_a_thousand_nodes_builds_and_names_every_bad_one() -> None:
    builder = WorkflowBuilder()
    builder.add_node(MIG, "root", {"operation": "get_active_migrations"})
    for i in range(1000):
        config: dict[str, Any] = {"operation": "get_metrics"}
        if i % 250 == 7:
            config["migration_id"] = 12
        builder.add_node(MIG, f"leaf-{i}", copy.deepcopy(config))
        builder.add_connection("root", "count", f"leaf-{i}", "input")
    with pytest.raises(WorkflowError) as caught:
        builder.build()
    problems = caught.value.problems
    assert [p.split(" ")[1] for p in problems] == [
        "'leaf-7'",
        "'leaf-257'",
        "'leaf-507'",
        "'leaf-757'",
    ]
