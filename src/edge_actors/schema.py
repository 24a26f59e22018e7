"""The input types every boundary shares: names, ids, plan parameters, and one ``convert``.

Bottom of the import order (beside ``errors``, ``units`` and ``clock``): every layer may use
it. Each rule a name, id or parameter must follow is written here once, as a msgspec
``Annotated[..., Meta(...)]`` type whose ``description`` says what is expected. Each
boundary (Python API, HTTP bodies, workflow node parameters, CLI flags, config files)
converts its raw input once with :func:`convert`, so the same mistake gets the same
:class:`~edge_actors.errors.ConfigError` text everywhere: ``FIELD: expected WHAT, got VALUE``.

Durations, sizes and bandwidths are typed here as "a number or a string"; their meaning
(``"50ms"``, ``"10GB"``, ``"50mbps"``) is resolved by :mod:`edge_actors.units` after
conversion, which names the field the same way.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin, overload

import msgspec
from msgspec import Meta

from edge_actors.errors import ConfigError

__all__ = [
    "CHECKPOINT_ID",
    "EDGE_NAME",
    "MAX_WORKLOADS",
    "METRIC_NAME",
    "MIGRATION_ID",
    "WORKLOAD_NAME",
    "BandwidthValue",
    "BatchSize",
    "CheckpointId",
    "ConstraintsValue",
    "DurationValue",
    "EdgeName",
    "EdgeNames",
    "Flag",
    "MaxConcurrent",
    "MetricName",
    "MigrationId",
    "Priority",
    "StrategyName",
    "TestEndpoint",
    "TestEndpoints",
    "WorkloadName",
    "Workloads",
    "convert",
    "short",
]

T = TypeVar("T")

# -- the rules, once ----------------------------------------------------------------------

EDGE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z"
"""An edge (and link) name: what the topology, the config file and ``--name`` accept."""
WORKLOAD_NAME = r"^(?!.*\.\.)[a-z0-9][a-z0-9._-]{0,62}\Z"
"""A workload name: lower case (it names a file on disk), no ``..``."""
MIGRATION_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z"
"""A migration (or checkpoint) id."""
CHECKPOINT_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z"
"""A checkpoint id: ``<migration id>-cpN`` as the supervisor names them (longer than an id)."""
METRIC_NAME = r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}\Z"
"""A monitoring metric name."""

EdgeName = Annotated[
    str,
    Meta(
        pattern=EDGE_NAME,
        description="an edge name (letters, digits, '.', '_', '-'; up to 63 characters)",
    ),
]
WorkloadName = Annotated[
    str,
    Meta(
        pattern=WORKLOAD_NAME,
        description="a workload name (lower-case letters, digits, '.', '_', '-'; up to 63 "
        "characters, no '..')",
    ),
]
MigrationId = Annotated[
    str,
    Meta(
        pattern=MIGRATION_ID,
        description="a migration id (letters, digits, '.', '_', '-'; up to 64 characters, "
        "starting with a letter or digit)",
    ),
]
CheckpointId = Annotated[
    str,
    Meta(
        pattern=CHECKPOINT_ID,
        description="a checkpoint id (like 'mig-1-cp2', as checkpoints() lists them)",
    ),
]
MetricName = Annotated[
    str,
    Meta(
        pattern=METRIC_NAME,
        description="a metric name (letters, digits, '_', '.', ':', '-'; up to 128 "
        "characters, starting with a letter or '_')",
    ),
]
StrategyName = Annotated[
    Literal["live", "staged", "bulk", "incremental", "emergency"],
    Meta(description="one of live, staged, bulk, incremental, emergency"),
]
Priority = Annotated[int, Meta(ge=1, le=10, description="an integer 1..10")]
BatchSize = Annotated[int, Meta(ge=1, le=1_000_000, description="an integer 1..1000000")]
TestEndpoint = Annotated[
    str,
    Meta(
        pattern=r"^/[^\s\x00-\x1f\x7f-\x9f]*\Z",
        max_length=2048,
        description="a path starting with '/' (at most 2048 printable characters, no spaces)",
    ),
]
DurationValue = Annotated[
    float | str, Meta(description="seconds or a duration like '30s' or '250ms'")
]
"""A duration as written; :func:`edge_actors.units.parse_duration` gives the seconds."""
BandwidthValue = Annotated[float | str, Meta(description="megabits/s or a bandwidth like '50mbps'")]
"""A bandwidth as written; :func:`edge_actors.units.parse_bandwidth_bps` gives bits/s."""

MAX_WORKLOADS = 1000
"""Most workloads of one plan (and most edges one monitoring node may name)."""
Workloads = Annotated[
    list[WorkloadName],
    Meta(
        min_length=1,
        max_length=MAX_WORKLOADS,
        description=f"a non-empty list of workload names (at most {MAX_WORKLOADS})",
    ),
]
TestEndpoints = Annotated[
    list[TestEndpoint], Meta(max_length=100, description="a list of paths (at most 100)")
]
EdgeNames = Annotated[
    list[EdgeName],
    Meta(
        min_length=1,
        max_length=MAX_WORKLOADS,
        description=f"a non-empty list of edge names (at most {MAX_WORKLOADS})",
    ),
]
MaxConcurrent = Annotated[int, Meta(ge=1, le=1000, description="an integer 1..1000")]
Flag = Annotated[bool, Meta(description="true or false")]
ConstraintsValue = Annotated[
    dict[str, Any], Meta(description="a mapping of constraint names to values")
]
"""A plan's constraints as written; ``migration.parse_constraints`` checks each one."""

