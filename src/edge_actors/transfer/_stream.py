"""One connection attempt of a transfer: ``Hello``, the pipelined chunks, ``Done``.

Transfer layer. After ``Hello`` / ``HelloAck`` a :class:`SenderStream` runs three tasks:

* a **producer** scans the source store in ``batch_size`` pages and encodes (and
  zstd-compresses) each page, large ones in a worker thread, into a buffer of two
  encoded chunks; a long range starts with smaller pages (:data:`_RAMP`: 1/8, 1/4, 1/2
  of a page), so the target starts applying after a small page's scan, encode and
  decode instead of a full one's, and the pipeline fills while it applies; before each
  page it yields to the store's foreground writes (waits, at most :data:`_YIELD_MAX_S`,
  until the writes in flight have committed), so a copy does not slow the workload's
  own writes down more than it must; before each page it also gives way to urgent work
  on this edge (:class:`~._yield.CopyYield`: a cutover's hold), and so does
* the **sender** loop before each chunk; it takes a window slot (at most ``window`` unacked
  chunks), waits on the link's :class:`TokenBucket` for the frame's size and sends it;
* an **ack reader** frees window slots as ``Ack`` frames arrive, in order, and moves the
  tracker's acked LSN.

A stream from LSN 0 into an empty copy over a link without a rate limit sends the store's
snapshot instead (:meth:`SenderStream._produce_snapshot`): the store exports a consistent
copy of its file at one LSN (SQLite's backup API, in C: a fraction of the CPU of scanning
and encoding every record), and the producer sends it in :data:`SNAPSHOT_PART_BYTES`
parts, then ``SnapshotDone`` with the LSN, totals and digest the target must verify. On a
rate-limited link the record chunks stay (they are zstd-compressed where that pays).

Memory is bounded by ``window + 3`` chunks whatever the workload's size. A failure worth
retrying (the connection dropped) is raised as :class:`Dropped`; anything the peer or the
frames got wrong is a :class:`TransferError`. The sender actor decides what to retry.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
import anyio

from edge_actors._log import get_logger
from edge_actors.store import StoreError, new_snapshot_path, remove_file
from edge_actors.wire import (
    PROTOCOL_VERSION,
    Ack,
    ChunkCodec,
    Done,
    ErrorFrame,
    Hello,
    HelloAck,
    SnapshotDone,
    SnapshotPart,
    WireError,
    chunk_checksum,
    decode_frame,
    encode_frame,
)

from ._errors import PeerRefused, TransferError
from ._yield import NEVER_YIELD

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from anyio.abc import ObjectReceiveStream, ObjectSendStream

    from edge_actors.store import SnapshotInfo, WorkloadStore
    from edge_actors.wire import Change, Frame, WireLimits

    from ._limiter import TokenBucket
    from ._tracker import TransferTracker
    from ._yield import CopyYield

__all__ = ["SNAPSHOT_MIN_BYTES", "SNAPSHOT_PART_BYTES", "Dropped", "SenderStream", "first_error"]

_ENCODED_BUFFER = 2  # encoded chunks waiting for a window slot (the pipeline's slack)
_HELLO_TIMEOUT_S = 30.0
_ENCODE_IN_THREAD_BYTES = 64 * 1024  # smaller pages are encoded on the loop (no hop)
_YIELD_MAX_S = 0.01  # longest a page waits for foreground writes to commit
_RAMP = (8, 4, 2)  # the first pages of a long range: batch_size // these, in order
_RAMP_MIN_PAGES = 4  # a range of fewer LSNs than this many pages is shipped in full pages

_log = get_logger("transfer.sender")

SNAPSHOT_MIN_BYTES = 4 * 1024 * 1024
"""Smallest store (live record bytes) a copy from LSN 0 sends as a snapshot file; a
smaller one goes as record chunks (its export would cost more than it saves)."""

SNAPSHOT_PART_BYTES = 1024 * 1024
"""Bytes of the snapshot file per ``SnapshotPart`` frame (the window bounds the parts in
flight, so memory stays that of record chunks)."""


class Dropped(Exception):
    """The connection failed in a way worth retrying (internal to the transfer layer)."""


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
    """One chunk (or the final ``Done``) sent and not yet acked."""

    seq: int
    scan_to: int
    records: int
    raw_len: int
    wire_len: int
    is_done: bool = False


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """Pick the most telling exception of a task group's failure."""
    flat: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            flat.append(exc)

    walk(group)
    for kind in (PeerRefused, TransferError, WireError, Dropped, Exception):
        for exc in flat:
            if isinstance(exc, kind):
                return exc
    return flat[0] if flat else group


