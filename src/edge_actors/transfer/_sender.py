"""The sender actor: runs a transfer to its end, reconnecting and resuming (layer: transfer).

Per connection attempt the :class:`SenderActor` opens ``{target_url}/peer/stream`` and
hands the socket to a :class:`SenderStream` (``Hello``, the pipelined chunks, ``Done``),
which starts where the target stands: the later of the tracker's acked LSN and the
target's ``HelloAck.applied_lsn``. A dropped connection is retried with exponential
backoff and resumes from the last acked chunk; the receiver's apply is idempotent, so
re-sent chunks (at most one window) change nothing. Imports: leaves, actors, wire, store.

One error channel: every failure reaches the asker as a raised :class:`TransferError`
(a :class:`~edge_actors.actors.Refusal` with a stable ``code``), never as a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
import anyio

from edge_actors._log import get_logger
from edge_actors.actors import Actor
from edge_actors.errors import EdgeActorsError

from ._errors import PeerRefused, TransferAborted, TransferError
from ._stream import Dropped, SenderStream
from ._yield import NEVER_YIELD, URGENT_HEADER

if TYPE_CHECKING:
    from edge_actors.store import WorkloadStore
    from edge_actors.wire import WireLimits

    from ._limiter import TokenBucket
    from ._models import TransferProgress
    from ._tracker import TransferTracker
    from ._yield import CopyYield

__all__ = ["RunTransfer", "SenderActor"]

_BACKOFF_CAP_S = 5.0
_HEARTBEAT_S = 10.0  # WebSocket ping interval: a silent dead peer is detected in ~2x this
_CLOSE_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class RunTransfer:
    """The sender actor's one message: run this transfer to its end.

    Attributes:
        tracker: the transfer's bookkeeping; the caller keeps it to report progress.
        store: the source workload store.
        limiter: the link's token bucket.
        session: the HTTP client session to connect with.
        limits: wire limits; must not exceed the receiver's.
        yielder: where the stream gives way to urgent work on this edge.
        urgent: the transfer is urgent work (a cutover's final delta): the target is told
            (:data:`~._yield.URGENT_HEADER`), so its other streams' applies give way.
    """

    tracker: TransferTracker
    store: WorkloadStore
    limiter: TokenBucket
    session: aiohttp.ClientSession
    limits: WireLimits
    yielder: CopyYield = NEVER_YIELD
    urgent: bool = False


class SenderActor(Actor[RunTransfer]):
    """Runs transfers, one per message, to their end (a dropped stream is resumed).

    Spawned by :func:`run_transfer`; the reply to its message is the final
    :class:`TransferProgress`, and a failure is the :class:`TransferError` (a refusal)
    raised to the asker. Killing the actor (cancelling the caller) stops the stream
    within about one chunk.
    """

    async def receive(self, message: RunTransfer) -> TransferProgress:
        """Run ``message``'s transfer; a failure is refused, never a crash.

        Raises:
            TransferError: the transfer failed (the store or the codec refusing too).
        """
        try:
            await self._run(message)
        except TransferError:
            raise
        except EdgeActorsError as exc:  # the store or the codec refused: not retried
            spec = message.tracker.spec
            raise TransferError(
                f"transfer {spec.transfer_id} of {spec.workload!r} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return message.tracker.snapshot("done")

    async def _run(self, run: RunTransfer) -> None:
        tracker, spec = run.tracker, run.tracker.spec
        log = get_logger(
            "transfer.sender",
            migration_id=spec.migration_id,
            workload=spec.workload,
            edge=spec.target_name,
            transfer_id=spec.transfer_id,
        )
        attempt = 0
        while True:
            try:
                await self._attempt(run)
            except (Dropped, aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
                cause = str(exc) or type(exc).__name__
                if attempt >= spec.max_retries:
                    log.warning("transfer_aborted", attempts=attempt + 1, cause=cause)
                    raise TransferAborted(
                        f"transfer {spec.transfer_id} of {spec.workload!r} to "
                        f"{spec.target_name} gave up after {attempt + 1} attempts; "
                        f"last cause: {cause}",
                        attempts=attempt + 1,
                        last_cause=cause,
                    ) from exc
                delay = min(_BACKOFF_CAP_S, spec.retry_backoff_s * 2**attempt)
                attempt += 1
                tracker.retries += 1
                log.info(
                    "transfer_retry",
                    attempt=attempt,
                    delay_s=delay,
                    acked_lsn=tracker.acked_lsn,
                    cause=cause,
                )
                await anyio.sleep(delay)
                continue
            log.info(
                "transfer_done",
                records=tracker.records,
                chunks=tracker.chunks,
                acked_lsn=tracker.acked_lsn,
                retries=tracker.retries,
            )
            return

    async def _attempt(self, run: RunTransfer) -> None:
        spec = run.tracker.spec
        headers = {"Authorization": f"Bearer {spec.target_token}"}
        if run.urgent:
            headers[URGENT_HEADER] = "1"
        try:
            ws_cm = run.session.ws_connect(
                spec.stream_url,
                headers=headers,
                heartbeat=_HEARTBEAT_S,
                max_msg_size=run.limits.max_frame_bytes,
                autoping=True,
            )
            async with ws_cm as ws:
                try:
                    stream = SenderStream(
                        ws, run.tracker, run.store, run.limiter, run.limits, yielder=run.yielder
                    )
                    applied = await stream.hello()
                    await stream.count_applied(applied)
                    await stream.pump(run.tracker.resume_from(applied))
                finally:
                    with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_TIMEOUT_S):
                        await ws.close()
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (401, 403):
                raise PeerRefused(
                    "unauthorized" if exc.status == 401 else "forbidden",
                    f"HTTP {exc.status} {exc.message} from {spec.stream_url} "
                    "(check the cluster token)",
                    peer=spec.target_name,
                ) from exc
            if 400 <= exc.status < 500:
                raise PeerRefused(
                    f"http_{exc.status}",
                    f"HTTP {exc.status} {exc.message} from {spec.stream_url}",
                    peer=spec.target_name,
                ) from exc
            raise Dropped(f"handshake failed: HTTP {exc.status} {exc.message}") from exc
