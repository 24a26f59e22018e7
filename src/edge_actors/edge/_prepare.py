"""The ``prepare`` call: a cutover's source announces the activation to its target (edge layer).

Before it holds anything, the source calls ``POST /admin/workloads/{w}/prepare`` on the
target (:func:`announce`). The target (:func:`prepare_target`) expects the activation of
its ``incoming`` copy. It opens the copy's store for the activation's write (a snapshot
install leaves the new file unopened, and reopening it inside the hold cost 2.5 / 6 / 22
ms p50 / p90 / max in a wide plan). It waits, at most ``settle_ms``, for its durable
steps in flight (a snapshot install's fsync and move) to end, and starts none and pauses
its background applies until the activation has run or ``quiet_ms`` has passed
(:mod:`._urgent`). An activation's own small syncs wait behind such a flush on the same
file system, so the hold then begins against a target with none in progress. The source
plans the hold with the call's round trip less the target's time (``settled_ms``).
"""

from __future__ import annotations

import time
from contextlib import suppress
from typing import TYPE_CHECKING

from edge_actors.store import StoreError

from ._errors import EdgeHTTPError
from ._models import PreparedActivation

if TYPE_CHECKING:
    from edge_actors.clock import Clock

    from ._client import AdminClient
    from ._models import CutoverRequest, PrepareActivation, WorkloadInfo
    from ._router import WorkloadRouter
    from ._urgent import UrgentWork

__all__ = ["announce", "prepare_target"]

_SETTLE_MS = 1000.0  # the most a target waits for its flushes in flight before a hold
_QUIET_SLACK_MS = 200.0  # a target's wait for the activation past the hold's bound
_QUIET_MAX_MS = 2_000.0  # a cutover undone before its activation tells the target nothing


async def announce(
    target: AdminClient, name: str, req: CutoverRequest, router: WorkloadRouter
) -> tuple[WorkloadInfo, float]:
    """The source's side: announce the activation of ``name`` to ``target``.

    Returns:
        The workload on the target, and the call's round trip without the target's wait
        for its durable steps. A target from before the ``prepare`` call (404, 405, or 403
        for a grant it does not know to allow) is read with ``GET`` instead.
    """
    called = time.perf_counter()
    try:
        prepared = await target.prepare_activation(
            name, quiet_ms=_quiet_ms(req, router), settle_ms=_SETTLE_MS
        )
    except EdgeHTTPError as exc:
        if exc.status not in (403, 404, 405):
            raise
        called = time.perf_counter()
        return await target.workload(name), time.perf_counter() - called
    waited_s = prepared.settled_ms / 1000
    return prepared.workload, max(0.0, time.perf_counter() - called - waited_s)


async def prepare_target(
    router: WorkloadRouter, urgent: UrgentWork, clock: Clock, name: str, req: PrepareActivation
) -> PreparedActivation:
    """The target's side: expect the activation of ``name`` (an ``incoming`` copy here),
    open its store's write connection if closed, and let durable steps in flight end first
    (:meth:`UrgentWork.settle`, at most ``req.settle_ms``). A workload in any other status
    is only read. A store that fails to open is left to the activation to report.

    Raises:
        NoSuchWorkload: Unknown workload (nothing expected).
    """
    info = await router.reports.info(name)
    if info.status != "incoming":
        return PreparedActivation(workload=info, settled_ms=0.0, in_flight=0)
    quiet_s, settle_s = req.quiet_ms / 1000, req.settle_ms / 1000
    urgent.expect(name, clock.monotonic() + settle_s + quiet_s)
    began = time.perf_counter()
    store = router.registry.get(name)
    if not store.writer_open:  # opened here, not inside the hold
        with suppress(StoreError):  # the activation meets it again, and refuses
            await store.load()
    in_flight = await urgent.settle(settle_s)
    settled_ms = (time.perf_counter() - began) * 1000
    urgent.expect(name, clock.monotonic() + quiet_s)
    return PreparedActivation(workload=info, settled_ms=settled_ms, in_flight=in_flight)


def _quiet_ms(req: CutoverRequest, router: WorkloadRouter) -> float:
    """How long a target waits for the activation it was told of: the hold's bound (twice
    the deadline, or its lease) and the mark's write before it, at most
    :data:`_QUIET_MAX_MS` (its background work pauses that long if no activation comes)."""
    lease_s = router.hold_timeout_s if req.lease_s is None else req.lease_s
    hold_s = lease_s if req.deadline_ms is None else min(lease_s, 2 * req.deadline_ms / 1000)
    return min(_QUIET_MAX_MS, hold_s * 1000 + _QUIET_SLACK_MS)
