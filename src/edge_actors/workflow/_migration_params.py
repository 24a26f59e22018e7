"""Value checks of ``EdgeMigrationNode``'s parameters, at build time and run time (layer: workflow).

Each check raises ``ConfigError`` naming the parameter and the value, so a workflow that
cannot work fails when it is built. The monitoring node reuses the edge-name checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from edge_actors.errors import ConfigError
from edge_actors.migration import STRATEGIES, parse_constraints
from edge_actors.units import parse_bandwidth_bps, parse_duration

from ._values import find_value

if TYPE_CHECKING:
    from ._node import Node

__all__ = ["MAX_NAMES", "check_edge", "check_edge_list", "check_none", "check_values", "short"]

_MIGRATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_WORKLOAD = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_EDGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")

MAX_NAMES = 1000
"""Most workloads of one plan, and most edges one monitoring node may name."""
_MAX_ENDPOINT_LEN = 2048


def short(value: object, limit: int = 80) -> str:
    """``repr(value)`` shortened to ``limit`` characters, for error messages."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def check_none(node_type: type[Node], operation: str, params: Mapping[str, object]) -> None:
    """Refuse ``None`` for a required parameter or one whose default is not ``None``.

    ``None`` means "not set" only where not setting the parameter is allowed and its
    default is ``None``; anywhere else the operation would fail later, at run time.
    """
    for name, spec in node_type.param_specs(operation).items():
        if name in params and params[name] is None and (spec.required or spec.default is not None):
            need = "it is required" if spec.required else f"default {spec.default!r}"
            raise ConfigError(f"{name}: expected a value, got None ({need}; omit it instead)")


def _bool(key: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {short(value)}")


def _int_range(key: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{key}: expected an integer {lo}..{hi}, got {short(value)}")


def check_edge(key: str, value: object) -> str:
    """Return ``value`` if it is a valid edge name, else raise ``ConfigError`` naming ``key``."""
    if not isinstance(value, str) or not _EDGE.match(value):
        raise ConfigError(
            f"{key}: {short(value)} is not a valid edge name (letters, digits, '.', '_', '-'; "
            "up to 63 characters)"
        )
    return value


def check_edge_list(key: str, value: object) -> list[str]:
    """Return a list of valid, distinct edge names, else raise naming ``key``."""
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ConfigError(f"{key}: expected a non-empty list of edge names, got {short(value)}")
    if len(value) > MAX_NAMES:
        raise ConfigError(f"{key}: at most {MAX_NAMES} edges, got {len(value)}")
    names = [check_edge(key, v) for v in value]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{key}: lists an edge twice: {short(twice)}")
    return names


def _check_id(key: str, value: object) -> None:
    found = value if isinstance(value, str) else find_value(value, key)
    if isinstance(found, str):
        if not _MIGRATION_ID.match(found):
            raise ConfigError(f"{key}: {short(found)} is not a valid id")
        return
    raise ConfigError(
        f"{key}: expected an id string (or a connected value carrying {key!r}), got {short(value)}"
    )


def _check_workloads(value: object) -> None:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ConfigError(
            f"workloads: expected a non-empty list of workload names, got {short(value)}"
        )
    if len(value) > MAX_NAMES:
        raise ConfigError(f"workloads: at most {MAX_NAMES} per plan, got {len(value)}")
    seen: set[str] = set()
    for name in value:
        if not isinstance(name, str) or not _WORKLOAD.match(name) or ".." in name:
            raise ConfigError(
                f"workloads: {short(name)} is not a valid workload name (lower-case letters, "
                "digits, '.', '_', '-'; up to 63 characters)"
            )
        if name in seen:
            raise ConfigError(f"workloads: {name!r} is listed twice")
        seen.add(name)


def _check_endpoints(value: object) -> None:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(f"test_endpoints: expected a list of paths, got {short(value)}")
    if len(value) > 100:
        raise ConfigError(f"test_endpoints: at most 100 paths, got {len(value)}")
    for path in value:
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigError(f"test_endpoints: {short(path)} must be a path starting with '/'")
        if len(path) > _MAX_ENDPOINT_LEN or not path.isprintable() or " " in path:
            raise ConfigError(
                f"test_endpoints: {short(path)} must be at most {_MAX_ENDPOINT_LEN} "
                "printable characters without spaces"
            )


def check_values(params: Mapping[str, object]) -> None:
    """Check every parameter value ``params`` sets (``ConfigError`` naming the first bad one)."""
    for key, value in params.items():
        if value is None or key in ("operation", "timeout"):
            continue
        if key == "strategy":
            if not isinstance(value, str) or value not in STRATEGIES:
                known = ", ".join(STRATEGIES)
                raise ConfigError(f"strategy: unknown strategy {short(value)} (known: {known})")
        elif key == "priority":
            _int_range(key, value, 1, 10)
        elif key == "constraints":
            if not isinstance(value, Mapping):
                raise ConfigError(f"constraints: expected a mapping, got {short(value)}")
            for name in value:
                if not isinstance(name, str):
                    raise ConfigError(f"constraints: names must be strings, got {short(name)}")
            parse_constraints(value)
        elif key == "bandwidth_limit_mbps":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ConfigError(f"{key}: expected megabits/s or a string, got {short(value)}")
            parse_bandwidth_bps(value, field=key)
        elif key == "checkpoint_interval":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ConfigError(f"{key}: expected seconds or a duration, got {short(value)}")
            parse_duration(value, field=key)
        elif key == "sync_batch_size":
            _int_range(key, value, 1, 1_000_000)
        elif key == "max_concurrent":
            _int_range(key, value, 1, 1000)
        elif key in ("enable_compression", "auto_rollback", "wait", "validate_functionality"):
            _bool(key, value)
        elif key in ("source_edge", "target_edge"):
            check_edge(key, value)
        elif key == "workloads":
            _check_workloads(value)
        elif key == "test_endpoints":
            _check_endpoints(value)
        elif key in ("migration_id", "checkpoint_id"):
            _check_id(key, value)
    source, target = params.get("source_edge"), params.get("target_edge")
    if source is not None and source == target:
        raise ConfigError(f"target_edge: must differ from source_edge (both are {source!r})")
