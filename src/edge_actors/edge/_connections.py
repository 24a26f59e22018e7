"""Client connections of a daemon: a cap, a header-read timeout, abandoned requests (edge layer).

Without these, 400 idle sockets stayed open for the whole keep-alive (3,630 s by
aiohttp's default) and 1,100 of them under a 1,024 file limit starved the daemon: every
new request, admin included, was reset. :class:`ConnectionGuard` wraps the protocol of
every accepted connection (:class:`GuardedSockSite`) and:

- caps open connections at ``max_connections`` (lowered to fit the process's open-file
  limit): at the cap, the connection idle the longest is closed to admit the new one, so
  a flood of idle sockets cannot lock legitimate clients out; with none idle, the new
  connection is closed at once;
- closes a connection whose request headers are not in within ``header_timeout_s`` of
  its opening, or of the first byte of a later request on it (slowloris, or a socket
  opened and left silent).

aiohttp's own ``keepalive_timeout`` (``keepalive_timeout_s``) closes connections idle
between requests; it is longer than aiohttp clients' own 15 s pool timeout, so a client
drops an idle pooled connection before the daemon does (no reuse race). A request is "in
progress" from the moment its handler starts (:func:`connection_middleware`) until it
returns; a WebSocket stays in progress for its lifetime (its heartbeat bounds it).
These are network timers: they run on the event loop's clock, like aiohttp's, not on the
daemon's injected clock (a test that advances a manual clock for hold leases must not
close its own client's connections).
"""

from __future__ import annotations

import asyncio
import resource
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiohttp.typedefs import Middleware
    from aiohttp.web_protocol import RequestHandler

__all__ = [
    "CONNECTION_GUARD",
    "ConnectionGuard",
    "GuardedSockSite",
    "client_gone",
    "connection_middleware",
    "fitting_connection_cap",
]

FD_RESERVE: Final = 128
"""Open files kept free of client connections (stores, journal, logs, outgoing calls)."""


def fitting_connection_cap(wanted: int) -> int:
    """``wanted``, lowered so connections leave :data:`FD_RESERVE` of the open-file limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - FD_RESERVE))


class _Connection(asyncio.Protocol):
    """One accepted connection: delegates to aiohttp's handler, reports to the guard."""

    def __init__(self, guard: ConnectionGuard, inner: RequestHandler) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.busy = 0
        self.idle_since = guard.loop.time()
        self.header_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol, delegated -------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport
        self.inner.connection_made(transport)
        self.guard.opened(self)
        self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        self.guard.closed(self)
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self.busy:
            self._start_header_timer()
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        self.inner.eof_received()
        return None  # close the transport (aiohttp's handler does not keep half-open)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    # -- the guard's view ------------------------------------------------------------

    def request_started(self) -> None:
        self.busy += 1
        self._cancel_header_timer()

    def request_ended(self) -> None:
        self.busy -= 1
        if not self.busy:
            self.idle_since = self.guard.loop.time()

    def close(self, reason: str) -> None:
        self.guard.count_closed(reason)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _start_header_timer(self) -> None:
        if self.header_timer is None and not self.busy:
            self.header_timer = self.guard.loop.call_later(
                self.guard.header_timeout_s, self._header_timeout
            )

    def _cancel_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _header_timeout(self) -> None:
        self.header_timer = None
        if not self.busy:
            self.close("header_timeout")


class ConnectionGuard:
    """Open client connections of one daemon, their cap and their header-read timer.

    Not thread-safe: the daemon's event loop only.

    Args:
        max_connections: Most open connections (already fitted to the file limit).
        header_timeout_s: Time from a request's first byte to its handler starting.
        log: The daemon's bound logger.
    """

    def __init__(self, max_connections: int, header_timeout_s: float, log: Any) -> None:
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self._log = log
        self._open: dict[RequestHandler, _Connection] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed_by_reason: dict[str, int] = {}

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the connections live on (bound on the first one)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    @property
    def open(self) -> int:
        """Client connections open right now."""
        return len(self._open)

    def factory(self, make: Callable[[], RequestHandler]) -> Callable[[], asyncio.Protocol]:
        """Wrap aiohttp's protocol factory ``make`` so each connection reports here."""

        def protocol() -> asyncio.Protocol:
            return _Connection(self, make())

        return protocol

    def opened(self, conn: _Connection) -> None:
        """Admit ``conn``; at the cap, close the longest-idle connection (or ``conn``)."""
        if len(self._open) >= self.max_connections:
            idle = [other for other in self._open.values() if not other.busy]
            if not idle:
                conn.close("over_cap")
                return
            oldest = min(idle, key=lambda other: other.idle_since)
            del self._open[oldest.inner]
            oldest.close("evicted")
        self._open[conn.inner] = conn

    def closed(self, conn: _Connection) -> None:
        """Forget ``conn`` (its transport is gone)."""
        self._open.pop(conn.inner, None)

    def count_closed(self, reason: str) -> None:
        """Count a connection this guard closed, by reason (``/admin/health`` shows them)."""
        self.closed_by_reason[reason] = self.closed_by_reason.get(reason, 0) + 1
        if self.closed_by_reason[reason] in (1, 100, 10_000):
            self._log.warning("connections_shed", reason=reason, total=self.closed_by_reason)

    def get(self, request: web.BaseRequest) -> _Connection | None:
        """The guarded connection of ``request`` (``None`` once it is gone)."""
        handler = request.protocol
        return self._open.get(handler)


CONNECTION_GUARD: Final = web.AppKey("edge_actors.connection_guard", ConnectionGuard)
"""Where the daemon's :class:`ConnectionGuard` lives on its application."""


def connection_middleware() -> Middleware:
    """Build the middleware that marks a connection busy while a handler runs."""

    @web.middleware
    async def middleware(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        guard = request.app.get(CONNECTION_GUARD)
        conn = guard.get(request) if guard is not None else None
        if conn is None:
            return await handler(request)
        conn.request_started()
        try:
            return await handler(request)
        finally:
            conn.request_ended()

    return middleware


def client_gone(request: web.BaseRequest) -> bool:
    """Whether the client of ``request`` has disconnected (nobody waits for the answer)."""
    transport = request.transport
    return transport is None or transport.is_closing()


class GuardedSockSite(web.SockSite):
    """A :class:`aiohttp.web.SockSite` whose connections go through a :class:`ConnectionGuard`.

    It repeats ``SockSite.start`` with the guard's factory around aiohttp's (aiohttp has
    no hook for it); the attributes it reads are the ones ``SockSite.start`` reads.
    """

    __slots__ = ("_guard",)

    def __init__(
        self, runner: web.BaseRunner, sock: Any, guard: ConnectionGuard, **kw: Any
    ) -> None:
        super().__init__(runner, sock, **kw)
        self._guard = guard

    async def start(self) -> None:
        """Register with the runner and serve the socket through the guard."""
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        self._server = await loop.create_server(
            self._guard.factory(server),
            sock=self._sock,
            ssl=self._ssl_context,
            backlog=self._backlog,
        )
