"""Fencing of supervisor replicas at the edge: the highest leadership epoch seen (edge layer).

With a PostgreSQL journal, supervisor replicas elect one leader, numbered by a
*leadership epoch* that grows on every change of leader (``migration/_leadership.py``).
Every admin command a leader sends carries its epoch in the :data:`LEADER_EPOCH_HEADER`
header. The edge keeps the highest epoch it has seen in ``<data_dir>/leader_epoch.state``
(durable before the command acts, so it survives ``kill -9``: :mod:`._state_file`) and refuses an
admin command carrying a lower one with :class:`~._refusals.StaleLeader` (409
``stale_leader``): a deposed leader, partitioned from the database and unaware that
another replica took over, can no longer move anything.

Admitting a higher epoch also cancels the transfers still streaming for lower ones
(``POST /admin/transfers`` is a long request; a stopped leader's socket may stay open),
at a chunk boundary like any cancelled transfer.

A command without the header is not fenced: the embedded supervisor (SQLite journal) has
no leadership epoch and sends none. The check runs after authentication, so only an
admin credential can raise the epoch. This is a different fence from :mod:`._fence`
(ownership epochs per workload): that one orders owner decisions, this one orders the
supervisors that take them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import msgspec
from aiohttp import web

from ._http import HttpError
from ._refusals import StaleLeader, StateNotDurable
from ._state_file import StateFile

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from aiohttp.typedefs import Middleware

__all__ = ["LEADER_EPOCH_HEADER", "LeaderFence", "leader_fence_middleware"]

LEADER_EPOCH_HEADER = "X-Edge-Actors-Leader-Epoch"
"""The header carrying the sending supervisor's leadership epoch (a decimal integer)."""

_STREAMING_PATHS = ("/admin/transfers",)


class _LeaderFile(msgspec.Struct):
    version: int
    epoch: int


class LeaderFence:
    """The highest leadership epoch this edge has seen, persisted (see the module doc).

    Args:
        path: The file (created on the first epoch seen).

    Raises:
        EdgeError: The file exists but cannot be read.
    """

    def __init__(self, path: Path) -> None:
        self._file = StateFile(path, "leader epoch file")
        data = self._file.load(_LeaderFile)
        self.epoch = 0 if data is None else data.epoch
        self._durable = self.epoch
        self._streams: dict[anyio.CancelScope, int] = {}

    async def admit(self, epoch: int) -> None:
        """Check ``epoch`` against the highest seen; record it if higher, durable before
        this returns (the sync in a worker thread: the loop serves meanwhile).

        A higher epoch is taken in memory at once: lower ones are refused from then on,
        and the streaming requests admitted under them are cancelled. A command at an
        epoch not yet durable (its write still running, or failed) waits for a write.

        Raises:
            StaleLeader: ``epoch`` is lower than the highest seen (nothing recorded).
            StateNotDurable: The file could not be written (503 ``state_not_durable``; the
                epoch stays seen in memory, the next command at it writes it again).
        """
        if epoch < self.epoch:
            raise StaleLeader(
                f"command carries leadership epoch {epoch}, this edge has seen epoch "
                f"{self.epoch}; refused (a newer supervisor leader exists)"
            )
        if epoch > self.epoch:
            self.epoch = epoch
            for scope, admitted in list(self._streams.items()):
                if admitted < epoch:
                    scope.cancel()
        if epoch > self._durable:
            written = self.epoch
            try:
                await self._file.write_async(_LeaderFile(version=1, epoch=written))
            except OSError as exc:
                raise StateNotDurable.of(self._file.what, exc, self._file.path) from exc
            self._durable = max(self._durable, written)

    async def run_stream(
        self, epoch: int, call: Callable[[], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Run the streaming request ``call``, cancelled if a higher epoch is admitted.

        Raises:
            StaleLeader: It was cancelled by a newer leader's epoch (before it answered).
        """
        with anyio.CancelScope() as scope:
            self._streams[scope] = epoch
            try:
                return await call()
            finally:
                del self._streams[scope]
        raise StaleLeader(f"leadership epoch {epoch} was superseded by {self.epoch} while this ran")


def _epoch_of(request: web.Request) -> int | None:
    raw = request.headers.get(LEADER_EPOCH_HEADER)
    if raw is None:
        return None
    try:
        epoch = int(raw)
    except ValueError:
        epoch = -1
    if epoch < 0:
        raise HttpError(
            400,
            "invalid_header",
            f"{LEADER_EPOCH_HEADER}: expected an integer >= 0, got {raw[:40]!r}",
        )
    return epoch


def leader_fence_middleware(fence: Callable[[], LeaderFence | None]) -> Middleware:
    """Build the middleware fencing admin commands by leadership epoch.

    Args:
        fence: Returns the running daemon's fence (``None`` before start: nothing fenced).
    """

    @web.middleware
    async def middleware(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        current = fence()
        if current is None or not request.path.startswith("/admin/"):
            return await handler(request)
        epoch = _epoch_of(request)
        if epoch is None:
            return await handler(request)
        await current.admit(epoch)
        if request.method == "POST" and request.path in _STREAMING_PATHS:
            return await current.run_stream(epoch, lambda: handler(request))
        return await handler(request)

    return middleware
