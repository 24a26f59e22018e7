"""The receiving side of a peer stream: :func:`serve_peer_stream` (layer: transfer).

The edge daemon authenticates ``GET /peer/stream``, prepares the WebSocket and hands it
here. Two stages overlap so the network never waits for SQLite:

* the **reader** (this function's task) decodes each frame within :class:`WireLimits`,
  checks its order, and decompresses, verifies and decodes the chunk in a worker thread;
* the **ReceiverActor** applies the decoded changes to the target store in order and
  sends ``Ack(seq, applied_lsn)``.

Before each chunk the ReceiverActor gives way to urgent work on this edge (``yielder``, a
:class:`~._yield.CopyYield`: a cutover's final delta or activation here), unless the
stream is that urgent work itself (the caller passes :data:`~._yield.NEVER_YIELD`).

A stream into an empty copy may instead carry the source store's snapshot file
(``SnapshotPart`` frames, then ``SnapshotDone``): the ReceiverActor writes the parts to a
private file beside the target's stores (:class:`~edge_actors.store.IncomingSnapshot`)
and, at ``SnapshotDone``, has the target verify and install it
(:meth:`PeerTarget.install_snapshot`); a stream cut before that leaves the copy empty and
the file deleted.

Any bad frame ends the stream with an ``ErrorFrame(code, message)`` before it reaches the
store, so a refused chunk leaves the target unchanged. A peer that does not send its
``Hello`` within ``hello_timeout_s`` is refused with code ``hello_timeout``.
Imports: leaves, actors, wire, store.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Protocol

import aiohttp
import anyio
from aiohttp import web

from edge_actors._log import get_logger
from edge_actors.actors import Actor, ActorSystem
from edge_actors.errors import EdgeActorsError
from edge_actors.store import IncomingSnapshot, SnapshotInfo, StoreError, StoreFull
from edge_actors.wire import (
    DEFAULT_LIMITS,
    PROTOCOL_VERSION,
    Ack,
    ChecksumMismatch,
    Chunk,
    ChunkCodec,
    Done,
    Hello,
    HelloAck,
    MalformedFrame,
    SnapshotDone,
    SnapshotPart,
    WireError,
    WireLimits,
    chunk_checksum,
    decode_frame,
    encode_frame,
    error_frame,
)

from ._yield import NEVER_YIELD

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from pathlib import Path

    from edge_actors.actors import ActorRef
    from edge_actors.wire import Change, Frame

    from ._yield import CopyYield

__all__ = ["PeerTarget", "ReceiverActor", "peer_ws_max_msg_size", "serve_peer_stream"]


class PeerTarget(Protocol):
    """What a stream writes to: a :class:`~edge_actors.store.WorkloadStore`, or a wrapper
    that checks, before each chunk, that the stream may still write (an
    :class:`EdgeActorsError` it raises that is not a store error ends the stream with
    nothing applied and an ``ErrorFrame`` of its own ``code``).

    ``end_bulk_apply`` is called when a transfer's ``Done`` arrives (before its ack) and
    when the stream ends: a target that fills an empty ``incoming`` copy in bulk (see
    :meth:`~edge_actors.store.WorkloadStore.apply_changes`) ends that fill then.

    ``snapshot_path`` names a new private file, on the target's disk, for a snapshot
    stream's parts (blocking: it may create the directory); ``install_snapshot`` verifies
    that file against ``snapshot`` and makes it the (empty) copy's store, returning its
    LSN (it raises an ``EdgeActorsError``, the copy unchanged, when the file or the copy
    does not allow it).
    """

    @property
    def lsn(self) -> int: ...

    async def apply_changes(self, changes: Sequence[Change]) -> int: ...

    async def end_bulk_apply(self) -> None: ...

    def snapshot_path(self) -> Path: ...

    async def install_snapshot(self, source: Path, snapshot: SnapshotInfo) -> int: ...


_IN_THREAD_BYTES = 64 * 1024  # smaller chunks are decoded on the loop (no thread hop)
_MAILBOX = 4  # decoded chunks waiting for the store: with the sender's window, bounded
_CLOSE_TIMEOUT_S = 2.0
_DRAIN_TIMEOUT_S = 30.0


def peer_ws_max_msg_size(limits: WireLimits = DEFAULT_LIMITS) -> int:
    """The ``max_msg_size`` to prepare the peer ``WebSocketResponse`` with.

    Twice the frame limit: a frame just over the limit still reaches
    :func:`serve_peer_stream`, which refuses it with a ``too_large`` ``ErrorFrame``
    instead of aiohttp dropping the connection without a reason.
    """
    return limits.max_frame_bytes * 2


@dataclass(frozen=True, slots=True)
class _Apply:
    seq: int
    changes: list[Change]
    raw_len: int


@dataclass(frozen=True, slots=True)
class _Finish:
    seq: int
    lsn: int


@dataclass(frozen=True, slots=True)
class _WritePart:
    seq: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class _Install:
    seq: int
    snapshot: SnapshotInfo


@dataclass(frozen=True, slots=True)
class _Sync:
    """Replied to once every message queued before it has been handled."""


_ReceiverMsg = _Apply | _Finish | _WritePart | _Install | _Sync


class _StreamState:
    """What the reader and the receiver actor share (it outlives the actor): whether the
    stream has failed, and a snapshot file being received (deleted when the stream ends
    without installing it)."""

    __slots__ = ("failed", "snapshot")

    def __init__(self) -> None:
        self.failed: BaseException | None = None
        self.snapshot: IncomingSnapshot | None = None


class _ApplyFailed(EdgeActorsError):
    """The target store refused a chunk (internal; becomes an ``ErrorFrame``)."""

    code = "apply_failed"


class _DiskFull(_ApplyFailed):
    """The target's disk is full: the sender (and the migration) see this code, not a
    generic apply failure; the same chunk applies once space is freed."""

    code = "insufficient_storage"


class ReceiverActor(Actor[_ReceiverMsg]):
    """Applies one stream's decoded chunks to the target store, in order, and acks them.

    A failed apply sends ``ErrorFrame("apply_failed", ...)``, closes the stream and drops
    every later chunk (nothing is applied out of order). Before each chunk it waits at
    ``yielder`` (urgent work on this edge goes first).
    """

    def __init__(
        self,
        ws: web.WebSocketResponse,
        store: PeerTarget,
        on_applied: Callable[[str, int, int], None] | None,
        workload: str,
        state: _StreamState,
        yielder: CopyYield = NEVER_YIELD,
    ) -> None:
        self._yielder = yielder
        self._ws = ws
        self._store = store
        self._on_applied = on_applied
        self._workload = workload
        self._state = state

    async def receive(self, message: _ReceiverMsg) -> None:
        """Apply a chunk, write or install a snapshot's part, ack ``Done``, or answer a
        sync."""
        if self._state.failed is not None or isinstance(message, _Sync):
            return
        try:
            if isinstance(message, _Apply):
                await self._yielder.wait_turn()
                applied = await self._store.apply_changes(message.changes)
                if self._on_applied is not None:
                    self._on_applied(self._workload, len(message.changes), message.raw_len)
                seq = message.seq
            elif isinstance(message, _WritePart):
                await self._yielder.wait_turn()
                await self._write_part(message.payload)
                applied, seq = self._store.lsn, message.seq
            elif isinstance(message, _Install):
                await self._yielder.wait_turn()  # its checks read the whole file
                applied, seq = await self._install(message.snapshot), message.seq
            else:
                await self._store.end_bulk_apply()  # the copy's pages are all in place
                applied, seq = self._store.lsn, message.seq
        except EdgeActorsError as exc:
            self._state.failed = exc
            if not isinstance(exc, StoreError):  # the PeerTarget's own refusal keeps its code
                refusal: EdgeActorsError = _Refused(
                    f"chunk for {self._workload!r} refused: {exc}", _refusal_code(exc)
                )
            elif isinstance(exc, StoreFull):
                refusal = _DiskFull(f"apply to {self._workload!r} failed: {exc}")
            else:
                refusal = _ApplyFailed(f"apply to {self._workload!r} failed: {exc}")
            await _refuse(self._ws, refusal)
            return
        if not self._ws.closed:
            try:
                await self._ws.send_bytes(encode_frame(Ack(seq=seq, applied_lsn=applied)))
            except (ConnectionError, RuntimeError):
                self._state.failed = ConnectionError("peer went away")

    async def _write_part(self, payload: bytes) -> None:
        state, store = self._state, self._store

        def write() -> None:
            if state.snapshot is None:
                # set in the thread: a cancelled caller still leaves the file to discard
                state.snapshot = IncomingSnapshot(store.snapshot_path())
            state.snapshot.write(payload)

        await anyio.to_thread.run_sync(write)
        if self._on_applied is not None:
            self._on_applied(self._workload, 0, len(payload))

    async def _install(self, snapshot: SnapshotInfo) -> int:
        file = self._state.snapshot
        if file is None or file.size != snapshot.size:
            got = 0 if file is None else file.size
            raise _ApplyFailed(
                f"snapshot of {self._workload!r}: {got} bytes arrived, SnapshotDone says "
                f"{snapshot.size}"
            )
        await anyio.to_thread.run_sync(file.close)
        applied = await self._store.install_snapshot(file.path, snapshot)
        self._state.snapshot = None  # installed: the file is the copy's store now
        if self._on_applied is not None:
            self._on_applied(self._workload, snapshot.records, 0)  # bytes: with the parts
        return applied


async def _refuse(ws: web.WebSocketResponse, exc: BaseException) -> None:
    """Tell the peer why the stream ends, then close it."""
    if ws.closed:
        return
    with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_TIMEOUT_S):
        try:
            await ws.send_bytes(encode_frame(error_frame(exc)))
            await ws.close(code=aiohttp.WSCloseCode.POLICY_VIOLATION)
        except (ConnectionError, RuntimeError):
            pass


async def serve_peer_stream(
    ws: web.WebSocketResponse,
    *,
    resolve_store: Callable[[str, str], Awaitable[PeerTarget]],
    limits: WireLimits = DEFAULT_LIMITS,
    on_applied: Callable[[str, int, int], None] | None = None,
    system: ActorSystem | None = None,
    hello_timeout_s: float | None = None,
    yielder: CopyYield = NEVER_YIELD,
) -> None:
    """Serve one peer stream on a prepared WebSocket until the sender closes it.

    Args:
        ws: the prepared (and already authenticated) WebSocket; prepare it with
            ``max_msg_size=peer_ws_max_msg_size(limits)``.
        resolve_store: ``(workload, migration_id) -> store`` called on ``Hello``; an
            :class:`EdgeActorsError` it raises is sent as an ``ErrorFrame`` (its ``code``
            attribute if it has one, else ``"not_found"`` for a ``LookupError``,
            ``"invalid"`` for a ``ValueError``, else ``"refused"``).
        limits: wire limits every frame and chunk must respect.
        on_applied: ``(workload, records, raw_bytes)`` after each applied chunk (metrics).
        system: the actor system for the :class:`ReceiverActor`; default: a private one.
        hello_timeout_s: how long the peer has to send its ``Hello`` (``None``: no bound);
            past it the stream is refused with ``ErrorFrame("hello_timeout", ...)``.
        yielder: where each chunk's apply waits while urgent work runs on this edge
            (default: never; an urgent stream itself must not wait).

    Errors: every refusal is reported to the peer as an ``ErrorFrame`` and ends the
    stream; nothing is raised for the peer's mistakes.

    Cancellation: stops reading at once; a chunk already being applied completes (the
    store's apply is atomic) and the WebSocket is closed.
    """
    async with AsyncExitStack() as stack:
        if system is None:
            system = await stack.enter_async_context(ActorSystem(name="peer-stream"))
        stream = _PeerStream(ws, system, resolve_store, limits, on_applied, yielder)
        try:
            await stream.serve(hello_timeout_s)
        finally:
            with anyio.CancelScope(shield=True):
                await stream.finish()


class _PeerStream:
    """The reader stage of one peer stream (see the module docstring)."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        system: ActorSystem,
        resolve_store: Callable[[str, str], Awaitable[PeerTarget]],
        limits: WireLimits,
        on_applied: Callable[[str, int, int], None] | None,
        yielder: CopyYield,
    ) -> None:
        self.ws = ws
        self.yielder = yielder
        self.system = system
        self.resolve_store = resolve_store
        self.limits = limits
        self.on_applied = on_applied
        self.codec = ChunkCodec(limits=limits)
        self.log = get_logger("transfer.receiver")
        self.hello: Hello | None = None
        self.state = _StreamState()
        self.ref: ActorRef[_ReceiverMsg] | None = None
        self.store: PeerTarget | None = None
        self.expected_seq = 1
        self.kind: type[Chunk] | type[SnapshotPart] | None = None  # what this stream carries
        self.snapshot_offset = 0

    async def serve(self, hello_timeout_s: float | None) -> None:
        if hello_timeout_s is not None:
            first: aiohttp.WSMessage | None = None
            with anyio.move_on_after(hello_timeout_s):
                first = await self.ws.receive()
            if first is None:
                await self.refuse(
                    _HelloTimeout(f"no Hello within {hello_timeout_s:g} s of the upgrade")
                )
                return
            if not await self.receive(first):
                return
        async for msg in self.ws:
            if not await self.receive(msg):
                return

    async def receive(self, msg: aiohttp.WSMessage) -> bool:
        """Decode and handle one WebSocket message; ``False`` ends the stream."""
        if msg.type is not aiohttp.WSMsgType.BINARY:
            if msg.type is aiohttp.WSMsgType.TEXT:
                await self.refuse(MalformedFrame("text message on the peer stream"))
            return False
        try:
            frame = decode_frame(msg.data, limits=self.limits)
        except WireError as exc:
            await self.refuse(exc)
            return False
        return self.state.failed is None and await self.handle(frame)

    async def handle(self, frame: Frame) -> bool:
        """Handle one valid frame; ``False`` ends the stream (already refused)."""
        if self.hello is None:
            if not isinstance(frame, Hello):
                return await self.refuse(
                    MalformedFrame(f"expected Hello, got {type(frame).__name__}")
                )
            return await self.open(frame)
        assert self.ref is not None
        if isinstance(frame, SnapshotPart | SnapshotDone):
            return await self.snapshot_frame(frame)
        if isinstance(frame, Chunk):
            problem = _check_order(frame, self.hello, self.expected_seq)
            if problem is None and self.kind is SnapshotPart:
                problem = MalformedFrame(f"chunk seq {frame.seq} in a snapshot stream")
            if problem is not None:
                return await self.refuse(problem)
            self.kind = Chunk
            try:
                if len(frame.payload) >= _IN_THREAD_BYTES:
                    changes = await anyio.to_thread.run_sync(self.codec.decode_chunk, frame)
                else:
                    changes = self.codec.decode_chunk(frame)
            except WireError as exc:
                return await self.refuse(exc)
            self.expected_seq += 1
            await self.ref.tell(_Apply(frame.seq, changes, frame.raw_len))
            return True
        if isinstance(frame, Done):
            if self.kind is SnapshotPart:
                return await self.refuse(MalformedFrame("Done ends a snapshot stream"))
            if frame.seq != self.expected_seq:
                return await self.refuse(
                    MalformedFrame(f"Done seq {frame.seq}, expected {self.expected_seq}")
                )
            self.expected_seq += 1
            await self.ref.tell(_Finish(frame.seq, frame.lsn))
            return True
        return await self.refuse(
            MalformedFrame(f"unexpected {type(frame).__name__} frame mid-stream")
        )

    async def snapshot_frame(self, frame: SnapshotPart | SnapshotDone) -> bool:
        """Check a snapshot frame's place in the stream and pass it to the actor."""
        assert self.ref is not None
        assert self.hello is not None
        assert self.store is not None
        if frame.seq != self.expected_seq:
            return await self.refuse(
                MalformedFrame(f"snapshot frame seq {frame.seq}, expected {self.expected_seq}")
            )
        if isinstance(frame, SnapshotDone):
            if self.kind is not SnapshotPart:
                return await self.refuse(MalformedFrame("SnapshotDone without a SnapshotPart"))
            self.expected_seq += 1
            snapshot = SnapshotInfo(
                lsn=frame.lsn,
                records=frame.records,
                bytes=frame.bytes,
                digest=frame.digest,
                size=frame.size,
            )
            await self.ref.tell(_Install(frame.seq, snapshot))
            return True
        problem = _check_part(frame, self.hello, self.snapshot_offset)
        if problem is None and self.kind is Chunk:
            problem = MalformedFrame(f"snapshot part seq {frame.seq} in a stream of chunks")
        if problem is None and self.kind is None and self.store.lsn != 0:
            problem = _SnapshotRefused(
                f"a snapshot only fills an empty copy; {self.hello.workload!r} is at LSN "
                f"{self.store.lsn} here"
            )
        if problem is not None:
            return await self.refuse(problem)
        self.kind = SnapshotPart
        self.expected_seq += 1
        self.snapshot_offset += len(frame.payload)
        await self.ref.tell(_WritePart(frame.seq, frame.payload))
        return True

    async def open(self, hello: Hello) -> bool:
        """Resolve the target store, start the receiver actor and answer ``HelloAck``."""
        try:
            store = await self.resolve_store(hello.workload, hello.migration_id)
        except EdgeActorsError as exc:
            return await self.refuse(_Refused(str(exc), _refusal_code(exc)))
        self.hello = hello
        self.store = store
        self.log = self.log.bind(
            migration_id=hello.migration_id, workload=hello.workload, transfer_id=hello.transfer_id
        )
        factory = partial(
            ReceiverActor,
            self.ws,
            store,
            self.on_applied,
            hello.workload,
            self.state,
            self.yielder,
        )
        self.ref = await self.system.spawn(factory, mailbox_size=_MAILBOX)
        await self.ws.send_bytes(
            encode_frame(HelloAck(protocol=PROTOCOL_VERSION, applied_lsn=store.lsn))
        )
        self.log.info("stream_opened", applied_lsn=store.lsn)
        return True

    async def refuse(self, exc: BaseException) -> bool:
        """Send the ``ErrorFrame`` for ``exc`` and close; always ``False``."""
        self.log.warning("stream_refused", code=getattr(exc, "code", "internal"), error=str(exc))
        await _refuse(self.ws, exc)
        return False

    async def finish(self) -> None:
        """Let queued applies finish (valid and idempotent), stop the actor, close."""
        try:
            if self.ref is not None:
                with anyio.move_on_after(_DRAIN_TIMEOUT_S):
                    await self.ref.ask(_Sync(), timeout=None)
                await self.system.stop(self.ref)
        finally:  # also when the actor is gone (its stream was cancelled under it)
            file, self.state.snapshot = self.state.snapshot, None
            if file is not None:  # a snapshot that was not installed: its file goes
                await anyio.to_thread.run_sync(file.discard)
        if self.store is not None:  # a stream cut before its Done: end its bulk apply too
            try:
                await self.store.end_bulk_apply()
            except EdgeActorsError as exc:  # the store is closed or failed: nothing to end
                self.log.warning("bulk_apply_not_ended", error=str(exc))
        if not self.ws.closed:
            with anyio.move_on_after(_CLOSE_TIMEOUT_S):
                await self.ws.close()
        self.log.info("stream_closed", next_seq=self.expected_seq)


