"""The daemon's gate: Host allow-list, authentication, authorization, content types (edge layer).

:func:`auth_middleware` runs inside :func:`~._http.error_middleware` (so its refusals get
the JSON error shape and are counted) and before any handler or WebSocket upgrade:

1. ``Host``: a daemon bound to loopback answers only ``127.0.0.1``, ``localhost`` and
   ``[::1]`` (any port) plus :attr:`EdgeConfig.allowed_hosts` and the ``public_url``
   host; a DNS-rebinding page cannot reach it. 421 otherwise.
2. Throttle: an address with too many failed authentications is answered 429 with
   ``Retry-After`` before its token is even looked at (:class:`FailureThrottle`).
3. Authentication: every route needs ``Authorization: Bearer <token>`` naming one of the
   daemon's :class:`~._credentials.Credentials`; 401 otherwise, logged with the address
   and route, never the token.
4. Authorization: the route's :data:`~._credentials.Need` (admin, peer, metrics, data read
   or write on the matched workload, or any credential for the probes) must be permitted
   by the credential; 403 otherwise.
5. Content type: a request with a body on ``POST``/``PUT``/``PATCH`` must say
   ``application/octet-stream``, ``application/msgpack`` or ``application/json``; 415
   otherwise (a browser's cross-origin "simple" ``text/plain`` POST never gets through).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import web

from ._credentials import REQUEST_TOKEN, Credential, Credentials, Need
from ._grants import grant_key, verify_grant
from ._http import HttpError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from aiohttp.typedefs import Middleware

    from edge_actors.clock import Clock

__all__ = [
    "ALLOWED_CONTENT_TYPES",
    "LOOPBACK_HOSTS",
    "Authenticator",
    "FailureThrottle",
    "auth_middleware",
    "credential_of",
    "host_allow_list",
]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
"""Host names a loopback-bound daemon always answers."""

ALLOWED_CONTENT_TYPES = frozenset(
    {"application/octet-stream", "application/msgpack", "application/x-msgpack", "application/json"}
)
"""Content types accepted on requests with a body."""

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_ANY_ROUTES = frozenset({"/api/health", "/api/status"})
# What a cutover calls on its target (read, prepare, activate, undo to incoming): a
# grant may.
_TARGET_ROUTES = frozenset(
    {
        ("GET", "/admin/workloads/{workload}"),
        ("POST", "/admin/workloads/{workload}/prepare"),
        ("POST", "/admin/workloads/{workload}/activate"),
        ("PUT", "/admin/workloads/{workload}/status"),
    }
)
_CREDENTIAL_KEY = web.RequestKey("edge_actors.credential", Credential)


def credential_of(request: web.Request) -> Credential:
    """The credential that authenticated ``request`` (set by :func:`auth_middleware`)."""
    return request[_CREDENTIAL_KEY]


class FailureThrottle:
    """Per-address budget of failed authentications (a token bucket per address).

    Each address may fail ``burst`` times at once, then one more time per ``1 / rate_per_s``
    seconds; past that it is throttled (429) until its budget refills. The table keeps at
    most ``max_addresses`` addresses (least recently failed dropped first), so a flood of
    addresses cannot grow it without bound. Time is read from ``clock``.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        burst: int = 20,
        rate_per_s: float = 1.0,
        max_addresses: int = 4096,
    ) -> None:
        self._clock = clock
        self.burst = burst
        self.rate_per_s = rate_per_s
        self.max_addresses = max_addresses
        self._table: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._table)

    def _level(self, address: str) -> float:
        entry = self._table.get(address)
        if entry is None:
            return float(self.burst)
        budget, at = entry
        return min(float(self.burst), budget + (self._clock.monotonic() - at) * self.rate_per_s)

    def retry_after(self, address: str) -> float | None:
        """Seconds until ``address`` may try again, or ``None`` if it may try now."""
        level = self._level(address)
        if level >= 1.0:
            return None
        return (1.0 - level) / self.rate_per_s

    def failed(self, address: str) -> bool:
        """Spend one failure of ``address``; return whether that emptied its budget."""
        level = self._level(address) - 1.0
        self._table[address] = (level, self._clock.monotonic())
        self._table.move_to_end(address)
        while len(self._table) > self.max_addresses:
            self._table.popitem(last=False)
        return level < 1.0


def host_allow_list(
    bound_host: str, configured: Iterable[str], public_url: str | None
) -> frozenset[str] | None:
    """Host names the daemon answers, or ``None`` to answer any (non-loopback, none set)."""
    names = {name.lower().strip("[]") for name in configured}
    if public_url:
        hostname = urlsplit(public_url).hostname
        if hostname:
            names.add(hostname.lower())
    loopback = bound_host.lower().strip("[]") in {"127.0.0.1", "localhost", "::1"}
    if not names and not loopback:
        return None
    return frozenset(names | {h.strip("[]") for h in LOOPBACK_HOSTS} | {bound_host.strip("[]")})


