"""Sample data for the guide's examples: :func:`seed_workload` (layer: runtime, top level).

The guide's samples migrate workloads such as ``api-service`` that an application would
have filled. On the embedded default those edges start empty, so an example first seeds
the workloads it names: the edge is started (or resolved in the configured topology), the
workload is created ``active`` if missing, and deterministic records are written through
the real data API in batches. Seeding again writes the same keys with the same values
(idempotent content; each write still takes a new LSN), and ``records`` larger than last
time tops the workload up.
"""

from __future__ import annotations

import asyncio
import hashlib
import math

import msgspec

from edge_actors.edge import AdminClient, EdgeClient, WorkloadMissing
from edge_actors.errors import ConfigError, EdgeActorsError
from edge_actors.runtime import Engine, EngineError, default_engine
from edge_actors.runtime._environment import get_environment
from edge_actors.schema import EdgeName, WorkloadName, convert, short
from edge_actors.store import MAX_VALUE_BYTES

__all__ = [
    "SeedError",
    "SeedResult",
    "record_key",
    "record_value",
    "seed_workload",
    "seed_workload_async",
]

_BATCH = 500
MAX_RECORDS = 10_000_000
"""Most records one seed call writes."""


class SeedError(EdgeActorsError):
    """The workload cannot be seeded on that edge (it is a migration target or moved away)."""


class SeedResult(msgspec.Struct, frozen=True, kw_only=True):
    """What :func:`seed_workload` did.

    Attributes:
        edge: the edge seeded.
        url: its base URL.
        workload: the workload.
        created: the workload did not exist and was created ``active``.
        written: records written by this call.
        records: records the workload holds now.
        bytes: logical bytes (keys + values) it holds now.
        lsn: its latest LSN.
        digest: its content digest (hex).
    """

    edge: str
    url: str
    workload: str
    created: bool
    written: int
    records: int
    bytes: int
    lsn: int
    digest: str


def record_key(index: int) -> str:
    """The key of sample record ``index`` (``rec-000042``)."""
    return f"rec-{index:06d}"


def record_value(workload: str, index: int, value_bytes: int) -> bytes:
    """The deterministic value of sample record ``index``: JSON-like text, ``value_bytes`` long.

    Values look like an app's records (a small JSON object with a hex payload), so
    compression has something realistic to work on.
    """
    head = f'{{"id":{index},"workload":"{workload}","data":"'.encode()
    need = max(0, value_bytes - len(head) - 2)
    payload = hashlib.shake_256(f"{workload}:{index}".encode()).hexdigest(math.ceil(need / 2))
    return (head + payload[:need].encode() + b'"}')[:value_bytes]


def _check(edge: object, workload: object, records: object, value_bytes: object) -> None:
    convert(edge, EdgeName, field="edge")
    convert(workload, WorkloadName, field="workload")
    if isinstance(records, bool) or not isinstance(records, int) or not 0 <= records <= MAX_RECORDS:
        raise ConfigError(f"records: expected an integer 0..{MAX_RECORDS}, got {short(records)}")
    if (
        isinstance(value_bytes, bool)
        or not isinstance(value_bytes, int)
        or not 1 <= value_bytes <= MAX_VALUE_BYTES
    ):
        raise ConfigError(f"value_bytes: expected 1..{MAX_VALUE_BYTES}, got {short(value_bytes)}")


async def _seed(
    engine: Engine, edge: str, workload: str, records: int, value_bytes: int
) -> SeedResult:
    env = await get_environment(engine)
    endpoint = await env.ensure_edge(edge)
    async with AdminClient(endpoint.url, endpoint.token) as admin:
        created = False
        try:
            info = await admin.workload(workload)
        except WorkloadMissing:
            info = await admin.create_workload(workload, "active")
            created = True
        if info.status != "active":
            where = f" to {info.moved_to}" if info.moved_to else ""
            raise SeedError(
                f"workload {workload!r} on edge {edge!r} is {info.status}{where}: only an "
                "active workload can be seeded (seed the edge that serves it now)"
            )
        capacity = await admin.capacity()
        need = records * (len(record_key(records)) + value_bytes)
        if capacity.free_bytes is not None and need > capacity.free_bytes + info.bytes:
            if created:
                await admin.drop_workload(workload)  # leave nothing behind
            raise SeedError(
                f"records, value_bytes: {records} records of {value_bytes} bytes (about "
                f"{need} bytes) do not fit on edge {edge!r} ({capacity.free_bytes} bytes "
                "free); nothing was written"
            )
        async with EdgeClient(endpoint.url, timeout=60.0, token=endpoint.token) as client:
            for start in range(0, records, _BATCH):
                stop = min(records, start + _BATCH)
                ops: list[tuple[str, bytes | None]] = [
                    (record_key(i), record_value(workload, i, value_bytes))
                    for i in range(start, stop)
                ]
                await client.batch(workload, ops)
        final = await admin.workload(workload)
    return SeedResult(
        edge=edge,
        url=endpoint.url,
        workload=workload,
        created=created,
        written=records,
        records=final.records,
        bytes=final.bytes,
        lsn=final.lsn,
        digest=final.digest,
    )


async def seed_workload_async(
    edge: str,
    workload: str,
    *,
    records: int = 1000,
    value_bytes: int = 256,
    engine: Engine | None = None,
) -> SeedResult:
    """Create ``workload`` on ``edge`` (if missing) and write sample records to it.

    Runs on the engine loop (the edge environment's home), so it is safe from any loop.
    Records are ``rec-000000`` ... with deterministic values of ``value_bytes`` bytes,
    written in batches of 500 through the edge's data API.

    Args:
        edge: an edge of the environment (embedded: started on first use).
        workload: the workload name.
        records: how many records (keys ``0 .. records-1``) to write.
        value_bytes: size of each value.
        engine: the engine whose environment to use (default: the process engine).

    Returns:
        What was written and the workload's state after.

    Raises:
        ConfigError: a malformed argument (names it).
        UnknownEdge: a topology is configured and ``edge`` is not in it.
        SeedError: the workload exists on ``edge`` but is not ``active`` there.
        EdgeError: the edge refused a write (e.g. over capacity).

    Cancellation: stops between batches' requests; batches already acknowledged stay.
    """
    _check(edge, workload, records, value_bytes)
    target = engine if engine is not None else default_engine()
    return await target.call_async(_seed, target, edge, workload, records, value_bytes)


def seed_workload(
    edge: str,
    workload: str,
    *,
    records: int = 1000,
    value_bytes: int = 256,
    engine: Engine | None = None,
) -> SeedResult:
    """Blocking :func:`seed_workload_async`, for synchronous code (the guide's samples).

    Raises:
        EngineError: called from inside a running event loop (use
            ``await seed_workload_async(...)``); plus what :func:`seed_workload_async` raises.
    """
    _check(edge, workload, records, value_bytes)
    target = engine if engine is not None else default_engine()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return target.call(_seed, target, edge, workload, records, value_bytes)
    raise EngineError(
        "seed_workload() was called from inside a running event loop and would block it: "
        "use await seed_workload_async(...)"
    )
