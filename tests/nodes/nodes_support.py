"""Helpers of the node tests: build and run small workflows of the edge node types."""

from __future__ import annotations

from typing import Any

from edge_actors.runtime import Engine, LocalRuntime
from edge_actors.workflow import WorkflowBuilder

Results = dict[str, dict[str, Any]]
Link = tuple[str, str, str, str]


def run_nodes(
    engine: Engine, *nodes: tuple[str, str, dict[str, Any]], links: tuple[Link, ...] = ()
) -> Results:
    """Build a workflow of ``(type, id, config)`` nodes and ``links`` and run it."""
    builder = WorkflowBuilder()
    for type_name, node_id, config in nodes:
        builder.add_node(type_name, node_id, config)
    for link in links:
        builder.add_connection(*link)
    results, _ = LocalRuntime(engine).execute(builder.build())
    return results


def mig(node_id: str, **config: Any) -> tuple[str, str, dict[str, Any]]:
    """An EdgeMigrationNode spec."""
    return ("EdgeMigrationNode", node_id, config)


def mon(node_id: str, **config: Any) -> tuple[str, str, dict[str, Any]]:
    """An EdgeMonitoringNode spec."""
    return ("EdgeMonitoringNode", node_id, config)
