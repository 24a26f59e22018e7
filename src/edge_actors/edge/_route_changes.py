"""Route and epoch changes of one edge, each durable before it answers (edge layer).

:class:`RouteChanges` is the part of the :class:`~._router.WorkloadRouter` that changes
routes and epochs: a command's epoch admitted (:meth:`RouteChanges.admit_epoch`), a route
set with or without one (:meth:`RouteChanges.set_route_fenced`), a cutover's epoch and
binding in one write (:meth:`RouteChanges.admit_and_bind`), and the undo of an activation
that had not begun its durable writes (:meth:`RouteChanges.undo_unbegun`). Each change is
made in memory first (a later command is fenced by it at once), then written by the state
log in a worker thread while the loop serves; a write that fails puts the route in memory
back, so nothing is served on the strength of a route that is not durable. The router
hands these methods out as its own; it owns the tables they change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_actors.store import validate_workload_name

from ._refusals import InvalidRouteChange
from ._routing import Route

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from ._models import WorkloadStatus
    from ._router import WorkloadRouter

__all__ = ["RouteChanges"]


class RouteChanges:
    """Route and epoch changes of the workloads of ``router`` (see the module doc)."""

    def __init__(self, router: WorkloadRouter) -> None:
        self._router = router
        self._tasks: TaskGroup | None = None

    def attach(self, tasks: TaskGroup) -> None:
        """Write the epochs of an undo (:meth:`undo_unbegun`) in ``tasks``, and keep the
        stores of the ``incoming`` routes warm."""
        self._tasks = tasks
        for name, route in self._router.routing.items():
            self.keep_warm(name, route)

    async def admit_epoch(
        self, name: str, epoch: int | None, status: WorkloadStatus | None = None
    ) -> None:
        """Fence a routing command on ``name`` by its ``epoch`` (``None``: not fenced);
        ``status``: the route it sets (``incoming`` burns the epoch, ``active`` is refused
        at a burned one, see :meth:`EpochFence.admit`).

        Raises:
            StaleEpoch: A higher epoch was seen for ``name``, or an activation at a burned
                epoch (nothing changed).
            StateNotDurable: The epoch could not be written (see :meth:`EpochFence.admit`).
        """
        validate_workload_name(name)
        await self._router.fence.admit(name, epoch, status)

    async def set_route(
        self,
        name: str,
        status: WorkloadStatus,
        moved_to: str | None,
        *,
        migration_id: str | None = None,
    ) -> Route:
        """Set and persist the routing status of ``name`` (:meth:`set_route_fenced`
        without an epoch: durable when it returns, the fsync in a worker thread).

        ``migration_id`` binds the copy to that migration; without it the copy keeps the
        migration it is bound to (see :class:`Route`).

        Raises:
            InvalidRouteChange: ``moved`` without an http(s) ``moved_to``, or ``moved_to``
                with another status.
            NoSuchWorkload: Unknown workload.
            StateNotDurable: Not written; the route in memory is put back as it was.
        """
        return await self.set_route_fenced(name, status, moved_to, None, migration_id=migration_id)

    async def set_route_fenced(
        self,
        name: str,
        status: WorkloadStatus,
        moved_to: str | None,
        epoch: int | None,
        *,
        migration_id: str | None = None,
        activated: tuple[int, str] | None = None,
    ) -> Route:
        """:meth:`admit_epoch` and :meth:`set_route` as one step, durable when it returns.

        Both change in memory at once (later commands are fenced by the epoch from here);
        then they are written in a worker thread, the loop serving meanwhile: on a daemon
        the epochs and the routes are tables of one state log (:mod:`._edge_state`), so a
        cutover's activation and undo wait for one record's sync. The retiring mark is
        cleared after, as :meth:`set_route` does. ``activated``: as
        :meth:`EpochFence.admit`.

        Raises:
            InvalidRouteChange, NoSuchWorkload: As :meth:`set_route` (nothing changed).
            StaleEpoch: As :meth:`admit_epoch` (nothing changed).
            StateNotDurable: A write failed (an ``OSError``): the route in memory is put
                back as it was (nothing is served on the strength of a route that is not
                durable).
        """
        route = self._route_for(name, status, moved_to, migration_id)
        self._router.fence.record(name, epoch, status, activated=activated)
        before = self._router.routing.get(name)
        routed = self._put_route(name, route)
        after = self._router.routing.get(name)  # an unbound ``active`` route is no entry
        try:
            await self._save_state()
        except BaseException:
            if routed and self._router.routing.get(name) == after:
                # Not durable: serve nothing on the strength of it (the epoch stays seen).
                self._restore_route(name, before)
            raise
        await self._router.fence.retire(name, None)
        self._route_set(name, route)
        return route

    async def _save_state(self) -> None:
        """Make every change of the routes and the epochs durable (one log on a daemon:
        one record's sync), in a worker thread; nothing to wait for when all are."""
        logs = [self._router.fence.state]
        if self._router.routing.state is not logs[0]:
            logs.append(self._router.routing.state)
        for log in logs:
            if log.pending:
                await log.save()

    def undo_unbegun(
        self, name: str, epoch: int | None, migration_id: str | None, moved_to: str | None = None
    ) -> bool:
        """Put ``name`` back to ``incoming`` at ``epoch`` in memory, when only the epoch
        changes: an undo of an activation that has not begun its durable writes here.

        That is so when ``name`` is ``incoming`` already (bound as asked) and carries no
        ``retiring_to`` mark. ``epoch`` is then burned at once: an activation at it is
        refused from here on, the one in flight included (it checks the fence again
        before it writes). The epoch file is written in the background (the daemon's
        tasks), so the caller answers without waiting for an fsync: the undo of a cut
        activation is inside the source's hold. That is safe because no activation
        request outlives this process: a crash that loses the burn lets no activation at
        ``epoch`` in later. ``False``: nothing changed; the undo must go through
        :meth:`set_route_fenced` (durable before it answers).

        Raises:
            InvalidRouteChange: ``moved_to`` given (only valid with ``moved``).
            NoSuchWorkload: Unknown here.
            StaleEpoch: As :meth:`admit_epoch` (nothing changed).
        """
        route = self._route_for(name, "incoming", moved_to, migration_id)
        if epoch is None:
            return False
        if (
            self._router.routing.get(name) != route
            or self._router.fence.get(name).retiring_to is not None
        ):
            return False
        if self._router.fence.record(name, epoch, "incoming") and self._tasks is not None:
            self._tasks.start_soon(self._save_epochs, name)
        return True

    async def _save_epochs(self, name: str) -> None:
        """Write the epoch file (after :meth:`undo_unbegun`); a failure is logged, as the
        burn stays in force in memory."""
        try:
            await self._router.fence.save()
        except OSError as exc:
            self._router.log.error("epoch_save_failed", workload=name, error=str(exc))

    def _route_for(
        self, name: str, status: WorkloadStatus, moved_to: str | None, migration_id: str | None
    ) -> Route:
        """The route :meth:`set_route` sets (validated; nothing changes here)."""
        validate_workload_name(name)
        if status == "moved":
            if moved_to is None or not moved_to.startswith(("http://", "https://")):
                raise InvalidRouteChange(
                    f"moved_to: status 'moved' needs an http(s) URL, got {moved_to!r}"
                )
        elif moved_to is not None:
            raise InvalidRouteChange("moved_to: only valid with status 'moved'")
        bound = (
            self._router.known_route(name).migration_id if migration_id is None else migration_id
        )
        return Route(status, moved_to.rstrip("/") if moved_to else None, bound)

    def _put_route(self, name: str, route: Route) -> bool:
        """Set ``route`` in the table's memory (an unbound ``active`` route is no entry);
        whether the table changed and must be saved."""
        if route.status == "active" and route.migration_id is None:
            return self._router.routing.forget(name)
        self._router.routing.put(name, route)
        return True

    def keep_warm(self, name: str, route: Route) -> None:
        """Keep the store of an ``incoming`` copy warm: its activation writes to it inside
        a cutover's hold, which cannot wait for its file to be reopened."""
        if name in self._router.registry:
            self._router.registry.get(name).keep_warm(route.status == "incoming")

    def _restore_route(self, name: str, route: Route | None) -> None:
        """Put the in-memory route of ``name`` back to ``route`` (``None``: no entry)."""
        if route is None:
            self._router.routing.forget(name)
        else:
            self._router.routing.put(name, route)
        self._router.log.warning(
            "route_not_durable", workload=name, restored=route.status if route else "active"
        )

    def _route_set(self, name: str, route: Route) -> None:
        self.keep_warm(name, route)
        self._router.log.info(
            "route_set",
            workload=name,
            status=route.status,
            moved_to=route.moved_to,
            migration_id=route.migration_id,
        )

    async def admit_and_bind(self, name: str, epoch: int | None, migration_id: str | None) -> None:
        """:meth:`admit_epoch`, then, when ``migration_id`` is given, bind the copy of
        ``name`` here to that migration, its status unchanged (see :class:`Route`); both
        made durable by one write (one sync on a cutover's path before its hold, not two).

        Raises:
            NoSuchWorkload: Unknown workload (nothing recorded).
            StaleEpoch: As :meth:`admit_epoch` (nothing recorded).
            StateNotDurable: Not written: the binding in memory is put back (the epoch
                stays seen).
        """
        validate_workload_name(name)
        route = self._router.known_route(name)
        self._router.fence.record(name, epoch)
        before = self._router.routing.get(name)
        bound = None
        if migration_id is not None and route.migration_id != migration_id:
            bound = Route(route.status, route.moved_to, migration_id)
            self._router.routing.put(name, bound)
        try:
            await self._save_state()
        except BaseException:
            if bound is not None and self._router.routing.get(name) == bound:
                self._restore_route(name, before)
            raise
        if bound is not None:
            self._router.log.info(
                "route_bound", workload=name, status=route.status, migration_id=migration_id
            )
