"""The node type plug-in interface: the :class:`Node` base class (layer: workflow).

A node type is a class: it declares its ``type_name``, its ``operations`` (each with its
parameters) and optional ``common_params``, may refine :meth:`Node.validate` to check
parameter values at build time, and implements :meth:`Node.run`. Registering it with
:func:`~edge_actors.workflow.register_node_type` makes it usable by name in
``WorkflowBuilder.add_node``.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar

from ._spec import RESERVED_PARAMS, OperationSpec, ParamSpec

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._context import NodeContext

__all__ = ["Node"]


class Node(abc.ABC):
    """Base class of every node type.

    The runtime creates a fresh instance (no constructor arguments) for each node of each
    run, so instance attributes never leak between runs; state that must outlive a run
    (registries, background work) belongs in a service (``ctx.services``).

    Class attributes:
        type_name: the name used in ``add_node`` (e.g. ``"EdgeMigrationNode"``).
        operations: operation name -> :class:`OperationSpec`.
        common_params: parameters valid for every operation of this type.
        unknown_operations_at_run: ``False`` (default): an unknown operation fails the
            build. ``True``: the build accepts it and the run reports it as the node's
            error result, as the guide's original SDK did (its parameters are then not
            checked: nothing says which ones it would take).
    """

    type_name: ClassVar[str]
    operations: ClassVar[Mapping[str, OperationSpec]]
    common_params: ClassVar[tuple[ParamSpec, ...]] = ()
    unknown_operations_at_run: ClassVar[bool] = False

    @classmethod
    def param_specs(cls, operation: str) -> dict[str, ParamSpec]:
        """Return the parameters ``operation`` accepts, by name (common ones included).

        Raises:
            KeyError: ``operation`` is not one of :attr:`operations`.
        """
        specs = {spec.name: spec for spec in cls.common_params}
        specs.update((spec.name, spec) for spec in cls.operations[operation].params)
        return specs

    @classmethod
    def param_names(cls, operation: str) -> frozenset[str]:
        """Return every parameter name of ``operation``, aliases included."""
        specs = cls.param_specs(operation).values()
        return frozenset(name for spec in specs for name in (spec.name, *spec.aliases))

    @classmethod
    def known_keys(cls, operation: str) -> list[str]:
        """Return every config key valid for ``operation``, sorted (reserved ones too)."""
        return sorted(RESERVED_PARAMS | cls.param_names(operation))

    @classmethod
    def validate(cls, operation: str, params: Mapping[str, object]) -> None:
        """Check parameter values; raise :class:`~edge_actors.errors.ConfigError` if bad.

        Called at build time with the node's config (defaults filled in; parameters that
        will arrive over a connection are absent), and again at run time when a
        connection filled a parameter. Keys are already checked against the declared
        parameters; this hook checks values (durations, sizes, enums). The message should
        name the key; the framework prefixes the node id. The default accepts everything.
        """
        return None

    @abc.abstractmethod
    async def run(
        self, ctx: NodeContext, params: dict[str, object], inputs: dict[str, object]
    ) -> dict[str, object]:
        """Do the node's work and return its result dict.

        Args:
            ctx: the run's context (ids, upstream results, services, logger).
            params: the node's config with defaults filled and connected parameters set;
                includes ``operation`` (and ``timeout`` when given).
            inputs: every value that arrived over a connection, by target input name.

        Returns:
            A dict with at least ``status`` (a string; ``"error"`` marks a failure, and
            then ``error`` should say why; the older ``"failed"`` is accepted and reported
            as ``"error"``) and ``result``; other keys are free-form and
            can be the source of connections.

        Cancellation: the runtime cancels ``run`` when the node's ``timeout`` expires or
        the whole run is cancelled; a node must let the cancellation propagate.
        """
