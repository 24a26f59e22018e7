"""The guide's workflow API: builder, validated workflows, node type plug-ins (layer: workflow).

Imports only from the layers below (see docs/architecture.md). A workflow is a DAG of
nodes of registered node types; :class:`WorkflowBuilder` makes one and
``edge_actors.runtime.LocalRuntime`` runs it. Node types subclass :class:`Node` and are
registered with :func:`register_node_type`.
"""

from __future__ import annotations

from ._builder import WorkflowBuilder as WorkflowBuilder
from ._context import NodeContext as NodeContext
from ._context import Services as Services
from ._context import UpstreamResult as UpstreamResult
from ._errors import WorkflowError as WorkflowError
from ._node import Node as Node
from ._registry import get_node_type as get_node_type
from ._registry import register_node_type as register_node_type
from ._registry import registered_node_types as registered_node_types
from ._registry import unregister_node_type as unregister_node_type
from ._spec import OperationSpec as OperationSpec
from ._spec import ParamSpec as ParamSpec
from ._values import OutputPathError as OutputPathError
from ._values import find_value as find_value
from ._values import resolve_output as resolve_output
from ._workflow import Connection as Connection
from ._workflow import NodeSpec as NodeSpec
from ._workflow import Workflow as Workflow

__all__ = [
    "Connection",
    "Node",
    "NodeContext",
    "NodeSpec",
    "OperationSpec",
    "OutputPathError",
    "ParamSpec",
    "Services",
    "UpstreamResult",
    "Workflow",
    "WorkflowBuilder",
    "WorkflowError",
    "find_value",
    "get_node_type",
    "register_node_type",
    "registered_node_types",
    "resolve_output",
    "unregister_node_type",
]
