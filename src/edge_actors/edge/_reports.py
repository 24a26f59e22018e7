"""What one edge reports about its workloads: info, capacity, load, sizes (edge layer).

:class:`EdgeReports` answers the read-only questions the admin and data APIs ask of the
router (a workload's routing status and store statistics, the edge's capacity and load)
and takes the size snapshot ``/metrics`` renders. It changes no route and holds no lock:
every figure is read from the router's routing table, fence, holds and store registry,
whose own counters keep it O(1) per call, whatever the number of workloads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._models import CapacityInfo, LoadInfo, WorkloadInfo

if TYPE_CHECKING:
    from ._router import WorkloadRouter

__all__ = ["METRIC_WORKLOADS", "EdgeReports"]

METRIC_WORKLOADS = 100
"""Most workloads given their own ``edge_store_*`` series on ``/metrics``."""


class EdgeReports:
    """Reports of one edge's workloads.

    Args:
        router: The edge's router (routes, fence, holds, stores and metrics).
        max_bytes: The edge's capacity in logical record bytes (``None``: unlimited).
        max_workloads: The most workloads with a store here (``None``: unlimited).
    """

    def __init__(
        self, router: WorkloadRouter, *, max_bytes: int | None, max_workloads: int | None
    ) -> None:
        self._router = router
        self._max_bytes = max_bytes
        self._max_workloads = max_workloads

    async def info(self, name: str) -> WorkloadInfo:
        """Return routing status and store statistics of ``name`` (any status).

        Raises:
            NoSuchWorkload: Neither a store nor a route exists.
        """
        router = self._router
        route = router.known_route(name)
        fenced = router.fence.get(name)
        records = size = lsn = 0
        digest = ""
        if name in router.registry:
            stats = await router.registry.get(name).stats()
            records, size, lsn, digest = stats.records, stats.bytes, stats.lsn, stats.digest
        return WorkloadInfo(
            name=name,
            status=route.status,
            moved_to=route.moved_to,
            records=records,
            bytes=size,
            lsn=lsn,
            digest=digest,
            held=router.holds.is_held(name),
            cutover=router.cutover_running(name),
            epoch=fenced.epoch,
            retiring_to=fenced.retiring_to,
            activated_lsn=fenced.activated_lsn,
            activated_digest=fenced.activated_digest,
            migration_id=route.migration_id,
        )

    async def workload_names(self) -> list[str]:
        """Names with a store or a route here, sorted."""
        router = self._router
        return sorted(set(router.registry.names()) | {n for n, _ in router.routing.items()})

    def workload_count(self) -> int:
        """How many workloads have a store here."""
        return len(self._router.registry)

    async def capacity(self) -> CapacityInfo:
        """Capacity limits and use (logical record bytes, workloads with a store)."""
        registry = self._router.registry
        used = registry.used_bytes
        limit = self._max_bytes
        return CapacityInfo(
            max_bytes=limit,
            used_bytes=used,
            free_bytes=None if limit is None else max(0, limit - used),
            max_workloads=self._max_workloads,
            used_workloads=len(registry),
        )

    def load(self) -> LoadInfo:
        """The load counters since start."""
        router = self._router
        counters = router.metrics.load
        return LoadInfo(
            requests_total=counters.requests_total,
            errors_total=counters.errors_total,
            reads_total=counters.reads_total,
            writes_total=counters.writes_total,
            inflight=counters.inflight,
            held_writes=router.holds.queued_writes(),
            active_transfers=counters.active_transfers,
        )

    async def refresh_sizes(self) -> None:
        """Snapshot store sizes for ``/metrics``: totals, and per workload for a few.

        Per-workload series cover every workload while there are at most
        :data:`METRIC_WORKLOADS`, else the :data:`METRIC_WORKLOADS` written most recently,
        so a scrape costs the same with 10 or 10,000 workloads.
        """
        registry, metrics = self._router.registry, self._router.metrics
        if len(registry) <= METRIC_WORKLOADS:
            names = registry.names()
        else:
            names = sorted(registry.recently_written(METRIC_WORKLOADS))
        sizes: list[tuple[str, int, int, int]] = []
        for name in names:
            stats = registry.get(name).last_stats
            sizes.append((name, stats.records, stats.bytes, stats.lsn))
        metrics.store_sizes = sizes
        metrics.store_totals = (len(registry), registry.record_count, registry.used_bytes)
        heap, budget = registry.resources.heap, registry.resources.budget
        metrics.heap_totals = (heap.trims, heap.released_bytes)
        metrics.store_connections = (budget.open_connections, budget.idle_connections)
