"""The peer stream route ``GET /peer/stream`` (WebSocket, cluster token) (edge layer).

The bearer token is checked by the daemon's middleware before the upgrade. The stream
itself is served by the transfer layer's receiver; this module resolves which local
store a stream may write to: ``incoming`` workloads (forward sync) and ``active`` /
``moved`` ones (rollback sync-back); unknown workloads are refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from ._daemon import EdgeDaemon

__all__ = ["add_peer_routes"]


def add_peer_routes(app: web.Application, daemon: EdgeDaemon) -> None:
    """Register ``/peer/stream`` on ``app`` (refuses with 503 until transfer lands)."""

    async def peer_stream(request: web.Request) -> web.StreamResponse:
        raise web.HTTPServiceUnavailable(text="peer stream not available")

    app.router.add_route("GET", "/peer/stream", peer_stream)
