"""The one-call cutover of a workload, run on its source edge (edge layer).

:class:`CutoverSaga` runs ``POST /admin/workloads/{w}/cutover``: check the target, hold
writes, ship the final delta over the peer stream, have the target confirm LSN and digest
and go ``active``, flip the route here to ``moved`` and release the held writes (which
the router then forwards to the target). Every step after the hold is undone on failure:
target back to ``incoming``, route here unchanged, hold released. Failures are raised as
:class:`CutoverFailed` naming the step; the HTTP layer maps it.

Fencing (:mod:`._fence`): the request's epoch is admitted here first, and the target's
activation carries the same epoch, so activating the target and retiring the source are
one epoch step. Before the target is asked to go ``active`` this edge durably marks the
workload ``retiring_to`` the target: if it is killed before it flips its route, it comes
back redirecting the workload's requests to the target instead of serving them (never two
copies accepting writes). The mark is cleared when the route flips or the undo has put
the target back to ``incoming``; it stays when the undo could not reach the target.

Deadline (``CutoverRequest.deadline_ms``, the migration sends ``max_downtime`` plus one
measured round trip): the final delta and the activation must finish within it, counted
from the hold; a cutover that cannot is undone, and the undo's call to the target gets the
same budget again. A stalled target therefore holds writes here for at most twice the
budget (then they are released to this edge, or redirected to the target when the undo
could not reach it), never for the admin calls' own timeouts.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio

from edge_actors.transfer import TransferSpec

from ._client import AdminClient
from ._errors import EdgeError, EdgeHTTPError
from ._models import CutoverAnswer
from ._refusals import CutoverFailed, WorkloadNotActive
from ._test_hooks import PauseHook

if TYPE_CHECKING:
    from collections.abc import Callable

    from edge_actors.transfer import TransferProgress

    from ._models import ActivateRequest, CutoverRequest, WorkloadInfo
    from ._router import WorkloadRouter
    from ._transfer_api import Transfers

__all__ = ["CutoverSaga"]

_PEER_CALL_TIMEOUT_S = 10.0  # a cutover's admin calls to the target
_FINAL_DELTA_RETRIES = 1  # inside a hold: one reconnection, then undo


class _Laps:
    """Milliseconds per finished step of a cutover (``perf_counter``: a metric only)."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self._mark = time.perf_counter()

    def restart(self) -> None:
        self._mark = time.perf_counter()

    def lap(self, done: str) -> None:
        now = time.perf_counter()
        self.steps[done] = round((now - self._mark) * 1000, 3)
        self._mark = now


