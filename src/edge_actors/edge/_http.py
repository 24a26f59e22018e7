"""HTTP plumbing shared by the daemon's routes: errors, bodies, auth, counting (edge layer).

Handlers raise :class:`HttpError` for malformed requests; the domain below them (router,
cutover saga, transfers, stores) raises typed refusals with stable codes
(:mod:`._refusals`, store errors). This module is the one place that maps a domain error
to its HTTP status (:data:`REFUSAL_STATUS`, :data:`_STORE_ERRORS`):
:func:`error_middleware` turns every failure into the JSON shape
``{"error": code, "message": ...}`` (a :class:`WorkloadRedirected` into a 307 to the same
path on the new edge) and counts the request, so no traceback ever reaches a client.
:func:`check_token` compares bearer tokens in constant time; authentication and
authorization are :mod:`._auth`'s middleware, which runs inside this one.
"""

from __future__ import annotations

import hmac
import re
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote_to_bytes

import msgspec
from aiohttp import web

from edge_actors._log import get_logger
from edge_actors.errors import ConfigError
from edge_actors.store import (
    InvalidRecord,
    InvalidWorkloadName,
    StoreClosed,
    StoreFull,
    WorkloadExists,
    WorkloadNotFound,
)

from ._bodies import BODY_BUDGET, GROWTH, SMALL_BODY
from ._bursts import BurstLog
from ._models import ErrorBody
from ._refusals import (
    ActivationTooLate,
    CapacityExceeded,
    CutoverFailed,
    CutoverInProgress,
    DigestMismatch,
    ForwardFailed,
    HeldQueueFull,
    HoldLimitReached,
    InvalidRouteChange,
    LsnBehind,
    NoSuchWorkload,
    Refusal,
    ServerBusy,
    StaleEpoch,
    StaleLeader,
    StateNotDurable,
    TransferExists,
    WorkloadHeld,
    WorkloadIsIncoming,
    WorkloadIsMoved,
    WorkloadNotActive,
    WorkloadRedirected,
    WriteAbandoned,
)
from ._routing import GateClosed

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiohttp.typedefs import Middleware

    from ._metrics import DaemonMetrics

__all__ = [
    "JSON_TYPE",
    "REFUSAL_STATUS",
    "HttpError",
    "check_token",
    "decode_json",
    "error_middleware",
    "json_response",
    "parse_json",
    "read_body",
]

T = TypeVar("T")

JSON_TYPE = "application/json"
_JSON_BODY_LIMIT = 1024 * 1024
_ENCODER = msgspec.json.Encoder()


class HttpError(Exception):
    """An error answer: HTTP status, stable code, message for humans, and for a momentary
    refusal (503) the seconds after which to retry (the ``Retry-After`` header)."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after_s: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s


def json_response(body: msgspec.Struct | dict[str, Any], status: int = 200) -> web.Response:
    """Encode ``body`` with msgspec as a JSON answer."""
    return web.Response(body=_ENCODER.encode(body), status=status, content_type=JSON_TYPE)


def _error_response(
    status: int,
    code: str,
    message: str,
    retry_after_s: int | None = None,
    held_ms: float | None = None,
) -> web.Response:
    body = ErrorBody(error=code, message=message, held_ms=held_ms)
    response = json_response(body, status=status)
    if retry_after_s is not None:
        response.headers["Retry-After"] = str(retry_after_s)
    return response


async def read_body(request: web.Request, limit: int, what: str = "body") -> bytes:
    """Read the whole request body, refusing more than ``limit`` bytes with a 413.

    A body over :data:`~._bodies.SMALL_BODY` bytes counts against the application's
    :class:`~._bodies.BodyBudget` (if it has one) until the request ends: all of a
    declared ``Content-Length`` before reading, a chunked body in steps as it arrives.

    Raises:
        HttpError: 413 ``payload_too_large``.
        ServerBusy: The body does not fit the budget (503 with ``Retry-After``).

    Cancellation: the partial body is discarded (its reservation ends with the request).
    """
    length = request.content_length
    if length is not None and length > limit:
        raise HttpError(413, "payload_too_large", f"{what} is {length} bytes; limit {limit}")
    budget = request.app.get(BODY_BUDGET)
    reserved = 0
    if budget is not None and length is not None and length > SMALL_BODY:
        budget.reserve(request, length, what)
        reserved = length
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            raise HttpError(413, "payload_too_large", f"{what} exceeds the limit of {limit} bytes")
        if budget is not None and size > max(reserved, SMALL_BODY):
            step = max(GROWTH, size - reserved)
            budget.reserve(request, step, what)
            reserved += step
        chunks.append(chunk)
    return b"".join(chunks)


_JSON_SYNTAX_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)
"""What msgspec raises for a malformed JSON body: bad syntax, a string that is not UTF-8,
absurd nesting. All are the client's malformed body (400), never a server bug (500)."""