# -- messages -------------------------------------------------------------------------------


def short(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages (a huge value must
    not flood a log line or an HTTP answer)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


_ERROR = re.compile(r"^(?P<what>.*?)(?: - at `(?P<key>key` in `)?\$(?P<path>[^`]*)`)?$", re.S)
_EXPECTED = re.compile(r"^Expected `(?P<type>[^`]+)`")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`")
_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_ABSENT = object()


def _unwrap(tp: Any) -> tuple[Any, str | None]:
    """Strip ``Annotated`` and ``X | None`` from ``tp``; keep the outermost description."""
    description: str | None = None
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            base, *metas = get_args(tp)
            for meta in metas:
                if description is None and isinstance(meta, Meta) and meta.description:
                    description = meta.description
            tp = base
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp, description
            tp = args[0]
        else:
            return tp, description


def _step(tp: Any, name: str | None) -> Any:
    """The type one path step (a field name, or ``None`` for an item) below ``tp``."""
    tp, _ = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return typing.get_type_hints(tp, include_extras=True).get(name or "", Any)
    args = get_args(tp)
    if get_origin(tp) in (dict, typing.Mapping) or (
        get_origin(tp) is not None and len(args) == 2 and args[1] is not Ellipsis
    ):
        return args[1]
    return args[0] if args else Any


def _walk(tp: Any, data: object, path: str) -> tuple[str, str | None, object]:
    """Follow msgspec's ``path`` into the type and the data: the field name shown to the
    user (list indices dropped), the description of the type there, and the value."""
    names: list[str] = []
    value = data
    for name, index in _PART.findall(path):
        tp = _step(tp, name or None)
        if name:
            names.append(name)
        try:
            value = value[name] if name else value[int(index)]  # type: ignore[index]
        except (KeyError, IndexError, TypeError, ValueError):
            value = _ABSENT
    return ".".join(names), _unwrap(tp)[1], value


def _join(field: str, sub: str) -> str:
    return ".".join(p for p in (field, sub) if p)


def _message(error: msgspec.ValidationError, tp: Any, data: object, field: str) -> str:
    match = _ERROR.match(str(error))
    assert match is not None  # the pattern matches any text
    what = match["what"]
    sub, description, value = _walk(tp, data, match["path"] or "")
    name = _join(field, sub)
    if match["key"]:
        keys = value if isinstance(value, dict) else {}
        bad = next((k for k in keys if not isinstance(k, str)), _ABSENT)
        shown = "a key of another type" if bad is _ABSENT else short(bad)
        return f"{name}: names must be strings, got {shown}"
    if missing := _MISSING.match(what):
        return f"{_join(name, missing['name'])}: required, but not given"
    if unknown := _UNKNOWN.match(what):
        return f"{_join(name, unknown['name'])}: unknown field"
    expected = description
    if expected is None:
        kind = _EXPECTED.match(what)
        expected = f"`{kind['type']}`" if kind else what
    if value is _ABSENT:
        shown = "nothing"
    elif "length" in what and isinstance(value, list | dict | str) and value:
        shown = f"{len(value)} items" if not isinstance(value, str) else f"{short(value, 40)}"
    else:
        shown = short(value)
    return f"{name or 'value'}: expected {expected}, got {shown}"


@overload
def convert(value: object, tp: type[T], *, field: str = "") -> T: ...
@overload
def convert(value: object, tp: object, *, field: str = "") -> Any: ...


def convert(value: object, tp: object, *, field: str = "") -> Any:
    """Convert ``value`` strictly to ``tp`` (no string taken for a number, nor 1 for true).

    Args:
        value: the raw input (decoded JSON, a node parameter, a parsed flag).
        tp: a schema type, or a Struct whose fields use them.
        field: the name the input has at this boundary (``"priority"``); a path inside
            ``value`` is appended (``"constraints.max_rounds"``).

    Raises:
        ConfigError: ``FIELD: expected WHAT, got VALUE``, WHAT being the type's description.
    """
    try:
        return msgspec.convert(value, tp, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(_message(exc, tp, value, field)) from None
