"""The sender side of a transfer: the sender actor and :func:`run_transfer` (layer: transfer).

Per connection attempt the sender opens ``{target_url}/peer/stream``, says ``Hello``,
learns from ``HelloAck`` where the target stands, then runs a three-stage pipeline:

* a **producer** task scans the source store in ``batch_size`` pages and encodes (and
  zstd-compresses) each page in a worker thread, into a buffer of two encoded chunks;
* the **sender** loop takes a window slot (at most ``window`` unacked chunks), waits on
  the link's :class:`TokenBucket` for the frame's size and sends it;
* an **ack reader** task frees window slots as ``Ack`` frames arrive and records the
  acked LSN.

Memory is bounded by ``window + 3`` chunks whatever the workload's size. A dropped
connection is retried with exponential backoff and resumes from the last acked chunk;
the receiver's apply is idempotent, so re-sent chunks (at most one window) change
nothing. Imports: leaves, actors, wire, store.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio

from edge_actors._log import get_logger
from edge_actors.actors import Actor, ActorSystem
from edge_actors.errors import EdgeActorsError
from edge_actors.wire import (
    DEFAULT_LIMITS,
    PROTOCOL_VERSION,
    Ack,
    ChunkCodec,
    Done,
    ErrorFrame,
    Hello,
    HelloAck,
    WireError,
    WireLimits,
    decode_frame,
    encode_frame,
)

from ._errors import PeerRefused, TransferAborted, TransferError
from ._limiter import TokenBucket
from ._models import TransferProgress, TransferSpec, TransferState

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from anyio.abc import ObjectReceiveStream, ObjectSendStream

    from edge_actors.store import WorkloadStore
    from edge_actors.wire import Change

__all__ = ["PROGRESS_INTERVAL_S", "SenderActor", "run_transfer"]

PROGRESS_INTERVAL_S = 0.1
"""How often :func:`run_transfer` reports progress while a transfer runs."""

_BACKOFF_CAP_S = 5.0
_ENCODED_BUFFER = 2  # encoded chunks waiting for a window slot (the pipeline's slack)
_HEARTBEAT_S = 10.0  # WebSocket ping interval: a silent dead peer is detected in ~2x this
_HELLO_TIMEOUT_S = 30.0
_CLOSE_TIMEOUT_S = 2.0
_ENCODE_IN_THREAD_BYTES = 64 * 1024  # smaller pages are encoded on the loop (no hop)


class _Dropped(Exception):
    """The connection failed in a way worth retrying (internal)."""


class _Tracker:
    """Counters of one transfer, shared by :func:`run_transfer` and the sender actor.

    Kept outside the actor instance so progress survives a cancelled or killed actor.
    """

    def __init__(self, spec: TransferSpec, from_lsn: int, to_lsn: int) -> None:
        self.spec = spec
        self.from_lsn = from_lsn
        self.to_lsn = to_lsn
        self.acked_lsn = from_lsn
        self.records = 0
        self.raw_bytes = 0
        self.wire_bytes = 0
        self.chunks = 0
        self.retries = 0
        self.sent_chunks = 0
        self.sent_records = 0
        self.sent_wire_bytes = 0
        self.started = time.monotonic()

    def snapshot(self, state: TransferState, error: str | None = None) -> TransferProgress:
        elapsed = time.monotonic() - self.started
        rate_base = elapsed if elapsed > 0 else 1e-9
        return TransferProgress(
            transfer_id=self.spec.transfer_id,
            workload=self.spec.workload,
            state=state,
            from_lsn=self.from_lsn,
            to_lsn=self.to_lsn,
            acked_lsn=self.acked_lsn,
            records=self.records,
            raw_bytes=self.raw_bytes,
            wire_bytes=self.wire_bytes,
            chunks=self.chunks,
            retries=self.retries,
            elapsed_s=elapsed,
            wire_rate_bps=self.wire_bytes * 8 / rate_base,
            raw_rate_bps=self.raw_bytes * 8 / rate_base,
            error=error,
            sent_chunks=self.sent_chunks,
            sent_records=self.sent_records,
            sent_wire_bytes=self.sent_wire_bytes,
        )


@dataclass(slots=True)
class _Encoded:
    """One chunk ready to send, with what its ack will confirm."""

    seq: int
    scan_to: int
    records: int
    raw_len: int
    frame: bytes


@dataclass(slots=True)
class _InFlight:
    seq: int
    scan_to: int
    records: int
    raw_len: int
    wire_len: int
    is_done: bool = False


@dataclass(frozen=True, slots=True)
class _RunTransfer:
    """The sender actor's one message: run this transfer to its end."""

    tracker: _Tracker
    store: WorkloadStore
    limiter: TokenBucket
    session: aiohttp.ClientSession
    limits: WireLimits


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """Pick the most telling exception of a task group's failure."""
    flat: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            flat.append(exc)

    walk(group)
    for kind in (PeerRefused, TransferError, WireError, _Dropped, Exception):
        for exc in flat:
            if isinstance(exc, kind):
                return exc
    return flat[0] if flat else group


