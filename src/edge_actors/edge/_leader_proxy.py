"""Forwarding of migration commands from a follower replica to the leader (edge layer).

A supervisor replica that is not the leader forwards each migration command (plan,
execute, pause, resume, rollback, cancel) it receives to the leader's URL, with the
caller's own credential and body, and answers with the leader's answer unchanged, so the
CLI, :class:`~._migration_client.MigrationClient` and ``LocalRuntime`` work against any
replica. A proxy rather than a 307: a redirected client would have to re-send its
credential to another origin, which HTTP clients (aiohttp included) refuse to do.

A forwarded request carries :data:`FORWARDED_HEADER`; a replica never forwards such a
request again (a leader that lost its lease while a follower still names it would
otherwise bounce it back): it answers 503 ``no_leader``, and the caller retries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from ._http import HttpError, read_body

if TYPE_CHECKING:
    import ssl

__all__ = ["FORWARDED_HEADER", "LeaderProxy", "LeaderUnreachable"]

FORWARDED_HEADER = "X-Edge-Actors-Forwarded-By"
"""Names the follower that forwarded a command (a forwarded command is never forwarded)."""

_BODY_LIMIT = 256 * 1024
_PASSED_HEADERS = ("Authorization", "Content-Type")
_ANSWER_HEADERS = ("Content-Type",)


class LeaderUnreachable(HttpError):
    """503 ``no_leader``: the leader named by the lease did not answer (it may be dead)."""


_BODY_KEY = web.RequestKey("forwarded_body", bytes)


class LeaderProxy:
    """Forwards commands to the leader over one pooled session.

    Args:
        name: this replica's name (sent in :data:`FORWARDED_HEADER`).
        ssl_context: TLS context for an ``https`` leader (a private CA, mTLS).
        timeout: seconds a forwarded command may take (a pause waits for ``paused``).

    Use as ``async with``-less: call :meth:`aclose` when the daemon stops.
    """

    def __init__(
        self, name: str, *, ssl_context: ssl.SSLContext | None = None, timeout: float = 120.0
    ) -> None:
        self.name = name
        self._ssl = ssl_context
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        """Close the session."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = None if self._ssl is None else aiohttp.TCPConnector(ssl=self._ssl)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def forward(self, request: web.Request, leader: str | None) -> web.Response:
        """Send ``request`` to ``leader`` and return its answer.

        Raises:
            HttpError: 503 ``no_leader`` when no leader is known or the request was
                already forwarded once.
            LeaderUnreachable: the leader cannot be reached.
        """
        if leader is None:
            raise HttpError(503, "no_leader", "no supervisor leader is elected yet; retry")
        if FORWARDED_HEADER in request.headers:
            raise HttpError(
                503,
                "no_leader",
                f"forwarded by {request.headers[FORWARDED_HEADER]!r} to a replica that is "
                "not the leader (leadership is changing); retry",
            )
        body = request.get(_BODY_KEY)
        if body is None:  # read once: a retry to the next leader sends the same bytes
            body = request[_BODY_KEY] = await read_body(request, _BODY_LIMIT)
        headers = {k: request.headers[k] for k in _PASSED_HEADERS if k in request.headers}
        headers[FORWARDED_HEADER] = self.name
        url = leader.rstrip("/") + request.path_qs
        try:
            async with self._http().request(
                request.method,
                url,
                data=body or None,
                headers=headers,
                allow_redirects=False,
                timeout=self._timeout,
            ) as resp:
                answer = await resp.read()
                passed = {k: resp.headers[k] for k in _ANSWER_HEADERS if k in resp.headers}
                return web.Response(body=answer, status=resp.status, headers=passed)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise LeaderUnreachable(
                503, "no_leader", f"the supervisor leader {leader} cannot be reached: {exc!r}"
            ) from None
