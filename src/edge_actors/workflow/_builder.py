"""The fluent builder of workflows: :class:`WorkflowBuilder` (layer: workflow).

The builder only records nodes and connections; :meth:`WorkflowBuilder.build` hands them
to :class:`~edge_actors.workflow.Workflow`, which validates everything and reports every
problem at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._workflow import Connection, RawNode, Workflow

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["WorkflowBuilder"]


class WorkflowBuilder:
    """Collects nodes and connections, then builds a validated :class:`Workflow`.

    Example::

        builder = WorkflowBuilder()
        builder.add_node("EdgeMigrationNode", "plan", {"operation": "plan_migration", ...})
        builder.add_node("EdgeMigrationNode", "status", {"operation": "get_active_migrations"})
        builder.add_connection("plan", "status", "status", "input")
        workflow = builder.build()

    A builder can be built several times; each build is independent of later changes.
    """

    __slots__ = ("_connections", "_nodes")

    def __init__(self) -> None:
        self._nodes: list[RawNode] = []
        self._connections: list[Connection] = []

    def add_node(
        self, type_name: str, node_id: str, params: Mapping[str, object] | None = None
    ) -> WorkflowBuilder:
        """Add a node of a registered type; ``params`` is its config (with ``operation``).

        Nothing is checked here; :meth:`build` checks everything.

        Returns:
            The builder, for chaining.
        """
        self._nodes.append((node_id, type_name, params))
        return self

    def add_connection(
        self, source_id: str, source_output: str, target_id: str, target_input: str
    ) -> WorkflowBuilder:
        """Feed ``source_output`` of ``source_id`` into ``target_input`` of ``target_id``.

        ``source_output`` is a key of the source's result dict or a dotted path into it
        (``plan.migration_id``, ``items.0``). The value lands in the target's
        ``inputs[target_input]``; when ``target_input`` is a parameter of the target's
        operation that its config does not set, it fills that parameter too. The target
        runs after the source succeeded.

        Returns:
            The builder, for chaining.
        """
        self._connections.append(Connection(source_id, source_output, target_id, target_input))
        return self

    def build(self) -> Workflow:
        """Validate and return the workflow.

        Raises:
            WorkflowError: listing every problem: unknown node types or operations,
                duplicate ids, unknown or missing parameters, bad parameter values,
                connections to missing nodes, inputs connected twice, cycles.
        """
        return Workflow(list(self._nodes), list(self._connections))
