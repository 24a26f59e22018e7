"""The process-wide registry of node types (layer: workflow).

``register_node_type`` records a :class:`Node` subclass under its ``type_name`` after
checking its declarations, so a malformed node type fails when it is registered, not in
the middle of a user's workflow. The edge node types of this package
(``EdgeMigrationNode``, ``EdgeMonitoringNode``) register themselves when their modules
are imported; the registry imports those modules on first lookup.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeVar

from ._errors import WorkflowError
from ._node import Node
from ._spec import RESERVED_PARAMS, OperationSpec, ParamSpec

__all__ = [
    "get_node_type",
    "register_node_type",
    "registered_node_types",
    "unregister_node_type",
]

N = TypeVar("N", bound=type[Node])

# Modules of this package that define node types and register them on import. A module
# that is not present in this build is skipped (only that exact module, never an import
# error raised from inside it).
_BUILTIN_MODULES: tuple[str, ...] = (
    "edge_actors.workflow._migration_node",
    "edge_actors.workflow._monitoring_node",
)

_lock = threading.RLock()
_types: dict[str, type[Node]] = {}
_builtins_loaded = False


def _load_builtins() -> None:
    global _builtins_loaded
    with _lock:
        if _builtins_loaded:
            return
        _builtins_loaded = True
        for module in _BUILTIN_MODULES:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:
                    raise


def _check_declarations(cls: type[Node]) -> list[str]:
    name = getattr(cls, "type_name", None)
    label = f"node type {cls.__qualname__}"
    if not isinstance(name, str) or not name:
        return [f"{label}: type_name must be a non-empty string, got {name!r}"]
    problems: list[str] = []
    operations = getattr(cls, "operations", None)
    if not isinstance(operations, Mapping) or not operations:
        return [f"node type {name!r}: operations must be a non-empty mapping"]
    common = cls.common_params
    if not isinstance(common, tuple) or not all(isinstance(p, ParamSpec) for p in common):
        problems.append(f"node type {name!r}: common_params must be a tuple of ParamSpec")
        common = ()
    for op_name, spec in operations.items():
        if not isinstance(op_name, str) or not op_name:
            problems.append(f"node type {name!r}: operation names must be non-empty strings")
            continue
        if not isinstance(spec, OperationSpec):
            problems.append(f"node type {name!r}: operation {op_name!r} is not an OperationSpec")
            continue
        seen: set[str] = set()
        for param in (*common, *spec.params):
            for key in (param.name, *param.aliases):
                if key in RESERVED_PARAMS:
                    problems.append(
                        f"node type {name!r}: operation {op_name!r} declares reserved "
                        f"parameter {key!r} (the framework provides it)"
                    )
                elif key in seen:
                    problems.append(
                        f"node type {name!r}: operation {op_name!r} declares parameter "
                        f"{key!r} twice"
                    )
                seen.add(key)
    return problems


def register_node_type(cls: N, *, replace: bool = False) -> N:
    """Register a node type under its ``type_name``; usable as a class decorator.

    Registering the same class again is a no-op.

    Args:
        cls: a concrete :class:`Node` subclass.
        replace: allow replacing a different class registered under the same name.

    Returns:
        ``cls`` unchanged.

    Raises:
        WorkflowError: ``cls`` is not a concrete Node subclass, its declarations are
            malformed, or its name is taken by another class and ``replace`` is false.
    """
    if not isinstance(cls, type) or not issubclass(cls, Node):
        raise WorkflowError(f"register_node_type expects a Node subclass, got {cls!r}")
    problems = _check_declarations(cls)
    if getattr(cls, "__abstractmethods__", None):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        problems.append(f"node type {cls.__qualname__}: does not implement {missing}")
    if problems:
        raise WorkflowError(problems)
    with _lock:
        existing = _types.get(cls.type_name)
        if existing is not None and existing is not cls and not replace:
            raise WorkflowError(
                f"node type {cls.type_name!r} is already registered by "
                f"{existing.__module__}.{existing.__qualname__}"
            )
        _types[cls.type_name] = cls
    return cls


def unregister_node_type(type_name: str) -> None:
    """Remove a node type from the registry (a no-op when it is not registered).

    Workflows already built keep their reference to the class and still run.
    """
    with _lock:
        _types.pop(type_name, None)


def registered_node_types() -> Mapping[str, type[Node]]:
    """Return a read-only snapshot of the registry: type name -> node class."""
    _load_builtins()
    with _lock:
        return MappingProxyType(dict(_types))


def get_node_type(type_name: str) -> type[Node]:
    """Return the node class registered as ``type_name``.

    Raises:
        WorkflowError: no such node type; the message lists the registered ones.
    """
    _load_builtins()
    with _lock:
        cls = _types.get(type_name)
        if cls is None:
            known = ", ".join(sorted(_types)) or "none"
            shown = repr(type_name) if len(type_name) <= 80 else f"{type_name[:77]!r}..."
            raise WorkflowError(f"unknown node type {shown} (registered: {known})")
        return cls
