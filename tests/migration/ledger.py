"""Shared helpers of the migration tests (a plain module, imported explicitly; not a conftest).

Seeding that remembers what it wrote, the expected content digest computed client-side
from what was seeded plus every acknowledged write, plan dicts, and a migration service
opened on a chosen ``data_dir`` (for journal restarts).
"""

from __future__ import annotations

import random
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from edge_actors.edge import AdminClient, EdgeClient, WorkloadMissing
from edge_actors.migration import MigrationMetrics, MigrationService, ServiceDefaults
from edge_actors.store._digest import digest_hex, record_hash

from .conftest import FAST_RESTART, TOKEN, Edges, Writer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable
    from pathlib import Path

    from edge_actors.edge import WorkloadInfo
    from edge_actors.migration import HistoryEvent

__all__ = [
    "content_digest",
    "crash_run",
    "entered",
    "make_workload",
    "more_writes",
    "open_service",
    "plan_for",
    "target_info",
    "target_records",
    "until",
]


async def make_workload(
    edges: Edges, name: str, records: int, value_bytes: int = 512, *, seed: int = 1
) -> dict[str, bytes]:
    """Create ``name`` on the source (west), fill it, and return what was written."""
    rng = random.Random(seed)
    contents = {f"k{i:06d}": rng.randbytes(value_bytes) for i in range(records)}
    async with AdminClient(edges.west.url, TOKEN) as admin:
        await admin.create_workload(name)
    items = list(contents.items())
    async with EdgeClient(edges.west.url, token=TOKEN) as client:
        for start in range(0, len(items), 500):
            await client.batch(name, items[start : start + 500])
    return contents


def content_digest(*parts: dict[str, bytes]) -> str:
    """The store digest of the records ``parts`` hold (later parts override earlier)."""
    merged: dict[str, bytes] = {}
    for part in parts:
        merged.update(part)
    return digest_hex(sum(record_hash(k.encode(), v) for k, v in merged.items()))


def plan_for(*workloads: str, **extra: Any) -> dict[str, Any]:
    """A west -> east plan request for ``workloads``."""
    return {
        "source_edge": "edge-west",
        "target_edge": "edge-east",
        "workloads": list(workloads),
        **extra,
    }


async def target_info(edges: Edges, workload: str, *, source: bool = False) -> WorkloadInfo:
    """The workload as the target (east) or, with ``source``, the source (west) sees it."""
    url = edges.west.url if source else edges.east.url
    async with AdminClient(url, TOKEN) as admin:
        return await admin.workload(workload)


async def target_records(edges: Edges, workload: str) -> int:
    """Records the target (east) holds of ``workload`` (0 once its copy was dropped)."""
    try:
        return (await target_info(edges, workload)).records
    except WorkloadMissing:
        return 0


async def until(
    service: MigrationService, migration_id: str, *, bytes_done: int, timeout: float = 30.0
) -> None:
    """Wait until the migration's target acknowledged at least ``bytes_done`` raw bytes."""
    with anyio.fail_after(timeout):
        while (await service.progress(migration_id)).bytes_done < bytes_done:
            await anyio.sleep(0.02)


async def more_writes(writer: Writer, count: int = 20) -> None:
    """Wait until ``writer`` got ``count`` more writes acknowledged (it keeps writing)."""
    before = writer.writes
    with anyio.fail_after(10):
        while writer.writes < before + count:
            await anyio.sleep(0.02)


def entered(events: Iterable[HistoryEvent], state: str) -> list[HistoryEvent]:
    """The transitions into ``state`` (self-events excluded), oldest first."""
    return [e for e in events if e.to_state == state and e.from_state != state]


@asynccontextmanager
async def open_service(edges: Edges, data_dir: Path) -> AsyncIterator[MigrationService]:
    """A migration service with the test defaults on ``data_dir``."""
    defaults = ServiceDefaults(checkpoint_interval_s=0.5, sync_batch_size=200)
    async with MigrationService(
        edges.gateway, data_dir, defaults=defaults, restart=FAST_RESTART
    ) as svc:
        yield svc


async def crash_run(service: MigrationService, migration_id: str, crash: int) -> None:
    """Kill the run's actor for the ``crash``-th time; unless that exhausts
    ``FAST_RESTART`` (3 restarts), wait until the supervisor counted its restart."""
    ref = await service.actor_ref(migration_id)
    assert ref is not None
    await service.system.kill(ref)
    if crash > FAST_RESTART.max_restarts:
        return
    with anyio.fail_after(15):
        while (m := await service.metrics(migration_id)).restarts < crash:
            await anyio.sleep(0.02)
        assert isinstance(m, MigrationMetrics)
