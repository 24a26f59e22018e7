"""Plan validation: from a :class:`PlanRequest` to a journaled-ready :class:`MigrationPlan`.

Layer: migration. Everything a plan can get wrong is found here, before anything is
journaled: malformed parameters (``ConfigError`` naming the key and value), unknown edges,
workloads missing on the source, source equal to target, and a target too small for the
size estimate (:class:`InsufficientCapacity`, skipped by ``force_migration``).
"""

from __future__ import annotations

import typing
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from edge_actors.clock import SYSTEM_CLOCK, Clock
from edge_actors.errors import ConfigError
from edge_actors.schema import convert, short
from edge_actors.units import parse_bandwidth_bps, parse_duration

from ._constraints import parse_constraints
from ._errors import InsufficientCapacity, MigrationError
from ._models import MigrationPlan, PlanRequest, ServiceDefaults, WorkloadEstimate
from ._strategies import check_priority, get_strategy

if TYPE_CHECKING:
    from ._gateway import EdgeGateway

__all__ = ["build_plan", "check_plan_values", "coerce_request"]

_FIELDS = tuple(PlanRequest.__struct_fields__)
_TYPES: dict[str, Any] = typing.get_type_hints(PlanRequest, include_extras=True)


def _unknown(key: object) -> ConfigError:
    if not isinstance(key, str):
        return ConfigError(f"plan: parameter names must be strings, got {short(key)}")
    name = key if len(key) <= 64 else f"{key[:61]}..."
    return ConfigError(f"{name}: unknown plan parameter (known: {', '.join(_FIELDS)})")


def coerce_request(request: PlanRequest | Mapping[str, Any]) -> PlanRequest:
    """Accept a :class:`PlanRequest` or the guide's dict of parameters, checked in full.

    The one conversion of a plan at the Python API, the HTTP body and the CLI: the field
    types of :class:`PlanRequest` (strict: a string is not taken for a number, nor 1 for
    true), then :func:`check_plan_values`.

    Raises:
        ConfigError: unknown parameter, wrong type or a value breaking a rule, naming the
            field and the value.
    """
    if isinstance(request, PlanRequest):
        data: object = msgspec.to_builtins(request)
    elif isinstance(request, Mapping):
        data = dict(request)
        for key in data:
            if key not in _FIELDS:
                raise _unknown(key)
    else:
        raise ConfigError(f"plan: expected a PlanRequest or a mapping, got {short(request)}")
    req = convert(data, PlanRequest)
    check_plan_values(msgspec.structs.asdict(req))
    return req


def check_plan_values(params: Mapping[str, object]) -> None:
    """Check the plan parameters ``params`` sets (any subset; ``None`` means not set).

    The same rules as :func:`coerce_request`, for callers that hold parameters one by
    one (the workflow node checks its parameters with this when the workflow is built):
    each value converted to its :class:`PlanRequest` field type, then the rules that
    need units, the constraints parser, or two fields.

    Raises:
        ConfigError: the first bad parameter, naming it and its value.
    """
    for key, value in params.items():
        if key not in _TYPES:
            raise _unknown(key)
        if value is None:
            continue
        convert(value, _TYPES[key], field=key)
        if key == "constraints":
            parse_constraints(value)  # type: ignore[arg-type]
        elif key == "bandwidth_limit_mbps":
            parse_bandwidth_bps(value, field=key)  # type: ignore[arg-type]
        elif key == "checkpoint_interval":
            parse_duration(value, field=key)  # type: ignore[arg-type]
        elif key == "workloads":
            seen: set[object] = set()
            for name in value:  # type: ignore[attr-defined]
                if name in seen:
                    raise ConfigError(f"workloads: {name!r} is listed twice")
                seen.add(name)
    source, target = params.get("source_edge"), params.get("target_edge")
    if source is not None and source == target:
        raise ConfigError(f"target_edge: must differ from source_edge (both are {source!r})")


def _options(req: PlanRequest, defaults: ServiceDefaults) -> tuple[int, float, bool]:
    batch = req.sync_batch_size if req.sync_batch_size is not None else defaults.sync_batch_size
    interval: float = defaults.checkpoint_interval_s
    if req.checkpoint_interval is not None:
        interval = parse_duration(req.checkpoint_interval, field="checkpoint_interval")
    compression = (
        defaults.enable_compression if req.enable_compression is None else req.enable_compression
    )
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
