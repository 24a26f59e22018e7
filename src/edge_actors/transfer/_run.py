"""Running one transfer for a caller: :func:`run_transfer` (layer: transfer).

Hosts a :class:`SenderActor` (in the caller's actor system or a private one), asks it to
run the transfer, reports progress every :data:`PROGRESS_INTERVAL_S` from the transfer's
:class:`TransferTracker`, and turns the end into one answer: the final progress, or the
:class:`TransferError` raised as itself (not wrapped in a group). Cancelling the caller
kills the sender and reports ``cancelled`` with the resume point.
"""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import aiohttp
import anyio

from edge_actors.actors import ActorSystem
from edge_actors.wire import DEFAULT_LIMITS

from ._errors import TransferError
from ._limiter import TokenBucket
from ._sender import RunTransfer, SenderActor
from ._tracker import TransferTracker
from ._yield import NEVER_YIELD

if TYPE_CHECKING:
    from collections.abc import Callable

    from edge_actors.store import WorkloadStore
    from edge_actors.wire import WireLimits

    from ._models import TransferProgress, TransferSpec, TransferState
    from ._yield import CopyYield

__all__ = ["PROGRESS_INTERVAL_S", "run_transfer"]

PROGRESS_INTERVAL_S = 0.1
"""How often :func:`run_transfer` reports progress while a transfer runs."""


async def run_transfer(
    spec: TransferSpec,
    store: WorkloadStore,
    *,
    limiter: TokenBucket | None = None,
    on_progress: Callable[[TransferProgress], None] | None = None,
    session: aiohttp.ClientSession | None = None,
    system: ActorSystem | None = None,
    limits: WireLimits = DEFAULT_LIMITS,
    yielder: CopyYield = NEVER_YIELD,
    urgent: bool = False,
) -> TransferProgress:
    """Ship ``spec``'s LSN range of ``store`` to the target edge and return the final progress.

    Runs a :class:`SenderActor` (in ``system``, or in a private actor system) to
    completion. A dropped connection is retried ``spec.max_retries`` times with
    exponential backoff, resuming from the last acked chunk.

    Args:
        spec: what to send where.
        store: the source workload store.
        limiter: the link's shared bucket; default: a private one at
            ``spec.rate_limit_bps`` (unlimited when ``None``).
        on_progress: called at least every 100 ms while running, and once at the end
            (also when failing or cancelled) with the final state.
        session: the HTTP client session to use; default: a private one.
        system: the actor system to run the sender in; default: a private one.
        limits: wire limits; must not exceed the receiver's.
        yielder: where the copy gives way to urgent work on this edge at each chunk
            boundary (a background copy during a cutover's hold); default: never.
        urgent: the transfer is urgent work (a cutover's final delta): the target's
            applies of other streams give way to it.

    Returns:
        The final progress, state ``done``; ``acked_lsn`` equals ``to_lsn``.

    Raises:
        PeerRefused: the target refused (HTTP 401/403/4xx, or an ``ErrorFrame``).
        TransferAborted: the connection kept failing; names the last cause.
        TransferError: any other failure of the stream.

    Cancellation: cancelling the caller kills the sender, which stops sending within about
    one chunk and closes the stream; ``on_progress`` then gets a ``cancelled`` progress
    whose ``acked_lsn`` is where a new transfer (``from_lsn=acked_lsn``) resumes.
    """
    to_lsn = spec.to_lsn if spec.to_lsn is not None else store.lsn
    to_lsn = max(to_lsn, spec.from_lsn)
    tracker = TransferTracker(spec, spec.from_lsn, to_lsn)
    bucket = limiter if limiter is not None else TokenBucket(spec.rate_limit_bps)

    def report(state: TransferState, error: str | None = None) -> TransferProgress:
        progress = tracker.snapshot(state, error)
        if on_progress is not None:
            on_progress(progress)
        return progress

    async with AsyncExitStack() as stack:
        if session is None:
            session = await stack.enter_async_context(aiohttp.ClientSession())
        if system is None:
            system = await stack.enter_async_context(ActorSystem())
        message = RunTransfer(tracker, store, bucket, session, limits, yielder, urgent)
        ref = await system.spawn(
            SenderActor, name=f"transfer-sender-{spec.transfer_id}-{uuid.uuid4().hex[:8]}"
        )
        refused: TransferError | None = None
        failure: BaseException | None = None
        try:
            async with anyio.create_task_group() as tg:

                async def tick() -> None:
                    while True:
                        await anyio.sleep(PROGRESS_INTERVAL_S)
                        report("running")

                if on_progress is not None:
                    tg.start_soon(tick)
                try:
                    await ref.ask(message, timeout=None)
                except TransferError as exc:  # refused by the sender: it did not crash
                    refused = exc
                tg.cancel_scope.cancel()
        except Exception as exc:
            failure = exc
        except BaseException:
            with anyio.CancelScope(shield=True):
                await system.kill(ref)
                await system.stop(ref)
            report("cancelled", "cancelled by the caller")
            raise
        with anyio.CancelScope(shield=True):
            if failure is not None:
                await system.kill(ref)
            await system.stop(ref)
    # Raised outside the actor system's scope so callers see the error itself, not a group.
    if failure is not None:
        report("failed", f"{type(failure).__name__}: {failure}")
        raise failure
    if refused is not None:
        report("failed", str(refused))
        raise refused
    return report("done")
