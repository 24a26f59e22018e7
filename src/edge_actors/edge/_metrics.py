"""Prometheus metrics and load counters of one edge daemon (edge layer).

Each daemon owns its own ``CollectorRegistry`` (several daemons share a process in tests
and embedded runs), so ``/metrics`` shows only that daemon. Store sizes are read at
scrape time from the registry's running totals (O(1)), per workload for a bounded few.

A scrape renders on the daemon's event loop, so its cost must not grow with the workloads
the edge has seen. Holds and peer-applied records are therefore counted for the whole edge
(``edge_held_writes_total``, ``edge_hold_duration_seconds``, ...) and, per workload, only
for the :data:`ACTIVITY_WORKLOADS` workloads whose counts changed most recently
(:class:`WorkloadActivity`, ``edge_workload_*``). Labelled per workload for every workload
ever held, as they were, a scrape took 36 ms after 100 workloads, 225 ms after 1,000 and
3.5 s after 10,000, all of it a stall of every write and hold on the edge.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Final

import msgspec
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from prometheus_client.metrics_core import Metric

    from edge_actors.wire import CompressionStats

__all__ = ["ACTIVITY_WORKLOADS", "DaemonMetrics", "LoadCounters", "WorkloadActivity"]

ACTIVITY_WORKLOADS: Final = 100
"""Workloads with per-workload hold and peer series on ``/metrics`` (the most recent)."""

_WL: Final = ["edge", "workload"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_HOLD_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class LoadCounters:
    """Plain counters behind ``/admin/health``'s ``load`` (cheap to read and update)."""

    __slots__ = (
        "active_transfers",
        "errors_total",
        "held_writes",
        "inflight",
        "reads_total",
        "requests_total",
        "writes_total",
    )

    def __init__(self) -> None:
        self.requests_total = 0
        self.errors_total = 0
        self.reads_total = 0
        self.writes_total = 0
        self.inflight = 0
        self.held_writes = 0
        self.active_transfers = 0


class _StoreCollector(Collector):
    """Per-workload record and byte gauges, read from the stores at scrape time."""

    def __init__(
        self,
        edge: str,
        sizes: Callable[[], Iterable[tuple[str, int, int, int]]],
        totals: Callable[[], tuple[int, int, int]],
        heap: Callable[[], tuple[int, int]],
        connections: Callable[[], tuple[int, int]],
    ):
        self._edge = edge
        self._sizes = sizes
        self._totals = totals
        self._heap = heap
        self._connections = connections

    def collect(self) -> Iterator[Metric]:
        workloads, all_records, all_bytes = self._totals()
        for metric, text, value in (
            ("edge_store_workloads", "Workloads with a store on this edge.", workloads),
            ("edge_store_records_all", "Live records of all workloads.", all_records),
            ("edge_store_bytes_all", "Logical key+value bytes of all workloads.", all_bytes),
        ):
            family = GaugeMetricFamily(metric, text, labels=["edge"])
            family.add_metric([self._edge], value)
            yield family
        trims, released = self._heap()
        for metric, text, value in (
            ("edge_heap_trims", "Times the C heap's free memory was given back.", trims),
            ("edge_heap_released_bytes", "Memory the heap trims gave back.", released),
        ):
            counter = CounterMetricFamily(metric, text, labels=["edge"])
            counter.add_metric([self._edge], value)
            yield counter
        open_now, idle_now = self._connections()
        conns = GaugeMetricFamily(
            "edge_store_connections",
            "SQLite connections of the stores open now, in use or idle.",
            labels=["edge", "state"],
        )
        conns.add_metric([self._edge, "in_use"], open_now - idle_now)
        conns.add_metric([self._edge, "idle"], idle_now)
        yield conns
        records = GaugeMetricFamily(
            "edge_store_records", "Live records per workload.", labels=["edge", "workload"]
        )
        nbytes = GaugeMetricFamily(
            "edge_store_bytes", "Logical key+value bytes per workload.", labels=["edge", "workload"]
        )
        lsn = GaugeMetricFamily("edge_store_lsn", "LSN per workload.", labels=["edge", "workload"])
        for name, count, size, position in self._sizes():
            records.add_metric([self._edge, name], count)
            nbytes.add_metric([self._edge, name], size)
            lsn.add_metric([self._edge, name], position)
        yield records
        yield nbytes
        yield lsn