def parse_json(body: bytes, what: str) -> Any:
    """Decode ``body`` as untyped JSON; malformed or absurdly nested JSON is a 400.

    Raises:
        HttpError: 400 ``invalid_json`` naming ``what``.
    """
    try:
        return msgspec.json.decode(body)
    except msgspec.ValidationError as exc:  # well-formed, but a number out of range
        raise HttpError(400, "invalid_body", f"{what}: {exc}") from None
    except _JSON_SYNTAX_ERRORS as exc:
        raise HttpError(400, "invalid_json", f"{what}: body is not JSON: {exc}") from None


async def decode_json(request: web.Request, kind: type[T], *, empty_ok: bool = False) -> T:
    """Decode the request's JSON body into ``kind``; a malformed body is a 400 naming the field.

    Args:
        request: The request.
        kind: The Struct type expected.
        empty_ok: Whether an empty body means ``kind()`` (all defaults).
    """
    body = await read_body(request, _JSON_BODY_LIMIT)
    if not body.strip() and empty_ok:
        body = b"{}"
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        try:
            msgspec.json.decode(body)
        except msgspec.ValidationError:
            pass  # well-formed JSON (a number out of range): the typed message says where
        except _JSON_SYNTAX_ERRORS as syntax:
            raise HttpError(
                400, "invalid_json", f"{kind.__name__}: body is not JSON: {syntax}"
            ) from None
        raise HttpError(400, "invalid_body", f"{kind.__name__}: {exc}") from None
    except _JSON_SYNTAX_ERRORS as exc:
        raise HttpError(400, "invalid_json", f"{kind.__name__}: body is not JSON: {exc}") from None


def check_token(request: web.Request, token: str) -> bool:
    """Return whether the request carries ``Authorization: Bearer <token>`` (constant time)."""
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Header values are decoded with surrogateescape: non-UTF-8 bytes must not raise (a 500).
    return hmac.compare_digest(given.strip().encode("utf-8", "surrogateescape"), token.encode())