class _SnapshotRefused(EdgeActorsError):
    """A snapshot stream into a copy that is not empty."""

    code = "snapshot_refused"


class _HelloTimeout(EdgeActorsError):
    """The peer sent no ``Hello`` in time (an idle or stalled WebSocket holds a slot)."""

    code = "hello_timeout"


class _Refused(EdgeActorsError):
    """``resolve_store`` refused the stream (internal carrier of the remote code)."""

    def __init__(self, message: str, code: str | None) -> None:
        super().__init__(message)
        self.code = code or "refused"


def _refusal_code(exc: EdgeActorsError) -> str:
    """The ``ErrorFrame`` code of a ``resolve_store`` refusal."""
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code:
        return code
    if isinstance(exc, LookupError):
        return "not_found"
    if isinstance(exc, ValueError):
        return "invalid"
    return "refused"


def _check_part(part: SnapshotPart, hello: Hello, offset: int) -> EdgeActorsError | None:
    if part.workload != hello.workload or part.migration_id != hello.migration_id:
        return MalformedFrame(
            f"snapshot part seq {part.seq} is for {part.workload!r}/{part.migration_id!r}, "
            f"the stream is {hello.workload!r}/{hello.migration_id!r}"
        )
    if part.offset != offset:
        return MalformedFrame(
            f"snapshot part seq {part.seq} at offset {part.offset}, expected {offset}"
        )
    if chunk_checksum(part.payload) != part.checksum:
        return ChecksumMismatch(
            f"snapshot part seq {part.seq}: checksum {chunk_checksum(part.payload):#010x} "
            f"of the payload, the frame says {part.checksum:#010x}"
        )
    return None


def _check_order(chunk: Chunk, hello: Hello, expected_seq: int) -> MalformedFrame | None:
    if chunk.seq != expected_seq:
        return MalformedFrame(f"chunk seq {chunk.seq} out of order, expected {expected_seq}")
    if chunk.workload != hello.workload or chunk.migration_id != hello.migration_id:
        return MalformedFrame(
            f"chunk seq {chunk.seq} is for {chunk.workload!r}/{chunk.migration_id!r}, the "
            f"stream is {hello.workload!r}/{hello.migration_id!r}"
        )
    return None