def _host_name(header: str) -> str:
    """The host of a ``Host`` header, without port or IPv6 brackets, lower case."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _need(request: web.Request) -> tuple[Need, str | None]:
    """What ``request`` needs; defaults to ``admin`` for anything not classified below."""
    info = request.match_info
    if info.http_exception is not None:  # no route: any credential, then the 404/405
        return "any", None
    canonical = info.route.resource.canonical if info.route.resource is not None else ""
    if canonical in _ANY_ROUTES:
        return "any", None
    if canonical.startswith("/v1/workloads/{workload}"):
        need: Need = "write" if request.method in _WRITE_METHODS else "read"
        return need, info.get("workload")
    if canonical.startswith("/peer/"):
        return "peer", None
    if canonical == "/metrics":
        return "metrics", None
    if (request.method, canonical) in _TARGET_ROUTES:
        return "target", info.get("workload")
    return "admin", None


class Authenticator:
    """Authenticates and authorizes requests (see the module docstring).

    Args:
        edge: The edge's name (a transfer grant must name it).
        clock: Times the failure throttle and grant expiry.
        log: The daemon's bound logger.
        burst: Failed authentications an address may make at once (:class:`FailureThrottle`).
        rate_per_s: Refill rate of that budget.
    """

    def __init__(
        self,
        edge: str,
        clock: Clock,
        log: object,
        *,
        burst: int = 20,
        rate_per_s: float = 1.0,
    ) -> None:
        self.edge = edge
        self.credentials = Credentials(())
        self.hosts: frozenset[str] | None = None
        self.throttle = FailureThrottle(clock, burst=burst, rate_per_s=rate_per_s)
        self._clock = clock
        self._grant_keys: tuple[bytes, ...] = ()
        self._log = log

    def use(self, credentials: Credentials) -> None:
        """Accept ``credentials`` (and transfer grants signed for its admin tokens)."""
        self.credentials = credentials
        self._grant_keys = tuple(grant_key(c.token) for c in credentials if c.role == "admin")

    def _find(self, given: str) -> Credential | None:
        # Header values are decoded with surrogateescape: non-UTF-8 bytes must not raise.
        found = self.credentials.find(given.encode("utf-8", "surrogateescape"))
        if found is None and self._grant_keys:
            found = verify_grant(given, self._grant_keys, edge=self.edge, now=self._clock.time())
        return found

    def check_host(self, request: web.Request) -> None:
        """Refuse a ``Host`` outside the allow-list (421)."""
        if self.hosts is None:
            return
        host = _host_name(request.headers.get("Host", ""))
        if host not in self.hosts:
            self._warn("host_refused", request, host=host[:100])
            raise HttpError(
                421, "host_not_allowed", "this edge does not answer that Host (see allowed_hosts)"
            )

    def authenticate(self, request: web.Request) -> Credential:
        """Return the request's credential; 429, 401 or 403 otherwise."""
        address = request.remote or "unknown"
        wait = self.throttle.retry_after(address)
        if wait is not None:
            raise _throttled(wait)
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        credential = None
        if scheme.lower() == "bearer" and given.strip():
            credential = self._find(given.strip())
        if credential is None:
            emptied = self.throttle.failed(address)
            reason = "wrong token" if header else "no token"
            self._warn("auth_failed", request, reason=reason, throttled=emptied)
            raise HttpError(
                401,
                "unauthorized",
                f"{reason}: send Authorization: Bearer <token> (the cluster token or a "
                "scoped credential of this edge)",
            )
        need, workload = _need(request)
        if not credential.permits(need, workload):
            self._warn("auth_forbidden", request, credential=credential.name, need=need)
            what = f"{need} on workload {workload!r}" if workload is not None else need
            raise HttpError(403, "forbidden", f"credential {credential.name!r} may not do {what}")
        return credential

    def _warn(self, event: str, request: web.Request, **fields: object) -> None:
        info = request.match_info
        route = info.route.resource.canonical if info.route.resource is not None else "unmatched"
        self._log.warning(  # type: ignore[attr-defined]  # a structlog BoundLogger
            event, address=request.remote, route=route, method=request.method, **fields
        )


def _throttled(wait: float) -> HttpError:
    return HttpError(
        429,
        "too_many_failures",
        "too many failed authentications from this address",
        retry_after_s=max(1, math.ceil(wait)),
    )


def _check_content_type(request: web.Request) -> None:
    if request.method not in _BODY_METHODS or not request.body_exists:
        return
    given = request.headers.get("Content-Type", "")
    mime = given.partition(";")[0].strip().lower()
    if mime not in ALLOWED_CONTENT_TYPES:
        raise HttpError(
            415,
            "unsupported_media_type",
            f"Content-Type {mime or 'missing'!r}: send one of "
            + ", ".join(sorted(ALLOWED_CONTENT_TYPES)),
        )


def auth_middleware(auth: Authenticator) -> Middleware:
    """Build the middleware that gates every request through ``auth``."""

    @web.middleware
    async def middleware(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        auth.check_host(request)
        credential = auth.authenticate(request)
        request[_CREDENTIAL_KEY] = credential
        _check_content_type(request)
        reset = REQUEST_TOKEN.set(credential.token)
        try:
            return await handler(request)
        finally:
            REQUEST_TOKEN.reset(reset)

    return middleware
