"""Which migration a node acts on: its ``migration_id``, found without guessing (layer: workflow).

An operation on one migration takes the id from, in order: the ``migration_id``
parameter (set, or filled by a connection; a connected dict carrying one works too);
else the other connected inputs; else the plan of the nearest upstream
``plan_migration`` node. When one of these sources offers two different ids (two
connected inputs, or two plan nodes equally near), the node refuses, naming both,
instead of picking the first one it happens to see.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_actors.errors import EdgeActorsError

from ._values import find_value

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._context import NodeContext

__all__ = ["AmbiguousMigrationId", "NoMigrationId", "optional_id", "resolve_migration_id"]

_PLANNER = ("EdgeMigrationNode", "plan_migration")


class NoMigrationId(EdgeActorsError):
    """No parameter, connected input or upstream plan gives the migration to act on."""


class AmbiguousMigrationId(EdgeActorsError):
    """Two different migration ids offer themselves and nothing says which one to use."""


def optional_id(params: Mapping[str, object]) -> str | None:
    """The ``migration_id`` parameter (or the id inside a connected value), else ``None``."""
    value = params.get("migration_id")
    if value is None or isinstance(value, str):
        return value
    found = find_value(value, "migration_id")
    return found if isinstance(found, str) else None


def _one(found: dict[str, str], where: str) -> str | None:
    """The single id of ``found`` (source label -> id), ``None`` when empty."""
    ids = sorted(set(found.values()))
    if len(ids) > 1:
        listed = ", ".join(f"{label} gives {mid!r}" for label, mid in found.items())
        raise AmbiguousMigrationId(
            f"two migration ids reach this node from {where} ({listed}): set the "
            "'migration_id' parameter (or connect one output to 'migration_id') to say "
            "which one"
        )
    return ids[0] if ids else None


def resolve_migration_id(
    ctx: NodeContext, params: Mapping[str, object], inputs: Mapping[str, object]
) -> str:
    """The id of the migration this node acts on.

    Raises:
        AmbiguousMigrationId: two connected inputs, or two equally near upstream plans,
            carry different ids (the message names both).
        NoMigrationId: nothing gives one (the message says how to give it).
    """
    explicit = optional_id(params)
    if explicit is not None:
        return explicit
    connected: dict[str, str] = {}
    for name, value in inputs.items():
        found = find_value(value, "migration_id")
        if isinstance(found, str):
            connected[f"input {name!r}"] = found
    chosen = _one(connected, "connected inputs")
    if chosen is not None:
        return chosen
    plans: dict[str, str] = {}
    nearest: int | None = None
    for upstream in ctx.upstream_results():
        if (upstream.type_name, upstream.operation) != _PLANNER:
            continue
        if nearest is not None and upstream.distance > nearest:
            break
        found = find_value(upstream.result.get("plan"), "migration_id")
        if isinstance(found, str):
            nearest = upstream.distance
            plans[f"plan node {upstream.node_id!r}"] = found
    chosen = _one(plans, "upstream plan_migration nodes at the same distance")
    if chosen is not None:
        return chosen
    raise NoMigrationId(
        "no migration_id: set the 'migration_id' parameter, connect an output carrying "
        "one, or put a plan_migration node upstream of this node"
    )
