"""Forwarding of a moved workload's released writes to its new edge (edge layer).

Writes held by a cutover and released with ``moved_to`` are forwarded by the source edge
itself (one batch per drain, over the daemon's pooled connection), so held clients need
no 307 round trip; they learn the new edge from the ``X-Edge-Moved-To`` header of the
answer. Each write is forwarded with its own client's bearer token (the one the client
would send after a 307), so a batch holds writes of one token only. The router queues
each such write in release order and awaits its outcome.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
import anyio
import anyio.lowlevel
import msgspec

from ._credentials import REQUEST_TOKEN
from ._models import LsnAnswer

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["Forwarded", "Forwarder"]

_FORWARD_TIMEOUT_S = 30.0
_FORWARD_BATCH_BYTES = 32 * 1024 * 1024  # below the target's 64 MiB batch body limit
_GATHER_TURNS = 1024  # loop turns a forward waits at most for the writes released with it
_MSGPACK = msgspec.msgpack.Encoder()
_LSN_ANSWER = msgspec.json.Decoder(LsnAnswer)


class Forwarded:
    """One held write waiting for its forward: its ops and, once sent, its outcome."""

    __slots__ = ("done", "error", "lsn", "ops", "redirect", "token")

    def __init__(self, ops: Sequence[tuple[str, bytes | None]]) -> None:
        self.ops = ops
        self.token = REQUEST_TOKEN.get()
        self.done = False
        self.lsn = 0
        self.redirect = False
        self.error: str | None = None


class Forwarder:
    """Forwards a moved workload's released writes to its new edge, in arrival order.

    Writes are queued (synchronously, in the order the hold releases them) and sent as
    ``POST {moved_to}/v1/workloads/{w}/batch`` requests, one at a time (a lock), each
    carrying every write queued so far: the batch is atomic, its ops get consecutive
    LSNs, so each write learns its own LSN. A write is acknowledged only once the target
    has committed it. If the target refuses the batch or cannot be reached, nothing was
    applied and each write falls back to a 307 (its client re-sends it); a batch whose
    outcome is unknown (connection lost mid-request) answers 503 (not acknowledged).

    Args:
        session: Returns the daemon's pooled HTTP session (called per send).
        name: The workload.
        log: The daemon's bound logger.
    """

    def __init__(self, session: Callable[[], aiohttp.ClientSession], name: str, log: Any) -> None:
        self._session = session
        self._log = log
        self.name = name
        self.pending: list[Forwarded] = []
        self.lock = anyio.Lock()

    def enqueue(self, ops: Sequence[tuple[str, bytes | None]]) -> Forwarded:
        """Queue ``ops`` behind every write queued before (no await: order is kept)."""
        item = Forwarded(ops)
        self.pending.append(item)
        return item

    async def flush(self, item: Forwarded, moved_to: str) -> None:
        """Send queued writes until ``item`` has its outcome."""
        async with self.lock:
            if not item.done:
                await self._gather()
            while not item.done:
                batch = self._take()
                try:
                    await self._send(batch, moved_to)
                except BaseException:
                    # Cancelled (shutdown) or an unexpected error mid-send: the batch's
                    # outcome is unknown, and a write left undone would make every flush
                    # waiting behind it loop on empty batches for ever.
                    for queued in batch:
                        if not queued.done:
                            queued.error = (
                                f"forwarding the held write to {moved_to} was interrupted; "
                                "it may or may not have been applied there and is not "
                                "acknowledged"
                            )
                            queued.done = True
                    raise

    async def _gather(self) -> None:
        """Let the writes released with the first one queue up before it is sent.

        A hold hands its turn to the next held write one loop turn at a time, so when the
        first released write gets here, the others are still to be queued: sent at once,
        a release of 16 writes went as a batch of 2 and then one of 14, two commits on
        the target in a row. This waits turns of the loop while each one queues another
        write (at most :data:`_GATHER_TURNS`), so they go in one request.
        """
        for _ in range(_GATHER_TURNS):
            queued = len(self.pending)
            await anyio.lowlevel.checkpoint()
            if len(self.pending) == queued:
                return

    def _take(self) -> list[Forwarded]:
        size, count = 0, 0
        for queued in self.pending:
            size += sum(len(k) + (len(v) if v else 0) for k, v in queued.ops)
            if count and (size > _FORWARD_BATCH_BYTES or queued.token != self.pending[0].token):
                break
            count += 1
        batch, self.pending = self.pending[:count], self.pending[count:]
        return batch

    async def _send(self, batch: list[Forwarded], moved_to: str) -> None:
        ops = [[key, value] for item in batch for key, value in item.ops]
        url = f"{moved_to}/v1/workloads/{quote(self.name, safe='')}/batch"
        started = time.perf_counter()
        outcome = "forwarded"
        try:
            async with self._session().post(
                url,
                data=_MSGPACK.encode(ops),
                headers=_headers(batch[0].token),
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=_FORWARD_TIMEOUT_S),
            ) as resp:
                body = await resp.read()
                if resp.status == 200:
                    last = _LSN_ANSWER.decode(body).lsn
                    first = last - len(ops) + 1
                    for item in batch:
                        first += len(item.ops)
                        item.lsn = first - 1
                else:
                    outcome = f"refused_{resp.status}"
                    for item in batch:
                        item.redirect = True
        except aiohttp.ClientConnectorError as exc:  # never connected: nothing was sent
            outcome = f"unreachable: {exc}"
            for item in batch:
                item.redirect = True
        except (aiohttp.ClientError, OSError, TimeoutError, msgspec.DecodeError) as exc:
            outcome = f"unknown: {exc!r}"
            for item in batch:
                item.error = (
                    f"forwarding the held write to {moved_to} failed ({exc!r}); it may or "
                    "may not have been applied there and is not acknowledged"
                )
        for item in batch:
            item.done = True
        self._log.info(
            "held_writes_forwarded",
            workload=self.name,
            writes=len(batch),
            ops=len(ops),
            moved_to=moved_to,
            outcome=outcome,
            ms=round((time.perf_counter() - started) * 1000, 3),
        )


def _headers(token: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/msgpack"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers
