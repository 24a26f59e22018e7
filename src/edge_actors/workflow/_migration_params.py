"""Value checks of ``EdgeMigrationNode``'s parameters, at build time (layer: workflow).

The node does not restate the plan's rules: plan parameters are checked by
``migration.check_plan_values`` (the same conversion ``MigrationService.plan`` makes), and
the node's own parameters are converted with the shared ``edge_actors.schema`` types. So a
workflow that cannot work fails when it is built, with the message the Python API, the
HTTP API and the CLI give for the same mistake. The monitoring node reuses the edge checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_actors.errors import ConfigError
from edge_actors.migration import PlanRequest, check_plan_values
from edge_actors.schema import (
    MAX_WORKLOADS,
    CheckpointId,
    EdgeName,
    EdgeNames,
    Flag,
    MaxConcurrent,
    MigrationId,
    convert,
    short,
)

from ._values import find_value

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._node import Node

__all__ = ["MAX_NAMES", "check_edge", "check_edge_list", "check_none", "check_values", "short"]

MAX_NAMES = MAX_WORKLOADS
"""Most workloads of one plan, and most edges one monitoring node may name."""

_PLAN_KEYS = frozenset(PlanRequest.__struct_fields__) - {"migration_id"}
_FLAGS = frozenset(("auto_rollback", "wait", "validate_functionality"))


def check_none(node_type: type[Node], operation: str, params: Mapping[str, object]) -> None:
    """Refuse ``None`` for a required parameter or one whose default is not ``None``.

    ``None`` means "not set" only where not setting the parameter is allowed and its
    default is ``None``; anywhere else the operation would fail later, at run time.
    """
    for name, spec in node_type.param_specs(operation).items():
        if name in params and params[name] is None and (spec.required or spec.default is not None):
            need = "it is required" if spec.required else f"default {spec.default!r}"
            raise ConfigError(f"{name}: expected a value, got None ({need}; omit it instead)")


def check_edge(key: str, value: object) -> str:
    """Return ``value`` if it is a valid edge name, else raise ``ConfigError`` naming ``key``."""
    name: str = convert(value, EdgeName, field=key)
    return name


def check_edge_list(key: str, value: object) -> list[str]:
    """Return a list of valid, distinct edge names, else raise naming ``key``."""
    names: list[str] = convert(value, EdgeNames, field=key)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{key}: lists an edge twice: {short(twice)}")
    return names


def _check_id(key: str, value: object) -> None:
    """An id, or a connected value (a dict, a plan) carrying one under ``key``."""
    found = value if isinstance(value, str) else find_value(value, key)
    if not isinstance(found, str):
        raise ConfigError(
            f"{key}: expected an id string (or a connected value carrying {key!r}), "
            f"got {short(value)}"
        )
    convert(found, CheckpointId if key == "checkpoint_id" else MigrationId, field=key)


def check_values(params: Mapping[str, object]) -> None:
    """Check every parameter value ``params`` sets (``ConfigError`` naming the first bad one)."""
    check_plan_values({k: v for k, v in params.items() if k in _PLAN_KEYS})
    for key, value in params.items():
        if value is None:
            continue
        if key == "max_concurrent":
            convert(value, MaxConcurrent, field=key)
        elif key in _FLAGS:
            convert(value, Flag, field=key)
        elif key in ("migration_id", "checkpoint_id"):
            _check_id(key, value)