class _Stream:
    """One connection attempt of a transfer: Hello, pipelined chunks, Done."""

    def __init__(self, run: _RunTransfer, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.run = run
        self.spec = run.tracker.spec
        self.ws = ws
        self.tracker = run.tracker
        self.codec = ChunkCodec(
            compression=self.spec.compression,
            level=self.spec.compression_level,
            limits=run.limits,
        )
        self.inflight: deque[_InFlight] = deque()
        self.window = anyio.Semaphore(self.spec.window)
        self.finished = anyio.Event()

    async def hello(self) -> int:
        """Send ``Hello`` and return the target's ``HelloAck.applied_lsn``."""
        spec = self.spec
        hello = Hello(
            protocol=PROTOCOL_VERSION,
            migration_id=spec.migration_id,
            workload=spec.workload,
            transfer_id=spec.transfer_id,
        )
        await self._send(encode_frame(hello))
        with anyio.fail_after(_HELLO_TIMEOUT_S):
            frame = await self._next_frame()
        if isinstance(frame, ErrorFrame):
            raise PeerRefused(frame.code, frame.message, peer=spec.target_name)
        if not isinstance(frame, HelloAck):
            raise TransferError(
                f"transfer {spec.transfer_id}: peer {spec.target_name} answered Hello with "
                f"{type(frame).__name__}, expected HelloAck"
            )
        return frame.applied_lsn

    async def pump(self, start_lsn: int) -> None:
        """Ship ``(start_lsn, to_lsn]`` and the final ``Done``; return once it is acked."""
        send, receive = anyio.create_memory_object_stream[_Encoded](_ENCODED_BUFFER)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._produce, start_lsn, send)
                tg.start_soon(self._read_acks)
                await self._send_chunks(receive)
                tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            raise _first_error(group) from None

    async def _produce(self, start_lsn: int, out: ObjectSendStream[_Encoded]) -> None:
        """Scan and encode pages into ``out`` until the range is exhausted."""
        spec, store, limits = self.spec, self.run.store, self.run.limits
        max_bytes = max(1, limits.max_frame_bytes // 2)
        after, upto, seq = start_lsn, self.tracker.to_lsn, 0
        async with out:
            while after < upto:
                changes = await store.scan_changes(
                    after, upto, limit=spec.batch_size, max_bytes=max_bytes
                )
                if not changes:
                    break
                seq += 1
                size = sum(len(c.value) for c in changes if c.value is not None)
                if size >= _ENCODE_IN_THREAD_BYTES:
                    encoded = await anyio.to_thread.run_sync(self._encode, seq, changes)
                else:
                    encoded = self._encode(seq, changes)
                after = encoded.scan_to
                await out.send(encoded)

    def _encode(self, seq: int, changes: Sequence[Change]) -> _Encoded:
        chunk = self.codec.encode_chunk(
            migration_id=self.spec.migration_id,
            workload=self.spec.workload,
            seq=seq,
            changes=changes,
        )
        return _Encoded(seq, changes[-1].lsn, len(changes), chunk.raw_len, encode_frame(chunk))

    async def _send_chunks(self, chunks: ObjectReceiveStream[_Encoded]) -> None:
        tracker, limiter = self.tracker, self.run.limiter
        last_seq = 0
        async with chunks:
            async for enc in chunks:
                await self.window.acquire()
                await limiter.acquire(len(enc.frame))
                self.inflight.append(
                    _InFlight(enc.seq, enc.scan_to, enc.records, enc.raw_len, len(enc.frame))
                )
                await self._send(enc.frame)
                tracker.sent_chunks += 1
                tracker.sent_records += enc.records
                tracker.sent_wire_bytes += len(enc.frame)
                last_seq = enc.seq
        done = encode_frame(Done(seq=last_seq + 1, lsn=tracker.to_lsn))
        await self.window.acquire()
        self.inflight.append(_InFlight(last_seq + 1, tracker.to_lsn, 0, 0, 0, is_done=True))
        await self._send(done)
        await self.finished.wait()

    async def _read_acks(self) -> None:
        tracker = self.tracker
        while True:
            frame = await self._next_frame()
            if isinstance(frame, ErrorFrame):
                raise PeerRefused(frame.code, frame.message, peer=self.spec.target_name)
            if not isinstance(frame, Ack):
                raise TransferError(
                    f"transfer {self.spec.transfer_id}: unexpected {type(frame).__name__} "
                    f"frame from peer {self.spec.target_name}"
                )
            if not self.inflight or self.inflight[0].seq != frame.seq:
                expected = self.inflight[0].seq if self.inflight else None
                raise TransferError(
                    f"transfer {self.spec.transfer_id}: peer {self.spec.target_name} acked "
                    f"seq {frame.seq}, expected {expected}"
                )
            entry = self.inflight.popleft()
            self.window.release()
            tracker.acked_lsn = max(tracker.acked_lsn, entry.scan_to)
            if entry.is_done:
                self.finished.set()
                return
            tracker.chunks += 1
            tracker.records += entry.records
            tracker.raw_bytes += entry.raw_len
            tracker.wire_bytes += entry.wire_len

    async def _send(self, data: bytes) -> None:
        try:
            await self.ws.send_bytes(data)
        except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
            raise _Dropped(f"send failed: {exc!r}") from exc

    async def _next_frame(self) -> Any:
        msg = await self.ws.receive()
        if msg.type is aiohttp.WSMsgType.BINARY:
            try:
                return decode_frame(msg.data, limits=self.run.limits)
            except WireError as exc:
                raise TransferError(
                    f"transfer {self.spec.transfer_id}: bad frame from peer "
                    f"{self.spec.target_name}: {exc}"
                ) from exc
        if msg.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.ERROR,
        ):
            detail = msg.extra or msg.data or self.ws.exception()
            raise _Dropped(f"connection closed by peer ({msg.type.name}: {detail})")
        raise TransferError(
            f"transfer {self.spec.transfer_id}: unexpected {msg.type.name} message from peer "
            f"{self.spec.target_name}"
        )


