"""One health probe: ``GET {url}/admin/health`` with the bearer token, timed and decoded.

Monitoring layer. Talks to an edge daemon over real HTTP (aiohttp) following the admin API
contract in docs/architecture.md; it does not import ``edge_actors.edge``. A probe never
raises for a failing edge: every outcome (no connection, timeout, non-200, bad body) is a
:class:`ProbeResult`.
"""

from __future__ import annotations

import time
from typing import Literal

import aiohttp
import anyio
import msgspec

from edge_actors.clock import SYSTEM_CLOCK, Clock

# msgspec resolves Struct field annotations at runtime: these imports must stay real.
from ._models import EdgeCapacity, EdgeLoad, ProbeTarget

__all__ = ["HealthReport", "ProbeOutcome", "ProbeResult", "probe"]

ProbeOutcome = Literal["ok", "http_error", "bad_response", "unreachable"]
"""``ok``: 200 with a valid ``status == "ok"`` report; ``http_error``: another status;
``bad_response``: 200 whose body is not a valid report; ``unreachable``: no answer (connection
refused or reset, DNS failure, or the timeout expired)."""


class HealthReport(msgspec.Struct, frozen=True):
    """The body of ``GET /admin/health`` (extra fields are ignored)."""

    status: str
    name: str
    uptime_s: float
    workloads: int
    load: EdgeLoad
    capacity: EdgeCapacity


_decoder = msgspec.json.Decoder(HealthReport)


class ProbeResult(msgspec.Struct, frozen=True):
    """What one probe saw.

    Attributes:
        target: the probed edge.
        outcome: see :data:`ProbeOutcome`.
        timestamp: the clock's wall time when the probe finished.
        monotonic: the clock's monotonic time when the probe finished (for rates).
        latency_ms: round trip, None when there was no answer.
        http_status: the answer's status, None when there was no answer.
        error: what went wrong, None when ``outcome == "ok"``.
        report: the decoded report when ``outcome == "ok"``.
    """

    target: ProbeTarget
    outcome: ProbeOutcome
    timestamp: float
    monotonic: float
    latency_ms: float | None = None
    http_status: int | None = None
    error: str | None = None
    report: HealthReport | None = None


async def probe(
    session: aiohttp.ClientSession,
    target: ProbeTarget,
    *,
    timeout_s: float,
    clock: Clock = SYSTEM_CLOCK,
) -> ProbeResult:
    """Probe ``target`` once, giving up after ``timeout_s`` seconds.

    The result is stamped with ``clock``'s wall and monotonic time; the latency is
    measured with ``time.perf_counter`` (a measurement, not a schedule).

    Cancellation: cancelling the caller aborts the request (the connection is released)
    and propagates; nothing is recorded.
    """
    url = target.url.rstrip("/") + "/admin/health"
    headers = {"Authorization": f"Bearer {target.token}"}
    started = time.perf_counter()
    status: int | None = None
    body = b""
    error: str | None = None
    with anyio.move_on_after(timeout_s) as scope:
        try:
            async with session.get(url, headers=headers, allow_redirects=False) as response:
                status = response.status
                body = await response.read()
        except (aiohttp.ClientError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
    latency_ms: float | None = (time.perf_counter() - started) * 1000.0
    outcome: ProbeOutcome = "ok"
    report: HealthReport | None = None
    if scope.cancelled_caught or status is None:
        outcome, latency_ms = "unreachable", None
        error = f"no answer within {timeout_s:g} s" if scope.cancelled_caught else error
    elif status != 200:
        outcome = "http_error"
        excerpt = " ".join(body[:200].decode("utf-8", "replace").split())
        error = f"HTTP {status}: {excerpt}"
    else:
        try:
            report = _decoder.decode(body)
        except msgspec.DecodeError as exc:
            outcome, error = "bad_response", f"bad report: {exc}"
        else:
            if report.status != "ok":
                outcome, error = "bad_response", f"edge reports status {report.status!r}"
    return ProbeResult(
        target=target,
        outcome=outcome,
        timestamp=clock.time(),
        monotonic=clock.monotonic(),
        latency_ms=latency_ms,
        http_status=status,
        error=error,
        report=report,
    )