class _Activity(msgspec.Struct):
    """One workload's hold and peer counts (see :class:`WorkloadActivity`)."""

    held_writes: int = 0
    holds: int = 0
    hold_seconds: float = 0.0
    last_hold_seconds: float = 0.0
    leases_expired: int = 0
    peer_records: int = 0


class WorkloadActivity:
    """Hold and peer-apply counts per workload, for the ``keep`` workloads whose counts
    changed most recently (older ones are dropped: bounded, however many workloads pass
    through the edge). Owned by the daemon's loop."""

    def __init__(self, keep: int = ACTIVITY_WORKLOADS) -> None:
        self._keep = keep
        self._entries: OrderedDict[str, _Activity] = OrderedDict()

    def _touch(self, name: str) -> _Activity:
        entry = self._entries.pop(name, None)
        if entry is None:
            entry = _Activity()
            if len(self._entries) >= self._keep:
                self._entries.popitem(last=False)
        self._entries[name] = entry
        return entry

    def held(self, name: str, writes: int, seconds: float) -> None:
        """A hold of ``name`` ended after ``seconds`` with ``writes`` held writes."""
        entry = self._touch(name)
        entry.held_writes += writes
        entry.holds += 1
        entry.hold_seconds += seconds
        entry.last_hold_seconds = seconds

    def lease_expired(self, name: str) -> None:
        """A hold of ``name`` was released because its lease ran out."""
        self._touch(name).leases_expired += 1

    def peer_applied(self, name: str, records: int) -> None:
        """``records`` from a peer stream were applied to ``name``."""
        self._touch(name).peer_records += records

    def items(self) -> list[tuple[str, _Activity]]:
        """The kept workloads and their counts, least recently changed first."""
        return list(self._entries.items())


class _ActivityCollector(Collector):
    """The ``edge_workload_*`` series of :class:`WorkloadActivity`, at scrape time."""

    def __init__(self, edge: str, activity: WorkloadActivity) -> None:
        self._edge = edge
        self._activity = activity

    def collect(self) -> Iterator[Metric]:
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {
            "held_writes": CounterMetricFamily(
                "edge_workload_held_writes", "Writes that waited on a hold.", labels=_WL
            ),
            "holds": CounterMetricFamily("edge_workload_holds", "Holds released.", labels=_WL),
            "hold_seconds": CounterMetricFamily(
                "edge_workload_hold_seconds", "Seconds writes were held, summed.", labels=_WL
            ),
            "last_hold_seconds": GaugeMetricFamily(
                "edge_workload_last_hold_seconds",
                "How long the last hold held writes (the last cutover's downtime).",
                labels=_WL,
            ),
            "leases_expired": CounterMetricFamily(
                "edge_workload_hold_leases_expired",
                "Holds released because their lease ran out.",
                labels=_WL,
            ),
            "peer_records": CounterMetricFamily(
                "edge_workload_peer_records_applied",
                "Records applied from peer streams.",
                labels=_WL,
            ),
        }
        for name, entry in self._activity.items():
            for field, family in families.items():
                family.add_metric([self._edge, name], getattr(entry, field))
        yield from families.values()


class _CompressionCollector(Collector):
    """Chunks zstd was tried on and skipped, per link, read from the links at scrape time."""

    def __init__(self, edge: str, links: Callable[[], Mapping[str, CompressionStats]]):
        self._edge = edge
        self._links = links

    def collect(self) -> Iterator[Metric]:
        chunks = CounterMetricFamily(
            "edge_transfer_compression_chunks",
            "Chunks of outgoing transfers by compression decision, per target edge: zstd "
            "tried, or skipped because the link's recent chunks did not compress.",
            labels=["edge", "target", "outcome"],
        )
        for target, stats in self._links().items():
            chunks.add_metric([self._edge, target, "tried"], stats.tried)
            chunks.add_metric([self._edge, target, "skipped"], stats.skipped)
        yield chunks