class CutoverSaga:
    """Cuts workloads over from this edge to a target edge, one call each.

    Args:
        router: This edge's router (routes, holds, stores).
        transfers: This edge's outgoing transfers (the final delta runs as one).
        session: Returns the daemon's pooled HTTP session (admin calls to the target).
        pause: The test hook that pauses a step (:mod:`._test_hooks`; off by default).
    """

    def __init__(
        self,
        router: WorkloadRouter,
        transfers: Transfers,
        session: Callable[[], aiohttp.ClientSession],
        pause: PauseHook | None = None,
    ) -> None:
        self._router = router
        self._transfers = transfers
        self._session = session
        self._pause = pause or PauseHook()

    async def activate(self, name: str, req: ActivateRequest) -> WorkloadInfo:
        """The target's side of a cutover: confirm ``req.min_lsn`` (and digest), go active.

        Pauses first at the ``activating`` test step (off by default), so a test can make
        the activation act late, after the source has undone the cutover.

        Raises:
            StaleEpoch: ``req.epoch`` is lower than one seen here, or was burned here by
                an undo (a late activation: nothing changed).
            CutoverInProgress, NoSuchWorkload, WorkloadIsMoved, LsnBehind,
                DigestMismatch: Not activated (nothing changed).
        """
        await self._pause.reached("activating")
        self._router.check_no_cutover(name)
        return await self._router.activate(name, req.min_lsn, req.digest, req.epoch)

    async def run(self, name: str, req: CutoverRequest) -> CutoverAnswer:
        """Cut ``name`` over to ``req.target_url`` in one call (this edge is the source).

        Checks the target first (reachable, token accepted, not ``moved``; nothing held
        yet), then holds writes (waiting for in-flight ones), ships the final delta
        ``(req.from_lsn, hold LSN]`` over the peer stream, has the target confirm LSN and
        digest and go ``active`` (one admin call), flips the route here to ``moved``
        (persisted) and releases the held writes, which are forwarded to the target.
        The steps run shielded: a client that goes away does not stop them halfway.

        Raises:
            NoSuchWorkload: Unknown workload (or no data here).
            StaleEpoch: ``req.epoch`` is lower than one seen here (nothing held).
            WorkloadNotActive: Not active here.
            CutoverInProgress: A cutover of ``name`` is already running.
            CutoverFailed: A step failed (named), after the undo: target back to
                ``incoming``, route here unchanged, hold released.
        """
        router = self._router
        route = router.route_with_data(name)
        router.admit_epoch(name, req.epoch)
        if route.status != "active":
            raise WorkloadNotActive(
                f"workload {name!r} is {route.status} on {router.name}; only an active "
                "workload can be cut over"
            )
        with router.cutting_over(name), anyio.CancelScope(shield=True):
            answer = await self._run(name, req)
        return answer

    async def _run(self, name: str, req: CutoverRequest) -> CutoverAnswer:
        router = self._router
        store = router.registry.get(name)
        gate = router.gate(name)
        target = AdminClient(
            req.target_url, req.target_token, session=self._session(), timeout=_PEER_CALL_TIMEOUT_S
        )
        log = router.log.bind(workload=name, migration_id=req.migration_id, target=req.target_name)
        laps = _Laps()
        activating = False
        step = "check_target"
        try:
            # Before holding anything: the target answers, accepts the token and has the
            # workload incoming (this also warms the pooled connection for "activate").
            before = await target.workload(name)
            if before.status == "moved":
                raise EdgeError(f"the target has {name!r} as moved, not incoming")
        except Exception as exc:
            log.warning("cutover_failed", step=step, error=str(exc))
            raise CutoverFailed(
                f"cutover of {name!r} to {req.target_name} failed at step {step!r}: {exc}; "
                f"nothing was held, {router.name} still serves it"
            ) from exc
        laps.restart()
        step = "hold"
        hold_lsn, _ = await router.hold(name, req.lease_s)
        hold_id = gate.hold_id
        laps.lap("hold")
        budget_s = None if req.deadline_ms is None else req.deadline_ms / 1000
        try:
            with anyio.move_on_after(budget_s) as deadline:
                step = "final_delta"
                shipped = await self._final_delta(name, req, hold_lsn)
                laps.lap("final_delta")
                step = "activate"
                own = await store.stats()
                activating = True  # from here the target may be active: undone on failure
                router.fence.retire(name, req.target_url)
                confirmed = await target.activate(
                    name, min_lsn=hold_lsn, digest=own.digest, epoch=req.epoch
                )
                router.fence.activated(name, hold_lsn, own.digest)
                laps.lap("activate")
            if deadline.cancelled_caught:
                raise EdgeError(
                    f"not done within the cutover's deadline of {req.deadline_ms:g} ms "
                    "(counted from the hold)"
                )
            await self._pause.reached("target_activated")
            step = "flip"
            if not gate.held or gate.hold_id != hold_id or store.lsn != hold_lsn:
                raise EdgeError(
                    f"the hold was lost (lease expired or released; LSN now {store.lsn}, "
                    f"hold LSN {hold_lsn})"
                )
            held_writes, held_ms = router.release(name, req.target_url, reason="cutover")
            laps.lap("flip")
            await self._pause.reached("source_flipped")
        except BaseException as exc:
            undone, held_ms = await self._undo(name, target, activating, budget_s, req.epoch, log)
            log.warning(
                "cutover_failed", step=step, error=str(exc), undo=undone, held_ms=round(held_ms, 3)
            )
            if isinstance(exc, Exception):
                raise CutoverFailed(
                    f"cutover of {name!r} to {req.target_name} failed at step {step!r}: "
                    f"{exc}; {undone} (writes were held {held_ms:.1f} ms)",
                    held_ms=held_ms,
                ) from exc
            raise
        log.info(
            "cutover_done",
            hold_lsn=hold_lsn,
            target_lsn=confirmed.lsn,
            held_writes=held_writes,
            held_ms=round(held_ms, 3),
            steps_ms=laps.steps,
        )
        return CutoverAnswer(
            hold_lsn=hold_lsn,
            target_lsn=confirmed.lsn,
            digest=confirmed.digest,
            held_writes=held_writes,
            held_ms=round(held_ms, 3),
            moved_to=req.target_url.rstrip("/"),
            records=shipped.records if shipped else 0,
            steps_ms=laps.steps,
            raw_bytes=shipped.raw_bytes if shipped else 0,
            wire_bytes=shipped.sent_wire_bytes if shipped else 0,
        )

    async def _final_delta(
        self, name: str, req: CutoverRequest, hold_lsn: int
    ) -> TransferProgress | None:
        """Ship ``(req.from_lsn, hold_lsn]`` to the target; return the transfer's final
        progress (``None``: nothing to ship).

        Cancellation (the cutover's deadline) stops the transfer.
        """
        if hold_lsn <= req.from_lsn:
            return None
        spec = TransferSpec(
            transfer_id=req.transfer_id,
            migration_id=req.migration_id,
            workload=name,
            target_name=req.target_name,
            target_url=req.target_url,
            target_token=req.target_token,
            from_lsn=req.from_lsn,
            to_lsn=hold_lsn,
            batch_size=req.batch_size,
            compression=req.compression,
            max_retries=_FINAL_DELTA_RETRIES,
            retry_backoff_s=0.05,
        )
        store = self._router.registry.get(name)
        final = await self._transfers.run(self._transfers.start(spec), store)
        if final.state != "done" or final.acked_lsn < hold_lsn:
            raise EdgeError(
                f"transfer ended {final.state} at LSN {final.acked_lsn} of {hold_lsn}: "
                f"{final.error}"
            )
        return final

    async def _undo(
        self,
        name: str,
        target: AdminClient,
        activating: bool,
        budget_s: float | None,
        epoch: int | None,
        log: Any,
    ) -> tuple[str, float]:
        """Put routing back as it was before a failed cutover and release the hold.

        The call that puts the target back to ``incoming`` gets the cutover's budget
        (``budget_s``) again, so a target that stalls cannot hold writes here past it.
        When the target may have gone active and cannot be put back to ``incoming``, the
        ``retiring_to`` mark stays: this edge redirects to the target rather than serve
        a second active copy (the control plane settles it).

        Returns:
            What the undo did, for the error message, and how long writes were held (ms).
        """
        router = self._router
        done = f"{router.name} still serves it, held writes released"
        route = router.route_of(name)
        if route is not None and route.status == "moved":
            try:
                router.set_route(name, "active", None)
            except Exception:  # no await inside: a cancellation cannot arrive here
                log.exception("cutover_undo_route_failed")
        if activating:
            try:
                with anyio.fail_after(budget_s):
                    await target.set_status(name, "incoming", epoch=epoch)
            except (EdgeHTTPError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("cutover_undo_target_failed", error=str(exc))
                done = (
                    f"setting the target back to incoming failed ({exc}): {router.name} "
                    "redirects to the target until ownership is settled, held writes released"
                )
            else:
                router.fence.retire(name, None)
                done += "; the target is back to incoming"
        _, held_ms = router.release(name, None, reason="cutover_failed")
        return done, held_ms
