"""Plan validation: from a :class:`PlanRequest` to a journaled-ready :class:`MigrationPlan`.

Layer: migration. Everything a plan can get wrong is found here, before anything is
journaled: malformed parameters (``ConfigError`` naming the key and value), unknown edges,
workloads missing on the source, source equal to target, and a target too small for the
size estimate (:class:`InsufficientCapacity`, skipped by ``force_migration``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from edge_actors.clock import SYSTEM_CLOCK, Clock
from edge_actors.errors import ConfigError
from edge_actors.units import parse_bandwidth_bps, parse_duration

from ._constraints import parse_constraints
from ._errors import InsufficientCapacity, MigrationError
from ._models import MigrationPlan, PlanRequest, ServiceDefaults, WorkloadEstimate
from ._strategies import check_priority, get_strategy

if TYPE_CHECKING:
    from ._gateway import EdgeGateway

__all__ = ["build_plan", "coerce_request"]

_WORKLOAD = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_MIGRATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_EDGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")  # the topology's edge names
_MAX_WORKLOADS = 1000
_MAX_ENDPOINTS = 100
_MAX_ENDPOINT_LEN = 2048
_FIELDS = tuple(PlanRequest.__struct_fields__)


def _short(value: object, limit: int = 80) -> str:
    """``repr(value)``, shortened to ``limit`` characters for error messages."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def coerce_request(request: PlanRequest | Mapping[str, Any]) -> PlanRequest:
    """Accept a :class:`PlanRequest` or the guide's dict of parameters.

    Raises:
        ConfigError: unknown parameter or wrong type, naming the field.
    """
    if isinstance(request, PlanRequest):
        return request
    if not isinstance(request, Mapping):
        raise ConfigError(f"plan: expected a PlanRequest or a mapping, got {request!r}")
    data = dict(request)
    for key in data:
        if not isinstance(key, str):
            raise ConfigError(f"plan: parameter names must be strings, got {_short(key)}")
        if key not in _FIELDS:
            name = key if len(key) <= 64 else f"{key[:61]}..."
            raise ConfigError(f"{name}: unknown plan parameter (known: {', '.join(_FIELDS)})")
    constraints = data.get("constraints")
    if isinstance(constraints, Mapping):
        for key in constraints:
            if not isinstance(key, str):
                raise ConfigError(f"constraints: names must be strings, got {_short(key)}")
    try:
        # strict: a string is not silently taken for a number, nor 1 for true
        return msgspec.convert(data, PlanRequest, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(_type_error(str(exc), data)) from None


_TYPE_ERROR = re.compile(r"^Expected `(?P<expected>[^`]+)`, got `[^`]+` - at `\$(?P<path>[^`]+)`$")
_PATH_PART = re.compile(r"\.(\w+)|\[(\d+)\]")


def _type_error(text: str, data: Mapping[str, Any]) -> str:
    """Turn msgspec's ``Expected `int`, got `str` - at `$.priority``` into a message naming
    the key and the value (``priority: expected int | null, got 'high'``)."""
    match = _TYPE_ERROR.match(text)
    if match is None:
        return f"plan: {text}"
    path = match["path"]
    value: Any = data
    for name, index in _PATH_PART.findall(path):
        try:
            value = value[name] if name else value[int(index)]
        except (KeyError, IndexError, TypeError):
            return f"plan: {text}"
    return f"{path.lstrip('.')}: expected {match['expected']}, got {_short(value)}"


def _check_shape(req: PlanRequest) -> None:
    for field in ("source_edge", "target_edge"):
        value = getattr(req, field)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{field}: expected an edge name, got {value!r}")
        if not _EDGE.match(value):
            raise ConfigError(
                f"{field}: {_short(value)} is not an edge name (letters, digits, '.', '_', "
                "'-'; up to 63 characters)"
            )
    if req.source_edge == req.target_edge:
        raise ConfigError(
            f"target_edge: must differ from source_edge (both are {req.source_edge!r})"
        )
    if not req.workloads:
        raise ConfigError("workloads: expected at least one workload name, got []")
    if len(req.workloads) > _MAX_WORKLOADS:
        raise ConfigError(f"workloads: at most {_MAX_WORKLOADS} per plan, got {len(req.workloads)}")
    seen: set[str] = set()
    for name in req.workloads:
        if not isinstance(name, str) or not _WORKLOAD.match(name) or ".." in name:
            raise ConfigError(f"workloads: {_short(name)} is not a valid workload name")
        if name in seen:
            raise ConfigError(f"workloads: {name!r} is listed twice")
        seen.add(name)
    if req.migration_id is not None and not _MIGRATION_ID.match(req.migration_id):
        raise ConfigError(f"migration_id: {_short(req.migration_id)} is not a valid id")
    if len(req.test_endpoints) > _MAX_ENDPOINTS:
        raise ConfigError(
            f"test_endpoints: at most {_MAX_ENDPOINTS} paths, got {len(req.test_endpoints)}"
        )
    for path in req.test_endpoints:
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigError(f"test_endpoints: {_short(path)} must be a path starting with '/'")
        if len(path) > _MAX_ENDPOINT_LEN or not path.isprintable() or " " in path:
            raise ConfigError(
                f"test_endpoints: {_short(path)} must be at most {_MAX_ENDPOINT_LEN} "
                "printable characters without spaces"
            )


def _options(req: PlanRequest, defaults: ServiceDefaults) -> tuple[int, float, bool]:
    batch = req.sync_batch_size if req.sync_batch_size is not None else defaults.sync_batch_size
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 1_000_000:
        raise ConfigError(f"sync_batch_size: expected 1..1000000 records, got {batch!r}")
    interval: float = defaults.checkpoint_interval_s
    if req.checkpoint_interval is not None:
        interval = parse_duration(req.checkpoint_interval, field="checkpoint_interval")
    compression = (
        defaults.enable_compression if req.enable_compression is None else req.enable_compression
    )
    if not isinstance(compression, bool):
        raise ConfigError(f"enable_compression: expected true or false, got {compression!r}")
    return batch, interval, compression


async def build_plan(
    request: PlanRequest | Mapping[str, Any],
    gateway: EdgeGateway,
    defaults: ServiceDefaults,
    *,
    time_zone: str = "UTC",
    clock: Clock = SYSTEM_CLOCK,
) -> MigrationPlan:
    """Validate ``request`` against the edges and return the plan.

    ``clock`` stamps the plan's ``created_at``.

    Raises:
        ConfigError: a malformed parameter or constraint (the message names it).
        UnknownEdgeName: an edge is not in the topology.
        WorkloadNotOnEdge: a workload does not exist on the source.
        InsufficientCapacity: the target cannot hold the estimate (no ``force_migration``).
        MigrationError: a workload is not ``active`` on the source.
    """
    req = coerce_request(request)
    strategy = get_strategy(req.strategy)
    priority = check_priority(req.priority, strategy)
    constraints = parse_constraints(req.constraints, default_zone=time_zone)
    _check_shape(req)
    batch, interval, compression = _options(req, defaults)
    explicit: float | None = None
    if req.bandwidth_limit_mbps is not None:
        explicit = parse_bandwidth_bps(req.bandwidth_limit_mbps, field="bandwidth_limit_mbps")
    if constraints.bandwidth_bps is not None:
        explicit = min(explicit or constraints.bandwidth_bps, constraints.bandwidth_bps)
    bandwidth = explicit
    if bandwidth is None and defaults.bandwidth_limit_mbps and not strategy.ignores_link_limit:
        bandwidth = defaults.bandwidth_limit_mbps * 1e6
    gateway.resolve(req.source_edge)
    gateway.resolve(req.target_edge)
    estimates = []
    for name in req.workloads:
        info = await gateway.workload_info(req.source_edge, name)
        if info.status != "active":
            raise MigrationError(
                f"workload {name!r} is {info.status} on {req.source_edge!r}, not active"
            )
        estimates.append(WorkloadEstimate(name, info.records, info.bytes, info.lsn))
    total = sum(e.bytes for e in estimates)
    capacity = await gateway.capacity(req.target_edge)
    free = capacity.free_bytes
    if free is not None and free < total and not constraints.force_migration:
        raise InsufficientCapacity(req.target_edge, total, free)
    return MigrationPlan(
        migration_id=req.migration_id or f"mig-{uuid.uuid4().hex[:12]}",
        source_edge=req.source_edge,
        target_edge=req.target_edge,
        workloads=tuple(req.workloads),
        strategy=strategy.name,  # type: ignore[arg-type]
        priority=priority,
        constraints=constraints,
        bandwidth_bps=bandwidth,
        bandwidth_explicit=explicit is not None,
        enable_compression=compression,
        sync_batch_size=batch,
        checkpoint_interval_s=interval,
        test_endpoints=tuple(req.test_endpoints),
        estimates=tuple(estimates),
        estimated_bytes=total,
        target_free_bytes=capacity.free_bytes,
        created_at=clock.time(),
    )
