"""The target's side of a cutover: confirm LSN and digest, go ``active`` (edge layer).

:class:`Activations` runs a cutover's activation for the router: the final delta that
came inline is applied to the ``incoming`` copy, the LSN and digest the source holds at
are confirmed, and the epoch, what was confirmed and the ``active`` route are made
durable in one write, unless the time the source gave (``within_ms``) would be overrun.
It also answers an undo that may keep an activation (``SetStatus.keep_if_active``): kept
when the activation at the undo's epoch is durable or becomes so
(:mod:`._activation_writes`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ._refusals import (
    ActivationTooLate,
    DigestMismatch,
    LsnBehind,
    Refusal,
    WorkloadIsMoved,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from edge_actors.wire import Change

    from ._models import WorkloadInfo
    from ._router import WorkloadRouter

__all__ = ["Activations"]

_WRITE_QUANTILE = 0.9
"""Of this edge's recent durable activation writes: what one is planned to take. In place
(:mod:`._state_file`) they took 1.7 / 2.7 / 5.1 / 11.7 ms (p50 / p75 / p90 / max) in a
100 x 10 MB wide plan, against 2.2 / 3.1 / 4.7 / 16 ms replaced whole: the upper
quartile would now leave under 1 ms against one write in ten, and a write that ends past
the source's cut is kept and flips late (its hold over the budget)."""


class Activations:
    """Activations of ``incoming`` copies on one edge.

    Args:
        router: The edge's router (routes, fence, stores; it times the durable writes
            in ``activation_writes`` and tracks them in ``activations_writing``).
    """

    def __init__(self, router: WorkloadRouter) -> None:
        self._router = router

    async def activate(
        self,
        name: str,
        min_lsn: int,
        digest: str | None,
        epoch: int | None = None,
        *,
        delta: Sequence[Change] = (),
        within_s: float | None = None,
        received: float | None = None,
    ) -> WorkloadInfo:
        """A cutover's target side: confirm the LSN (and digest), then go ``active``.

        ``delta``: the cutover's final delta inline, the changes since the last delta
        round up to ``min_lsn``, applied first to an ``incoming`` copy (what it already
        has is skipped; the digest check then covers the whole copy). The LSN and digest
        it confirmed are kept with the epoch (one :meth:`EpochFence.admit`) so that both
        digests at the cutover LSN stay comparable after new writes.

        ``within_s``: the most time, from ``received`` (``time.perf_counter()``), until
        the activation is durable. Before the delta's apply and just before its durable
        writes, if what is left no longer covers their recent 90th-percentile time here
        (the router's ``activation_writes``, :data:`_WRITE_QUANTILE`), it is refused:
        nothing written (the epoch is
        recorded in memory only; this request was the only one that could activate at
        it).

        Raises:
            NoSuchWorkload: Unknown or no data here.
            ActivationTooLate: ``within_s`` would be overrun (not activated).
            StaleEpoch: A higher epoch was seen, or ``epoch`` was burned here by an undo
                (nothing changed).
            WorkloadIsMoved, LsnBehind, DigestMismatch: Not activated (``delta`` may have
                been applied to the ``incoming`` copy, its route unchanged).
            InvalidRecord: A change of ``delta`` is invalid (nothing applied).
        """
        router = self._router
        route = router.route_with_data(name)
        router.fence.check(name, epoch, "active")
        refusal: Refusal | None = None
        confirmed: tuple[int, str] | None = None
        if delta and route.status == "incoming":
            self._check_in_time(name, epoch, within_s, received)
            await self._apply_final_delta(name, delta)
            route = router.route_with_data(name)  # the apply awaited: read it again
            router.fence.check(name, epoch, "active")
        if route.status == "moved":
            refusal = WorkloadIsMoved(f"workload {name!r} is moved on {router.name}; not activated")
        else:
            stats = await router.registry.get(name).stats()
            if stats.lsn < min_lsn:
                refusal = LsnBehind(
                    f"workload {name!r} is at LSN {stats.lsn} on {router.name}, behind the hold "
                    f"LSN {min_lsn}; not activated"
                )
            elif digest is not None and stats.lsn == min_lsn and stats.digest != digest:
                refusal = DigestMismatch(
                    f"workload {name!r} on {router.name} has digest {stats.digest[:16]} at LSN "
                    f"{stats.lsn}, the source {digest[:16]}; not activated"
                )
            elif digest is not None and stats.lsn == min_lsn:
                confirmed = (stats.lsn, stats.digest)
        if refusal is not None:
            if router.fence.record(name, epoch, "active"):  # admitted even when refused
                await router.fence.save()
            raise refusal
        self._check_in_time(name, epoch, within_s, received)
        # The epoch, what was confirmed and the route: one fsync's wait (set_route_fenced).
        writing = time.perf_counter()
        with router.activations_writing.writing(name):
            await router.set_route_fenced(name, "active", None, epoch, activated=confirmed)
        router.activation_writes.record("state_write", time.perf_counter() - writing)
        return await router.reports.info(name)

    async def kept(self, name: str, epoch: int | None) -> bool:
        """Whether an undo at ``epoch`` finds the activation at ``epoch`` durable here, so
        that it is kept (``SetStatus.keep_if_active``, :mod:`._activation_writes`); waits
        for that activation's durable write if it is in progress.

        Cancellation: cancellable; nothing changes.
        """
        router = self._router
        if epoch is None or not await router.activations_writing.settled(name):
            return False
        route = router.routing.get(name)
        entry = router.fence.get(name)
        return (
            route is not None
            and route.status == "active"
            and entry.epoch == epoch
            and entry.undone_epoch < epoch
        )

    def _check_in_time(
        self, name: str, epoch: int | None, within_s: float | None, received: float | None
    ) -> None:
        """Refuse an activation whose durable writes no longer fit in ``within_s`` from
        ``received`` (see :meth:`activate`); checked before its delta is applied too, so
        a target that took the call late answers at once.

        Raises:
            ActivationTooLate: Not enough time left (the epoch recorded in memory only).
        """
        router = self._router
        if within_s is None or received is None:
            return
        left = within_s - (time.perf_counter() - received)
        writes = router.activation_writes.high("state_write", 0.0, quantile=_WRITE_QUANTILE)
        if left < writes:
            router.fence.record(name, epoch, "active")
            raise ActivationTooLate(
                f"workload {name!r}: not activated on {router.name}, "
                f"{max(0.0, left) * 1000:.1f} ms left of the {within_s * 1000:.1f} ms "
                f"given and its durable writes take {writes * 1000:.1f} ms here"
            )

    async def _apply_final_delta(self, name: str, delta: Sequence[Change]) -> None:
        """Apply an activation's inline final delta to the ``incoming`` copy of ``name``.

        As a peer stream resumes after its ``HelloAck`` LSN, the changes at or below the
        copy's LSN are skipped: the copy has them (a cut attempt's delta, applied after
        its undo), and a local LSN is never given to a second record. The copy's LSN may
        be below the delta's start and the copy still complete (the record at the last
        round's end LSN was rewritten since: it comes in this delta), so a gap is left
        to the digest check, which compares the whole content."""
        router = self._router
        store = router.registry.get(name)
        have = (await store.stats()).lsn
        await store.apply_changes([change for change in delta if change.lsn > have])