class SenderStream:
    """One connection attempt of a transfer over an open WebSocket.

    Args:
        ws: the open ``/peer/stream`` WebSocket (the caller closes it).
        tracker: the transfer's bookkeeping (spec, range, acked LSN, counters).
        store: the source workload store.
        limiter: the link's token bucket; its ``compression`` memory is shared with the
            codecs of the link's other streams.
        limits: wire limits for encoding and decoding frames.
        yielder: where the stream gives way to urgent work at chunk boundaries.
    """

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        tracker: TransferTracker,
        store: WorkloadStore,
        limiter: TokenBucket,
        limits: WireLimits,
        *,
        yielder: CopyYield = NEVER_YIELD,
    ) -> None:
        self.ws = ws
        self.yielder = yielder
        self.tracker = tracker
        self.spec = tracker.spec
        self.store = store
        self.limiter = limiter
        self.limits = limits
        self.codec = ChunkCodec(
            compression=self.spec.compression,
            level=self.spec.compression_level,
            limits=limits,
            memory=limiter.compression,
        )
        self.inflight: deque[_InFlight] = deque()
        self.window = anyio.Semaphore(self.spec.window)
        self.finished = anyio.Event()
        self._final: SnapshotDone | None = None  # a snapshot stream's last frame

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

    async def count_applied(self, applied_lsn: int) -> None:
        """Count ``(acked_lsn, applied_lsn]`` as acknowledged before resuming after it.

        The target applied that range from an earlier stream whose acks never came back (a
        dropped connection, a supervisor that died mid-transfer): it is skipped, not sent
        again, and counted page by page as :meth:`_produce` would have shipped it, in the
        tracker's ``applied_*`` counters (not in ``records``: this transfer did not send
        them), so a migration's figures can include every record it moved.
        """
        tracker, store = self.tracker, self.store
        max_bytes = max(1, self.limits.max_frame_bytes // 2)
        after, upto = tracker.acked_lsn, min(applied_lsn, tracker.to_lsn)
        ramp, pages = self._ramp(after), 0
        while after < upto:
            limit = self._page_limit(ramp, pages)
            changes = await store.scan_changes(after, upto, limit=limit, max_bytes=max_bytes)
            if not changes:
                break
            pages += 1
            after = changes[-1].lsn
            tracker.applied_earlier(after, len(changes), self.codec.raw_length(changes))

    async def pump(self, start_lsn: int) -> None:
        """Ship ``(start_lsn, to_lsn]`` and the final ``Done``; return once it is acked."""
        send, receive = anyio.create_memory_object_stream[_Encoded](_ENCODED_BUFFER)
        snapshot = await self._export_snapshot(start_lsn)
        try:
            async with anyio.create_task_group() as tg:
                if snapshot is not None:
                    tg.start_soon(self._produce_snapshot, *snapshot, send)
                else:
                    tg.start_soon(self._produce, start_lsn, send)
                tg.start_soon(self._read_acks)
                await self._send_chunks(receive)
                tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            raise first_error(group) from None
        finally:
            if snapshot is not None:  # the exported file, sent or not
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(remove_file, snapshot[0])

    async def _produce(self, start_lsn: int, out: ObjectSendStream[_Encoded]) -> None:
        """Scan and encode pages into ``out`` until the range is exhausted."""
        store = self.store
        max_bytes = max(1, self.limits.max_frame_bytes // 2)
        after, upto, seq = start_lsn, self.tracker.to_lsn, 0
        ramp = self._ramp(after)
        async with out:
            while after < upto:
                await self.yielder.wait_turn()
                with anyio.move_on_after(_YIELD_MAX_S):
                    await store.writes_settled()
                limit = self._page_limit(ramp, seq)
                changes = await store.scan_changes(after, upto, limit=limit, max_bytes=max_bytes)
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

    async def _wants_snapshot(self, start_lsn: int) -> bool:
        """Whether this stream sends the store's snapshot: a whole copy (from LSN 0, the
        target empty: it answered ``applied_lsn`` 0) of at least
        :data:`SNAPSHOT_MIN_BYTES`, over a link without a rate limit (where the CPU, not
        the link, bounds the copy) and not refused by the transfer's spec."""
        if not self.spec.snapshot or start_lsn != 0 or self.limiter.rate_bps is not None:
            return False
        return (await self.store.stats()).bytes >= SNAPSHOT_MIN_BYTES

    async def _export_snapshot(self, start_lsn: int) -> tuple[Path, SnapshotInfo] | None:
        """Export the store's snapshot to a private file if this stream sends one
        (:meth:`_wants_snapshot`); ``None`` sends record chunks, also when the export
        fails (a full disk on this edge: the copy goes on without the file)."""
        if not await self._wants_snapshot(start_lsn):
            return None
        spec, store = self.spec, self.store
        try:
            path = await anyio.to_thread.run_sync(new_snapshot_path, store.path, "out")
            return path, await store.export_snapshot(path)
        except (StoreError, OSError) as exc:
            _log.warning(
                "snapshot_export_failed",
                workload=spec.workload,
                migration_id=spec.migration_id,
                transfer_id=spec.transfer_id,
                error=str(exc),
            )
            return None

    async def _produce_snapshot(
        self, path: Path, info: SnapshotInfo, out: ObjectSendStream[_Encoded]
    ) -> None:
        """Send the exported snapshot file at ``path`` in parts into ``out``; the
        ``SnapshotDone`` that ends the stream carries what the target must find in it.
        (:meth:`pump` deletes the file when the stream ends.)"""
        spec = self.spec
        self.tracker.to_lsn = max(self.tracker.to_lsn, info.lsn)
        self.tracker.sends_snapshot = True
        async with out, await anyio.open_file(path, "rb") as file:
            seq = offset = 0
            while payload := await file.read(SNAPSHOT_PART_BYTES):
                await self.yielder.wait_turn()
                seq += 1
                part = SnapshotPart(
                    migration_id=spec.migration_id,
                    workload=spec.workload,
                    seq=seq,
                    offset=offset,
                    checksum=chunk_checksum(payload),
                    payload=payload,
                )
                offset += len(payload)
                await out.send(_Encoded(seq, 0, 0, len(payload), encode_frame(part)))
            if offset != info.size:
                raise StoreError(
                    f"snapshot of {spec.workload!r}: read {offset} bytes of a {info.size}-byte file"
                )
            self._final = SnapshotDone(
                seq=seq + 1,
                lsn=info.lsn,
                records=info.records,
                bytes=info.bytes,
                digest=info.digest,
                size=info.size,
            )

    def _ramp(self, start_lsn: int) -> tuple[int, ...]:
        """The divisors of the first pages of a stream starting after ``start_lsn``."""
        long = self.tracker.to_lsn - start_lsn >= _RAMP_MIN_PAGES * self.spec.batch_size
        return _RAMP if long else ()

    def _page_limit(self, ramp: tuple[int, ...], page: int) -> int:
        """Records in the stream's page ``page`` (from 0): the ramp's, then full pages."""
        batch = self.spec.batch_size
        return max(1, batch // ramp[page]) if page < len(ramp) else batch

    def _encode(self, seq: int, changes: Sequence[Change]) -> _Encoded:
        chunk = self.codec.encode_chunk(
            migration_id=self.spec.migration_id,
            workload=self.spec.workload,
            seq=seq,
            changes=changes,
        )
        return _Encoded(seq, changes[-1].lsn, len(changes), chunk.raw_len, encode_frame(chunk))

    async def _send_chunks(self, chunks: ObjectReceiveStream[_Encoded]) -> None:
        tracker, limiter = self.tracker, self.limiter
        last_seq = 0
        async with chunks:
            async for enc in chunks:
                await self.yielder.wait_turn()
                await self.window.acquire()
                await limiter.acquire(len(enc.frame))
                self.inflight.append(
                    _InFlight(enc.seq, enc.scan_to, enc.records, enc.raw_len, len(enc.frame))
                )
                await self._send(enc.frame)
                tracker.sent(enc.records, len(enc.frame))
                last_seq = enc.seq
        final = self._final
        if final is None:
            done = encode_frame(Done(seq=last_seq + 1, lsn=tracker.to_lsn))
            entry = _InFlight(last_seq + 1, tracker.to_lsn, 0, 0, 0, is_done=True)
        else:  # a snapshot: its ack confirms the snapshot's LSN and its records
            done = encode_frame(final)
            entry = _InFlight(final.seq, final.lsn, final.records, 0, 0, is_done=True)
        await self.window.acquire()
        self.inflight.append(entry)
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
            if entry.is_done:
                tracker.confirmed(entry.scan_to, entry.records)
                self.finished.set()
                return
            tracker.acked(entry.scan_to, entry.records, entry.raw_len, entry.wire_len)

    async def _send(self, data: bytes) -> None:
        try:
            await self.ws.send_bytes(data)
        except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
            raise Dropped(f"send failed: {exc!r}") from exc

    async def _next_frame(self) -> Frame:
        msg = await self.ws.receive()
        if msg.type is aiohttp.WSMsgType.BINARY:
            try:
                return decode_frame(msg.data, limits=self.limits)
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
            raise Dropped(f"connection closed by peer ({msg.type.name}: {detail})")
        raise TransferError(
            f"transfer {self.spec.transfer_id}: unexpected {msg.type.name} message from peer "
            f"{self.spec.target_name}"
        )
