"""What a running node sees of its run: :class:`NodeContext` (layer: workflow).

The runtime builds one context per node per run. It carries the ids, the workflow, the
results of the node's upstream nodes (nearest first) and the engine's service registry,
through which node types share long-lived state across workflows and runtimes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

import msgspec

from ._values import find_value

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from contextlib import AbstractAsyncContextManager

    import structlog

    from ._workflow import Workflow

__all__ = ["NodeContext", "Services", "UpstreamResult"]

T = TypeVar("T")


class Services(Protocol):
    """The service registry a node reaches through ``ctx.services``.

    The runtime's embedded engine implements it: one instance per key per process,
    created on first use and closed when the engine shuts down.
    """

    async def service(
        self, key: type[T], factory: Callable[[], AbstractAsyncContextManager[T]]
    ) -> T:
        """Return the service registered under ``key``, creating it with ``factory`` once."""
        ...


class UpstreamResult(msgspec.Struct, frozen=True):
    """The result of one transitive upstream node, as seen by a downstream node.

    Attributes:
        node_id: the upstream node.
        type_name: its node type.
        operation: its operation.
        distance: 1 for a direct upstream node, 2 for one further up, and so on.
        result: its result dict (the same object the run returns; do not mutate).
    """

    node_id: str
    type_name: str
    operation: str
    distance: int
    result: dict[str, object]


class NodeContext:
    """The run as seen by one node: ids, upstream results, services, logger.

    Attributes:
        node_id: this node's id.
        run_id: the id of this run (also returned by ``execute``).
        workflow: the workflow being run.
        type_name: this node's type.
        operation: the operation being run.
        services: the engine's service registry (see :class:`Services`).
        logger: a structlog logger bound to ``run_id``, ``node_id`` and the node type.
    """

    __slots__ = (
        "_results",
        "logger",
        "node_id",
        "operation",
        "run_id",
        "services",
        "type_name",
        "workflow",
    )

    def __init__(
        self,
        *,
        node_id: str,
        run_id: str,
        workflow: Workflow,
        services: Services,
        results: Mapping[str, dict[str, object]],
        logger: structlog.stdlib.BoundLogger,
    ) -> None:
        spec = workflow.nodes[node_id]
        self.node_id = node_id
        self.run_id = run_id
        self.workflow = workflow
        self.type_name = spec.type_name
        self.operation = spec.operation
        self.services = services
        self.logger = logger
        self._results = results

    def upstream_results(self) -> list[UpstreamResult]:
        """Return the results of every transitive upstream node, nearest first.

        Ties (same distance) keep connection order. Every node listed has succeeded:
        otherwise this node would have been skipped.
        """
        listed: list[UpstreamResult] = []
        for upstream_id, distance in self.workflow.ancestors(self.node_id):
            spec = self.workflow.nodes[upstream_id]
            listed.append(
                UpstreamResult(
                    node_id=upstream_id,
                    type_name=spec.type_name,
                    operation=spec.operation,
                    distance=distance,
                    result=self._results[upstream_id],
                )
            )
        return listed

    def nearest_upstream(
        self, type_name: str, operation: str | None = None
    ) -> tuple[str, dict[str, object]] | None:
        """Return ``(node_id, result)`` of the nearest upstream node of a type/operation.

        Args:
            type_name: the node type to look for.
            operation: the operation to look for; ``None`` accepts any.

        Returns:
            The nearest match, or ``None`` when no upstream node matches.
        """
        for upstream in self.upstream_results():
            if upstream.type_name == type_name and operation in (None, upstream.operation):
                return upstream.node_id, upstream.result
        return None

    @staticmethod
    def find_value(value: object, key: str) -> object | None:
        """Return ``key``'s value anywhere inside a connected ``value`` (see ``find_value``)."""
        return find_value(value, key)
