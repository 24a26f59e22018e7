"""Request bodies under one memory budget, and batch bodies decoded off the loop (edge layer).

A daemon buffers a request body whole before it acts on it (a record value, a batch, a
JSON command). Without a bound, many concurrent large uploads take memory without limit
(24 bodies of 64 MiB took the process to 1.46 GiB). :class:`BodyBudget` bounds the bytes
of all bodies being read or handled at once (``max_body_bytes_inflight``): a body that
does not fit is refused with 503 ``server_busy`` and ``Retry-After`` before it is read
(aiohttp then stops reading the socket at its small per-connection buffer). Bodies of up
to :data:`SMALL_BODY` bytes are not counted, so small requests are served even while
large uploads fill the budget; the connection cap bounds their total.

A request's reservation lasts until its handler returns (the bytes stay referenced until
then, for example while a write waits on a hold); :func:`body_budget_middleware` releases
it. :func:`edge_actors.edge._http.read_body` does the reserving.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aiohttp import web

from ._refusals import ServerBusy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiohttp.typedefs import Middleware

__all__ = [
    "BODY_BUDGET",
    "GROWTH",
    "SMALL_BODY",
    "BodyBudget",
    "body_budget_middleware",
]

SMALL_BODY: Final = 64 * 1024
"""Bodies up to this many bytes are not counted against the budget."""

GROWTH: Final = 1024 * 1024
"""A body of unknown length reserves its budget in steps of this many bytes."""

_RESERVED: Final = web.RequestKey("edge_actors.body_reserved", int)


class BodyBudget:
    """The bytes of request bodies a daemon holds at once, over all requests.

    Not thread-safe: the daemon's event loop only.

    Args:
        limit: Most bytes of counted bodies at once (``max_body_bytes_inflight``).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def reserve(self, request: web.Request, size: int, what: str) -> None:
        """Count ``size`` more bytes for ``request`` (released when its handler returns).

        Raises:
            ServerBusy: They do not fit (503 with ``Retry-After``).
        """
        if self.used + size > self.limit:
            raise ServerBusy(
                f"{what}: the edge is already reading {self.used} of {self.limit} bytes of "
                "request bodies (max_body_bytes_inflight); retry shortly"
            )
        self.used += size
        request[_RESERVED] = request.get(_RESERVED, 0) + size

    def release(self, request: web.Request) -> None:
        """Stop counting what ``request`` reserved (idempotent)."""
        self.used -= request.pop(_RESERVED, 0)


BODY_BUDGET: Final = web.AppKey("edge_actors.body_budget", BodyBudget)
"""Where the daemon's :class:`BodyBudget` lives on its application."""


def body_budget_middleware() -> Middleware:
    """Build the middleware that releases a request's body reservation when it ends."""

    @web.middleware
    async def middleware(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        finally:
            budget = request.app.get(BODY_BUDGET)
            if budget is not None:
                budget.release(request)

    return middleware
