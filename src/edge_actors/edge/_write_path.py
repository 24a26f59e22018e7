"""The write path of one edge: routing checks, the hold gate, capacity, forwarding (edge layer).

:class:`WritePath` runs every data write: the router's routing checks, the workload's hold
gate (a write that waited on a hold released to a new edge is forwarded there by this
edge, :class:`Forwarder`), then the capacity check against the store registry's O(1)
byte count (with the bytes of writes already admitted reserved) and the store write.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ._forwarder import Forwarder
from ._models import WriteAnswer
from ._refusals import CapacityExceeded, ForwardFailed, WriteAbandoned

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import aiohttp

    from ._router import WorkloadRouter

__all__ = ["WritePath"]


class WritePath:
    """Data writes of one edge.

    Args:
        router: The edge's router (routes, gates, stores, metrics, log).
        session: Returns the daemon's pooled HTTP session (forwarded writes).
        max_bytes: The edge's capacity in logical record bytes (``None``: unlimited).
    """

    def __init__(
        self,
        router: WorkloadRouter,
        session: Callable[[], aiohttp.ClientSession],
        *,
        max_bytes: int | None,
    ) -> None:
        self._router = router
        self._session = session
        self._max_bytes = max_bytes
        self._forwarders: dict[str, Forwarder] = {}
        self._reserved_bytes = 0

    async def write(
        self,
        name: str,
        ops: Sequence[tuple[str, bytes | None]],
        *,
        abandoned: Callable[[], bool] | None = None,
    ) -> WriteAnswer:
        """Run a data write through the routing checks, the hold gate and capacity.

        A write that waited on a hold released with ``moved_to`` is forwarded to that
        edge by this edge (see :class:`Forwarder`) instead of being redirected. A write
        that waited on a hold is dropped when its turn comes if ``abandoned()`` says its
        client has gone meanwhile.

        Returns:
            The LSN of the last op, and the edge that committed it if forwarded.

        Raises:
            NoSuchWorkload, WorkloadIsIncoming: Routing.
            WorkloadRedirected: The workload moved (and the write was not forwarded, or
                the new edge refused the forward: nothing was applied).
            CapacityExceeded: Over capacity (nothing written).
            ForwardFailed: A forward whose outcome is unknown (not acknowledged).
            WriteAbandoned: It waited on a hold and its client left (nothing written).

        Cancellation: if cancelled while waiting on a hold, the write never runs; once
        submitted to the store, the store's own rule applies (committed or withdrawn).
        """
        await self._router.served_route(name)
        adding = sum(len(key.encode("utf-8")) + len(value) for key, value in ops if value)
        size = adding + sum(len(key) for key, value in ops if value is None)
        async with self._router.gate(name).admit(size) as waited:
            if waited and abandoned is not None and abandoned():
                self._router.log.info("held_write_abandoned", workload=name, ops=len(ops))
                raise WriteAbandoned(f"client of a held write to {name!r} left; not applied")
            route = self._router.route_of(name)
            if waited and route is not None and route.status == "moved" and route.moved_to:
                # Queued in release order before the turn passes on; sent below.
                forwarded = self._forwarder(name).enqueue(ops)
                moved_to = route.moved_to
            else:
                return WriteAnswer(await self._write_here(name, ops, adding))
        await self._forwarder(name).flush(forwarded, moved_to)
        if forwarded.error is not None:
            raise ForwardFailed(forwarded.error)
        if forwarded.redirect:
            self._router.data_route(name)  # redirects while the route is still moved
            # The route changed back meanwhile (nothing was applied anywhere): run the write
            # where the workload is served now instead of acknowledging it unapplied.
            return await self.write(name, ops)
        return WriteAnswer(forwarded.lsn, moved_to)

    def _forwarder(self, name: str) -> Forwarder:
        forwarder = self._forwarders.get(name)
        if forwarder is None:
            forwarder = self._forwarders[name] = Forwarder(self._session, name, self._router.log)
        return forwarder

    async def _write_here(
        self, name: str, ops: Sequence[tuple[str, bytes | None]], adding: int
    ) -> int:
        store = self._router.data_route(name, admitted=True)
        metrics = self._router.metrics
        reserved = 0
        try:
            if adding and self._max_bytes is not None:
                used = self._router.registry.used_bytes + self._reserved_bytes
                if used + adding > self._max_bytes:
                    raise CapacityExceeded(
                        f"edge {self._router.name} is over capacity: {used} of "
                        f"{self._max_bytes} bytes used, the write needs {adding} "
                        "more; nothing was written"
                    )
                reserved = adding
                self._reserved_bytes += reserved
            started = time.perf_counter()
            if len(ops) == 1:
                key, value = ops[0]
                lsn = await (store.delete(key) if value is None else store.put(key, value))
            else:
                lsn = await store.write_batch(ops)
            metrics.write_latency.labels(self._router.name).observe(time.perf_counter() - started)
        finally:
            self._reserved_bytes -= reserved
        metrics.bytes_in.labels(self._router.name).inc(adding)
        return lsn