class DaemonMetrics:
    """The Prometheus metrics of one daemon, registered in its own registry.

    Args:
        edge: The edge name (a constant ``edge`` label on every series).
        sizes: Returns ``(workload, records, bytes, lsn)`` per open store, for the gauges;
            by default the snapshot in :attr:`store_sizes`.
        compression: Returns each link's compression counters (the daemon's
            ``LinkLimiters.compression_stats``); by default none.

    Attributes:
        store_sizes: The latest ``(workload, records, bytes, lsn)`` snapshot (the daemon's
            router refreshes it before each scrape).
        store_totals: The latest ``(workloads, records, bytes)`` of the whole edge.
        heap_totals: The latest ``(trims, released bytes)`` of the stores' heap trimmer.
        store_connections: The latest ``(open, idle)`` store connection counts.
    """

    def __init__(
        self,
        edge: str,
        sizes: Callable[[], Iterable[tuple[str, int, int, int]]] | None = None,
        *,
        compression: Callable[[], Mapping[str, CompressionStats]] | None = None,
    ) -> None:
        self.edge = edge
        self.store_sizes: list[tuple[str, int, int, int]] = []
        self.store_totals: tuple[int, int, int] = (0, 0, 0)
        self.heap_totals: tuple[int, int] = (0, 0)
        self.store_connections: tuple[int, int] = (0, 0)
        self.registry = CollectorRegistry(auto_describe=True)
        self.load = LoadCounters()
        reg = self.registry
        self.requests = Counter(
            "edge_http_requests",
            "HTTP requests by route template, method and status.",
            ["edge", "route", "method", "status"],
            registry=reg,
        )
        self.write_latency = Histogram(
            "edge_write_latency_seconds",
            "Time from admission to acknowledgement of data writes (excludes hold waits).",
            ["edge"],
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        )
        self.bytes_in = Counter(
            "edge_data_bytes_in", "Record bytes received by the data API.", ["edge"], registry=reg
        )
        self.bytes_out = Counter(
            "edge_data_bytes_out", "Record bytes served by the data API.", ["edge"], registry=reg
        )
        self.peer_records = Counter(
            "edge_peer_records_applied",
            "Records applied from peer streams (per workload: edge_workload_*).",
            ["edge"],
            registry=reg,
        )
        self.transfers = Counter(
            "edge_transfers", "Outgoing transfers by final state.", ["edge", "state"], registry=reg
        )
        self.transfer_snapshots = Counter(
            "edge_transfer_snapshots",
            "Outgoing transfers that sent the store's snapshot file instead of record chunks "
            "(a whole copy into an empty target), by final state.",
            ["edge", "state"],
            registry=reg,
        )
        self.transfer_sent_bytes = Counter(
            "edge_transfer_sent_bytes",
            "Frame bytes outgoing transfers put on the wire, per target edge (re-sent "
            "chunks, cutovers' final deltas and cancelled transfers' tails included).",
            ["edge", "target"],
            registry=reg,
        )
        self.transfers_active = Gauge(
            "edge_transfers_active", "Outgoing transfers running now.", ["edge"], registry=reg
        )
        self.yield_pauses = Counter(
            "edge_transfer_yield_pauses",
            "Times a background outgoing copy paused at a chunk boundary for urgent work "
            "(a cutover's hold on this edge).",
            ["edge"],
            registry=reg,
        )
        self.yield_seconds = Counter(
            "edge_transfer_yield_seconds",
            "Seconds background outgoing copies spent paused for urgent work (summed over copies).",
            ["edge"],
            registry=reg,
        )
        self.loop_lag = Gauge(
            "edge_loop_lag_seconds",
            "Largest lateness of the event loop's timers outside cutover holds in the last ~4 s.",
            ["edge"],
            registry=reg,
        )
        self.held_writes = Counter(
            "edge_held_writes",
            "Writes that waited on a hold before running (per workload: edge_workload_*).",
            ["edge"],
            registry=reg,
        )
        self.hold_duration = Histogram(
            "edge_hold_duration_seconds",
            "How long writes were held per hold (the measured cutover downtime).",
            ["edge"],
            buckets=_HOLD_BUCKETS,
            registry=reg,
        )
        self.holds_expired = Counter(
            "edge_hold_leases_expired",
            "Holds released automatically because their lease ran out.",
            ["edge"],
            registry=reg,
        )
        self.activity = WorkloadActivity()
        """Per-workload hold and peer counts, for the most recent workloads only."""
        reg.register(_ActivityCollector(edge, self.activity))
        reg.register(
            _StoreCollector(
                edge,
                sizes or (lambda: self.store_sizes),
                lambda: self.store_totals,
                lambda: self.heap_totals,
                lambda: self.store_connections,
            )
        )
        reg.register(_CompressionCollector(edge, compression or dict))

    def render(self) -> bytes:
        """Return the Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
