"""A TCP proxy in front of a daemon that counts the chunk bytes peers send it (test helper).

The migration's byte metrics must match what the sources really put on the wire. This
counts it independently of the code under test: every connection through the proxy is
parsed as the HTTP/1.1 requests a client sends (pooled connections carry several); after a
``GET /peer/stream`` upgrade the client's WebSocket frames are unmasked and every binary
message is decoded as a wire frame. The payload bytes of ``Chunk`` frames are summed
(what the transfer layer counts as frame bytes; ``Hello`` / ``Done`` are counted apart).
A cutover's final delta sent inside ``POST /admin/workloads/{w}/activate`` is counted
from that request's body: the bytes of its ``delta`` array as JSON.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import msgspec
from anyio.abc import SocketAttribute

from edge_actors.wire import Chunk, decode_frame

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from anyio.abc import SocketStream

__all__ = ["TapCounts", "wire_tap"]


@dataclass
class TapCounts:
    """What the peers sent through the tap, client to server."""

    chunk_bytes: int = 0
    chunks: int = 0
    inline_delta_bytes: int = 0
    inline_deltas: int = 0
    control_bytes: int = 0
    streams: int = 0
    errors: list[str] = field(default_factory=list)


class _ClientParser:
    """Incremental parser of one connection's client-to-server bytes."""

    def __init__(self, counts: TapCounts) -> None:
        self.counts = counts
        self.buf = bytearray()
        self.mode = "http"  # "http" request headers, "body" n bytes, "ws" frames
        self.body_left = 0
        self.body: bytearray | None = None  # kept only for an activation's body
        self.message = bytearray()

    def feed(self, data: bytes) -> None:
        self.buf += data
        while self._step():
            pass

    def _step(self) -> bool:
        if self.mode == "body":
            take = min(self.body_left, len(self.buf))
            if self.body is not None:
                self.body += self.buf[:take]
            del self.buf[:take]
            self.body_left -= take
            if self.body_left == 0:
                self.mode = "http"
                if self.body is not None:
                    self._activation(bytes(self.body))
                    self.body = None
                return True
            return False
        if self.mode == "http":
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return False
            head = bytes(self.buf[:end]).decode("latin-1")
            del self.buf[: end + 4]
            lines = head.split("\r\n")
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:])
            }
            if "chunked" in headers.get("transfer-encoding", ""):
                self.counts.errors.append(f"chunked request body not parsed: {lines[0]}")
            if lines[0].startswith("GET /peer/stream"):
                self.mode = "ws"
                self.counts.streams += 1
                return True
            self.body_left = int(headers.get("content-length", "0"))
            method, _, rest = lines[0].partition(" ")
            path = rest.partition(" ")[0]
            if method == "POST" and path.startswith("/admin/workloads/"):
                self.body = bytearray() if path.endswith("/activate") else None
            self.mode = "body" if self.body_left else "http"
            return True
        return self._ws_frame()

    def _ws_frame(self) -> bool:
        buf = self.buf
        if len(buf) < 2:
            return False
        fin, opcode, length, pos = buf[0] & 0x80, buf[0] & 0x0F, buf[1] & 0x7F, 2
        masked = buf[1] & 0x80
        if length == 126:
            if len(buf) < 4:
                return False
            length, pos = int.from_bytes(buf[2:4], "big"), 4
        elif length == 127:
            if len(buf) < 10:
                return False
            length, pos = int.from_bytes(buf[2:10], "big"), 10
        mask = bytes(buf[pos : pos + 4]) if masked else b"\0\0\0\0"
        pos += 4 if masked else 0
        if len(buf) < pos + length:
            return False
        payload = bytes(buf[pos : pos + length])
        del buf[: pos + length]
        if masked:
            whole = (mask * (length // 4 + 1))[:length]
            payload = (int.from_bytes(payload, "big") ^ int.from_bytes(whole, "big")).to_bytes(
                length, "big"
            )
        if opcode in (0x0, 0x2):
            self.message += payload
            if fin:
                self._message(bytes(self.message))
                self.message.clear()
        return True

    def _activation(self, body: bytes) -> None:
        try:
            delta = msgspec.json.decode(body).get("delta") or []
        except Exception as exc:  # a parse error of the tap is reported, not hidden
            self.counts.errors.append(f"undecodable activation body of {len(body)} B: {exc}")
            return
        if delta:
            self.counts.inline_delta_bytes += len(msgspec.json.encode(delta))
            self.counts.inline_deltas += 1

    def _message(self, data: bytes) -> None:
        try:
            frame = decode_frame(data)
        except Exception as exc:  # a parse error of the tap is reported, not hidden
            self.counts.errors.append(f"undecodable frame of {len(data)} B: {exc}")
            return
        if isinstance(frame, Chunk):
            self.counts.chunk_bytes += len(data)
            self.counts.chunks += 1
        else:
            self.counts.control_bytes += len(data)


async def _pipe(src: SocketStream, dst: SocketStream, parser: _ClientParser | None) -> None:
    with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, OSError):
        while True:
            data = await src.receive(65536)
            if parser is not None:
                parser.feed(data)
            await dst.send(data)
    with contextlib.suppress(anyio.BrokenResourceError, OSError):
        await dst.send_eof()


@contextlib.asynccontextmanager
async def wire_tap(upstream_port: int) -> AsyncIterator[tuple[str, TapCounts]]:
    """Run the proxy to ``127.0.0.1:upstream_port``; yield its URL and its counts."""
    counts = TapCounts()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)

    async def handle(client: SocketStream) -> None:
        async with client:
            try:
                upstream = await anyio.connect_tcp("127.0.0.1", upstream_port)
            except OSError:
                return
            async with upstream, anyio.create_task_group() as tg:
                tg.start_soon(_pipe, client, upstream, _ClientParser(counts))
                tg.start_soon(_pipe, upstream, client, None)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        port = listener.extra(SocketAttribute.local_port)
        yield f"http://127.0.0.1:{port}", counts
        tg.cancel_scope.cancel()