_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def check_path(raw_path: str) -> None:
    """Refuse a path whose percent-encoding is malformed or does not decode to UTF-8.

    Without this check ``%zz`` or ``%ff`` would reach a handler as the literal text
    ``%zz`` / ``%FF``: a different key than the client meant, written without a word.

    Raises:
        HttpError: 400 ``invalid_path`` naming the offending part.
    """
    path = raw_path.partition("?")[0].encode("utf-8", "surrogateescape")
    if b"%" not in path:
        return
    bad = _PERCENT.search(path)
    if bad is not None:
        excerpt = path[bad.start() : bad.start() + 3].decode("ascii", "replace")
        raise HttpError(
            400, "invalid_path", f"path: malformed percent-encoding {excerpt!r} (use %XX)"
        )
    try:
        unquote_to_bytes(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HttpError(
            400,
            "invalid_path",
            f"path: percent-encoded bytes are not UTF-8 ({exc.reason} at byte {exc.start})",
        ) from None


REFUSAL_STATUS: dict[type[Refusal], int] = {
    InvalidRouteChange: 400,
    NoSuchWorkload: 404,
    WorkloadIsIncoming: 409,
    WorkloadIsMoved: 409,
    WorkloadNotActive: 409,
    WorkloadHeld: 409,
    CutoverInProgress: 409,
    HoldLimitReached: 409,
    LsnBehind: 409,
    ActivationTooLate: 409,
    DigestMismatch: 409,
    TransferExists: 409,
    StaleEpoch: 409,
    StaleLeader: 409,
    CutoverFailed: 502,
    ForwardFailed: 503,
    GateClosed: 503,
    HeldQueueFull: 503,
    ServerBusy: 503,
    StateNotDurable: 503,
    CapacityExceeded: 507,
    WriteAbandoned: 499,
}
"""The HTTP status of each domain refusal (its ``code`` is the class's own)."""

_STORE_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (InvalidWorkloadName, 400, "invalid_workload_name"),
    (InvalidRecord, 400, "invalid_record"),
    (ConfigError, 400, "invalid_request"),
    (WorkloadNotFound, 404, "workload_not_found"),
    (WorkloadExists, 409, "workload_exists"),
    (StoreClosed, 503, "store_closed"),
    (StoreFull, 507, "insufficient_storage"),
)


def refusal_status(exc: Refusal) -> int:
    """The HTTP status of ``exc`` (its class or nearest mapped base); 500 if unmapped."""
    status = REFUSAL_STATUS.get(type(exc))
    if status is not None:
        return status
    for kind, mapped in REFUSAL_STATUS.items():
        if isinstance(exc, kind):
            return mapped
    return 500


def _redirect(request: web.Request, exc: WorkloadRedirected) -> web.HTTPTemporaryRedirect:
    location = exc.moved_to + request.raw_path
    return web.HTTPTemporaryRedirect(location=location, text=f"moved to {location}")


def _route_name(request: web.Request) -> str:
    info = request.match_info
    route = info.route if info is not None else None
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else "unmatched"


def error_middleware(metrics: DaemonMetrics, edge: str) -> Middleware:
    """Build the middleware that counts requests and maps errors to JSON answers.

    Authentication is the next middleware's job (:func:`._auth.auth_middleware`); its
    401/403/421/429/415 refusals are answered and counted here like any other.
    """
    log = get_logger("edge.http", edge=edge)
    disk_full = BurstLog(log, "disk_full")
    load = metrics.load

    @web.middleware
    async def middleware(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        route = _route_name(request)
        load.requests_total += 1
        load.inflight += 1
        status = 500
        try:
            check_path(request.raw_path)
            response = await handler(request)
            status = response.status
            return response
        except HttpError as exc:
            status = exc.status
            return _error_response(exc.status, exc.code, exc.message, exc.retry_after_s)
        except WorkloadRedirected as exc:
            redirect = _redirect(request, exc)
            status = redirect.status
            raise redirect from None
        except Refusal as exc:
            status = refusal_status(exc)
            held_ms = exc.held_ms if isinstance(exc, CutoverFailed) else None
            return _error_response(status, exc.code, exc.message, exc.retry_after_s, held_ms)
        except web.HTTPException as exc:
            status = exc.status
            if status < 400:
                raise
            return _error_response(status, f"http_{status}", exc.reason)
        except Exception as exc:
            for kind, mapped, code in _STORE_ERRORS:
                if isinstance(exc, kind):
                    status = mapped
                    message = str(exc)
                    if mapped == 507:  # the file's path stays in the edge's log
                        disk_full.note(route=route, error=message)
                        message = "the edge's disk is full; retry once space is freed"
                    return _error_response(mapped, code, message)
            log.exception("request_failed", route=route, method=request.method)
            return _error_response(500, "internal_error", "internal error; see the edge's log")
        finally:
            load.inflight -= 1
            if status >= 400:
                load.errors_total += 1
            metrics.requests.labels(edge, route, request.method, str(status)).inc()

    return middleware