class SenderActor(Actor[_RunTransfer]):
    """Runs transfers, one per message, to their end (a dropped stream is resumed).

    Spawned by :func:`run_transfer`; the reply to its message is the final
    :class:`TransferProgress`, and a failure is the :class:`TransferError` (a refusal)
    raised to the asker. Killing the actor (cancelling the caller) stops the stream
    within about one chunk.
    """

    async def receive(self, message: _RunTransfer) -> TransferProgress:
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

    async def _run(self, run: _RunTransfer) -> None:
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
            except (_Dropped, aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
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

    async def _attempt(self, run: _RunTransfer) -> None:
        spec = run.tracker.spec
        try:
            ws_cm = run.session.ws_connect(
                spec.stream_url,
                headers={"Authorization": f"Bearer {spec.target_token}"},
                heartbeat=_HEARTBEAT_S,
                max_msg_size=run.limits.max_frame_bytes,
                autoping=True,
            )
            async with ws_cm as ws:
                try:
                    stream = _Stream(run, ws)
                    applied = await stream.hello()
                    start = max(run.tracker.acked_lsn, applied)
                    if start > run.tracker.acked_lsn:
                        run.tracker.acked_lsn = min(start, run.tracker.to_lsn)
                    await stream.pump(min(start, run.tracker.to_lsn))
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
            raise _Dropped(f"handshake failed: HTTP {exc.status} {exc.message}") from exc


async def run_transfer(
    spec: TransferSpec,
    store: WorkloadStore,
    *,
    limiter: TokenBucket | None = None,
    on_progress: Callable[[TransferProgress], None] | None = None,
    session: aiohttp.ClientSession | None = None,
    system: ActorSystem | None = None,
    limits: WireLimits = DEFAULT_LIMITS,
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
    tracker = _Tracker(spec, spec.from_lsn, to_lsn)
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
        message = _RunTransfer(tracker, store, bucket, session, limits)
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
