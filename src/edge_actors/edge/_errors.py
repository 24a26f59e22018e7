"""Errors of the edge layer (``edge_actors.edge``): HTTP answers, topology, daemon state.

Clients raise one class per error code the daemon sends, all under :class:`EdgeHTTPError`,
so callers branch on the class instead of parsing messages; each carries the server's
``code`` and ``message`` as received.
"""

from __future__ import annotations

from edge_actors.errors import EdgeActorsError

__all__ = [
    "AdminUnauthorized",
    "BadRequest",
    "EdgeCapacityExceeded",
    "EdgeConflict",
    "EdgeError",
    "EdgeHTTPError",
    "EdgeUnavailable",
    "InvalidAnswer",
    "PayloadTooLarge",
    "TooManyRedirects",
    "UnknownEdge",
    "WorkloadIncoming",
    "WorkloadMissing",
    "error_for_status",
]


class EdgeError(EdgeActorsError):
    """Base class of the edge layer's errors."""


class UnknownEdge(EdgeError, LookupError):
    """An edge name is not in the topology (the message lists the known ones)."""


class TooManyRedirects(EdgeError):
    """A data request was redirected more times than the client allows (a routing loop)."""


class EdgeHTTPError(EdgeError):
    """An edge answered with an error status.

    Attributes:
        status: The HTTP status code.
        code: The machine-readable error code from the JSON body (``"http_<status>"``
            when the body was not the daemon's JSON error shape).
        message: The human-readable message from the body.
        url: The URL that was requested.
        held_ms: A failed cutover's answer only: how long the source held writes before
            its undo released them (``None`` otherwise).
    """

    def __init__(self, status: int, code: str, message: str, url: str) -> None:
        super().__init__(f"{status} {code}: {message} ({url})")
        self.status = status
        self.code = code
        self.message = message
        self.url = url
        self.held_ms: float | None = None


class InvalidAnswer(EdgeHTTPError):
    """A success answer whose body is not what the API promises (not the daemon, or a
    proxy's page in between); ``status`` is the answer's, ``code`` is ``invalid_answer``."""


class BadRequest(EdgeHTTPError):
    """400: a malformed workload name, key, body or parameter."""


class AdminUnauthorized(EdgeHTTPError):
    """401: the cluster token was missing or wrong."""


class WorkloadMissing(EdgeHTTPError, LookupError):
    """404: the workload (or, for admin routes, the transfer or record) does not exist."""


class EdgeConflict(EdgeHTTPError):
    """409: the request conflicts with the workload's state (exists, held, ...)."""


class WorkloadIncoming(EdgeConflict):
    """409: the workload is ``incoming`` on this edge (a migration target) and not served."""


class PayloadTooLarge(EdgeHTTPError):
    """413: the value or body is larger than the edge accepts."""


class EdgeUnavailable(EdgeHTTPError):
    """503: the edge is shutting down or cannot serve the workload right now."""


class EdgeCapacityExceeded(EdgeHTTPError):
    """507: the write or create would exceed the edge's ``max_bytes`` / ``max_workloads``."""


_BY_CODE: dict[str, type[EdgeHTTPError]] = {
    "workload_incoming": WorkloadIncoming,
}

_BY_STATUS: dict[int, type[EdgeHTTPError]] = {
    400: BadRequest,
    401: AdminUnauthorized,
    404: WorkloadMissing,
    409: EdgeConflict,
    413: PayloadTooLarge,
    503: EdgeUnavailable,
    507: EdgeCapacityExceeded,
}


def error_for_status(status: int, code: str, message: str, url: str) -> EdgeHTTPError:
    """Build the most precise :class:`EdgeHTTPError` subclass for an error answer."""
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status, EdgeHTTPError)
    return cls(status, code, message, url)
