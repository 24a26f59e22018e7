"""The workload router of one edge: routing, holds and route changes (edge layer).

:class:`WorkloadRouter` answers "is this workload served here, and how": it reads the
:class:`RoutingTable` and the store registry, holds and releases a workload's writes
(:class:`Holds`), and changes routes (status, activation, create, drop). It raises
:mod:`._refusals` errors and knows nothing of HTTP: the HTTP layer maps each refusal to
its status in one place. It is usable while the daemon runs (between :meth:`attach` and
:meth:`detach`).

It hands out four parts that use its route checks: the route and epoch changes, each
durable before it answers (:mod:`._route_changes`), the write path (routing, hold gate,
capacity, forwarding: :mod:`._write_path`), the target's side of a cutover (the
activation and an undo that may keep it: :mod:`._activation`) and what the edge reports
(workload info, capacity, load, the size snapshot for ``/metrics``: :mod:`._reports`).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import anyio

from edge_actors.store import WorkloadNotFound, validate_workload_name

from ._activation import Activations
from ._activation_writes import ActivationWrites
from ._errors import EdgeError
from ._hold_budget import StepTimes
from ._holds import Holds
from ._refusals import (
    CapacityExceeded,
    CutoverInProgress,
    NoSuchWorkload,
    WorkloadHeld,
    WorkloadIsIncoming,
    WorkloadRedirected,
)
from ._reports import EdgeReports
from ._route_changes import RouteChanges
from ._routing import Route
from ._write_path import WritePath

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import aiohttp
    from anyio.abc import TaskGroup

    from edge_actors.clock import Clock
    from edge_actors.store import StoreRegistry, WorkloadStore

    from ._config import EdgeConfig
    from ._fence import EpochFence
    from ._metrics import DaemonMetrics
    from ._models import WorkloadInfo, WorkloadStatus
    from ._routing import RoutingTable, WriteGate

__all__ = ["WorkloadRouter"]


class WorkloadRouter:
    """Routing, holds and writes of one edge's workloads.

    Args:
        config: The daemon's settings (name, capacity limits, default hold lease).
        metrics: The daemon's metrics.
        log: The daemon's bound logger.
        clock: Times holds and their leases.
        session: Returns the daemon's pooled HTTP session (forwarded writes).
    """

    def __init__(
        self,
        config: EdgeConfig,
        metrics: DaemonMetrics,
        log: Any,
        clock: Clock,
        session: Callable[[], aiohttp.ClientSession],
    ) -> None:
        self.name = config.name
        self.metrics = metrics
        self.log = log
        self.hold_timeout_s = config.hold_timeout_s
        self.activation_writes = StepTimes()
        """How long this edge's recent activations took to make themselves durable."""
        self.activations_writing = ActivationWrites()
        """The activations' durable writes in progress here (an undo may keep one)."""
        activations = Activations(self)
        self.activate = activations.activate
        """A cutover's target side: confirm the LSN (and digest), then go ``active``
        (:meth:`Activations.activate <._activation.Activations.activate>`)."""
        self.kept_activation = activations.kept
        """Whether an undo at an epoch keeps the activation at that epoch here
        (:meth:`Activations.kept <._activation.Activations.kept>`)."""
        self.hold_max_lease_s = config.hold_max_lease_s
        self._max_workloads = config.max_workloads
        self.write = WritePath(self, session, max_bytes=config.max_bytes).write
        """Run a data write through the routing checks, the hold gate and capacity
        (:meth:`WritePath.write <._write_path.WritePath.write>`)."""
        self.reports = EdgeReports(
            self, max_bytes=config.max_bytes, max_workloads=config.max_workloads
        )
        """What the edge reports: workload info, capacity, load, sizes for ``/metrics``."""
        self.holds = Holds(
            config.name,
            metrics,
            log,
            clock,
            max_total_s=config.hold_max_total_s,
            max_held_bytes=config.max_held_bytes,
        )
        self._registry: StoreRegistry | None = None
        self._routing: RoutingTable | None = None
        self._fence: EpochFence | None = None
        self._cutovers: set[str] = set()
        self._changes = changes = RouteChanges(self)
        self.admit_epoch = changes.admit_epoch
        """Fence a routing command by its epoch (:meth:`RouteChanges.admit_epoch
        <._route_changes.RouteChanges.admit_epoch>`)."""
        self.set_route = changes.set_route
        """Set a route, durable when it returns (:meth:`RouteChanges.set_route
        <._route_changes.RouteChanges.set_route>`)."""
        self.set_route_fenced = changes.set_route_fenced
        """Admit an epoch and set a route in one write (:meth:`RouteChanges.set_route_fenced
        <._route_changes.RouteChanges.set_route_fenced>`)."""
        self.admit_and_bind = changes.admit_and_bind
        """Admit a cutover's epoch and bind its migration in one write
        (:meth:`RouteChanges.admit_and_bind <._route_changes.RouteChanges.admit_and_bind>`)."""
        self.undo_unbegun = changes.undo_unbegun
        """Undo an activation that had not begun its durable writes, in memory
        (:meth:`RouteChanges.undo_unbegun <._route_changes.RouteChanges.undo_unbegun>`)."""

    # -- lifecycle -------------------------------------------------------------------------

    def attach(
        self, registry: StoreRegistry, routing: RoutingTable, fence: EpochFence, tasks: TaskGroup
    ) -> None:
        """Serve from the open ``registry``, ``routing`` and ``fence``; hold leases run in
        ``tasks``."""
        self._registry, self._routing, self._fence = registry, routing, fence
        self.holds.start(tasks)
        self._changes.attach(tasks)

    def detach(self) -> None:
        """Stop serving: the stores are about to close (:attr:`registry` raises from now)."""
        self._registry = None

    @property
    def registry(self) -> StoreRegistry:
        """The open store registry.

        Raises:
            EdgeError: The daemon is not running.
        """
        if self._registry is None:
            raise EdgeError(f"edge {self.name!r} is not running; stores are closed")
        return self._registry

    @property
    def routing(self) -> RoutingTable:
        """The routing table (valid while running)."""
        if self._routing is None:
            raise EdgeError(f"edge {self.name!r} is not running; no routing table")
        return self._routing

    @property
    def fence(self) -> EpochFence:
        """The epochs seen per workload (valid while running)."""
        if self._fence is None:
            raise EdgeError(f"edge {self.name!r} is not running; no epoch file")
        return self._fence

    # -- routing ---------------------------------------------------------------------------

    def route_of(self, name: str) -> Route | None:
        """Return the route of ``name``: its table entry, ``active`` if only a store exists,
        ``None`` if the workload is unknown here."""
        route = self.routing.get(name)
        if route is not None:
            return route
        if name in self.registry:
            return Route("active")
        return None

    def known_route(self, name: str) -> Route:
        """The route of ``name``.

        Raises:
            NoSuchWorkload: Unknown here.
        """
        validate_workload_name(name)
        route = self.route_of(name)
        if route is None:
            raise NoSuchWorkload(f"no workload {name!r} on {self.name}")
        return route

    def route_with_data(self, name: str) -> Route:
        """Return the route of ``name``, which must have a store here.

        Raises:
            NoSuchWorkload: Unknown here, or a route without data (moved away).
        """
        validate_workload_name(name)
        route = self.route_of(name)
        if route is None or name not in self.registry:
            raise NoSuchWorkload(f"workload {name!r} has no data on {self.name}")
        return route

    def data_route(self, name: str, *, admitted: bool = False) -> WorkloadStore:
        """Check that data requests for ``name`` are served here; return its store.

        A running cutover's ``retiring_to`` mark does not redirect a request arriving
        during its hold (it queues at the gate); ``admitted`` (a write past the gate, about
        to be applied) is redirected by the mark once it is armed (the target was asked
        to activate): a hold released by an undo that could not reach the target must not
        let its held writes run here.

        Raises:
            NoSuchWorkload: Unknown here (or no data).
            WorkloadIsIncoming: ``incoming`` here, or its activation is not durable yet.
            WorkloadRedirected: The workload moved (same request, its new edge).
        """
        route = self.known_route(name)
        if route.status == "moved" and route.moved_to is not None:
            raise WorkloadRedirected(route.moved_to)
        retiring_to = self.fence.get(name).retiring_to
        if retiring_to is not None and (
            name not in self._cutovers or (admitted and self.fence.redirects_admitted(name))
        ):
            # A cutover was cut short after the target may have gone active: never serve
            # here until the control plane settles ownership (see ``_fence``).
            raise WorkloadRedirected(retiring_to)
        if route.status == "incoming":
            raise WorkloadIsIncoming(
                f"workload {name!r} is incoming on {self.name} (a migration target); "
                "it is served by its source edge until cutover"
            )
        if self.activations_writing.in_progress(name):
            raise WorkloadIsIncoming(
                f"workload {name!r} is being activated on {self.name}; it is served here "
                "once its activation is durable"
            )
        try:
            return self.registry.get(name)
        except WorkloadNotFound:
            raise NoSuchWorkload(f"workload {name!r} has no data on {self.name}") from None

    async def served_route(self, name: str) -> WorkloadStore:
        """:meth:`data_route`, once an activation of ``name`` that is making itself durable
        here has done so (one fsync's wait): a request that reaches the new owner in that
        window is served then, instead of being refused as ``incoming``.

        Raises:
            As :meth:`data_route` (``WorkloadIsIncoming`` if that activation failed).

        Cancellation: cancellable while it waits; nothing changes.
        """
        if self.activations_writing.in_progress(name):
            await self.activations_writing.settled(name)
        return self.data_route(name)

    def cutover_running(self, name: str) -> bool:
        """Whether a cutover of ``name`` runs here now."""
        return name in self._cutovers

    def check_no_cutover(self, name: str) -> None:
        """Refuse a routing or hold change while a cutover of ``name`` runs here.

        Raises:
            CutoverInProgress: The cutover owns the hold and the route until it answers.
        """
        if name in self._cutovers:
            raise CutoverInProgress(
                f"a cutover of {name!r} is running on {self.name}; it releases the hold "
                "itself when it ends"
            )

    @contextmanager
    def cutting_over(self, name: str) -> Iterator[None]:
        """Mark a cutover of ``name`` as running for the ``with`` body.

        Raises:
            CutoverInProgress: One is already running.
        """
        self.check_no_cutover(name)
        self._cutovers.add(name)
        try:
            yield
        finally:
            self._cutovers.discard(name)

    async def create(
        self, name: str, status: WorkloadStatus, *, migration_id: str | None = None
    ) -> WorkloadInfo:
        """Create the store of ``name`` with routing ``status`` (``active`` / ``incoming``),
        bound to ``migration_id`` (a fresh copy: a binding of a route left here is dropped).

        Raises:
            CapacityExceeded: ``max_workloads`` reached (nothing created).
            StateNotDurable: Its route could not be written (the store just created is
                dropped again: nothing created).
        """
        validate_workload_name(name)
        limit = self._max_workloads
        if limit is not None and len(self.registry.names()) >= limit:
            raise CapacityExceeded(
                f"edge {self.name} already hosts {limit} workloads (max_workloads); "
                f"{name!r} was not created"
            )
        await self.registry.create(name)
        left = self.routing.get(name)  # a route left here by an earlier copy (a redirect)
        self.routing.forget(name)
        try:
            await self.set_route(
                name,
                "incoming" if status == "incoming" else "active",
                None,
                migration_id=migration_id,
            )
        except BaseException:
            # Its route is not durable: the new (empty) store must not be served as active,
            # and the route left here stands again (written by the next save).
            with anyio.CancelScope(shield=True):
                await self.registry.drop(name)
            if left is not None and self.routing.get(name) is None:
                self.routing.put(name, left)
            raise
        self.log.info("workload_created", workload=name, status=status, migration_id=migration_id)
        return await self.reports.info(name)

    async def drop(self, name: str, *, forget: bool) -> None:
        """Drop the store of ``name``; a ``moved`` route is kept unless ``forget``.

        Raises:
            NoSuchWorkload: Unknown here.
            CutoverInProgress, WorkloadHeld: Nothing dropped.
            StateNotDurable: The store was dropped but forgetting its route could not be
                written (the route stays, in memory and on disk).
        """
        route = self.known_route(name)
        self.check_no_cutover(name)
        if self.holds.is_held(name):
            raise WorkloadHeld(f"workload {name!r} is held; release it first")
        if name in self.registry:
            await self.registry.drop(name)
        self.holds.forget(name)
        if forget or route.status != "moved":
            await self.routing.remove(name)
        self.log.info("workload_dropped", workload=name, kept_route=route.status == "moved")

    # -- holds -----------------------------------------------------------------------------

    def gate(self, name: str) -> WriteGate:
        """Return the write gate of workload ``name`` (created on first use)."""
        return self.holds.gate(name)

    async def hold(self, name: str, lease_s: float | None) -> tuple[int, float]:
        """Hold writes of ``name``; return ``(lsn, lease_s)`` once in-flight writes are done.

        The lease (default ``config.hold_timeout_s``) releases the hold unless it is
        released or renewed first; a renewal's lease may be cut short (the answer's
        ``lease_s``, see :meth:`Holds.hold`).

        Raises:
            HoldLimitReached: A renewal past ``hold_max_total_s``.

        Cancellation: the hold stays in place until released or its lease expires.
        """
        lease = self.hold_timeout_s if lease_s is None else lease_s
        return await self.holds.hold(self.registry.get(name), lease)

    async def release(
        self, name: str, moved_to: str | None, *, reason: str = "request"
    ) -> tuple[int, float]:
        """Optionally flip ``name`` to ``moved`` (to ``moved_to``), then release its writes.

        Queued writes then run one by one in arrival order against the local store, or,
        with ``moved_to``, all go at once in arrival order to be forwarded there in one
        batch (:meth:`WriteGate.release`); this returns without waiting for them.

        Returns:
            ``(held_writes, held_ms)``.

        Raises:
            NoSuchWorkload: Unknown here.
            InvalidRouteChange: ``moved_to`` is not an http(s) URL.
            StateNotDurable: The ``moved`` route could not be written (the writes stay
                held, the route as it was).
        """
        self.known_route(name)
        if moved_to is not None:
            await self.set_route(name, "moved", moved_to)  # durable before writes go there
        return self.holds.release(name, moved_to, reason=reason)

    def flip(self, name: str, moved_to: str) -> tuple[int, float]:
        """A cutover's flip: route ``name`` to ``moved_to`` and release its held writes,
        which are forwarded there; the route is not durable until :meth:`persist_flip`.

        Only for a cutover that marked ``name`` ``retiring_to`` ``moved_to`` durably before
        the target went active: until the route is persisted that mark redirects the
        workload after a restart (see ``_cutover``).

        Returns:
            ``(held_writes, held_ms)``.
        """
        route = self.known_route(name)
        self.routing.put(name, Route("moved", moved_to.rstrip("/"), route.migration_id))
        return self.holds.release(name, moved_to, reason="cutover")

    async def persist_flip(self, name: str) -> None:
        """Make a :meth:`flip` durable: the ``moved`` route first, then clear the
        ``retiring_to`` mark (in that order: a crash between them still redirects)."""
        await self.routing.save()
        await self.fence.retire(name, None)
        route = self.routing.get(name)
        self.log.info(
            "route_set",
            workload=name,
            status="moved",
            moved_to=route.moved_to if route else None,
            migration_id=route.migration_id if route else None,
        )
