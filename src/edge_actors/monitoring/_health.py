"""Health rules: from the latest probe and recent series to one :data:`HealthStatus`.

Monitoring layer, a pure function. Rules, first match wins (``reasons`` lists every rule
that matched at the winning level):

1. ``unknown``: the edge was never probed.
2. ``unreachable``: the latest probe got no answer (refused, reset, timeout).
3. ``unhealthy``: the latest probe got a non-200 answer or an invalid / not-``ok``
   report; or capacity usage > ``capacity_unhealthy`` (95 %); or the mean error rate over
   the health window >= ``error_rate_unhealthy`` (0.5).
4. ``degraded``: latency p95 over the window > ``latency_degraded_ms`` (500 ms); or mean
   error rate > ``error_rate_degraded`` (0.05); or capacity usage > ``capacity_degraded``
   (80 %).
5. ``healthy`` otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._models import HealthStatus, MonitoringConfig
    from ._probe import ProbeResult

__all__ = ["classify"]


def classify(
    last: ProbeResult | None,
    *,
    latency_p95_ms: float | None,
    error_rate: float | None,
    capacity_usage: float | None,
    config: MonitoringConfig,
) -> tuple[HealthStatus, list[str]]:
    """Return the status and the reasons for it (empty when healthy)."""
    if last is None:
        return "unknown", ["never probed"]
    if last.outcome == "unreachable":
        return "unreachable", [last.error or "no answer"]
    unhealthy: list[str] = []
    if last.outcome != "ok":
        unhealthy.append(last.error or last.outcome)
    if capacity_usage is not None and capacity_usage > config.capacity_unhealthy:
        unhealthy.append(f"capacity usage {capacity_usage:.1%} > {config.capacity_unhealthy:.0%}")
    if error_rate is not None and error_rate >= config.error_rate_unhealthy:
        unhealthy.append(f"error rate {error_rate:.3f} >= {config.error_rate_unhealthy:g}")
    if unhealthy:
        return "unhealthy", unhealthy
    degraded: list[str] = []
    if latency_p95_ms is not None and latency_p95_ms > config.latency_degraded_ms:
        degraded.append(f"latency p95 {latency_p95_ms:.1f} ms > {config.latency_degraded_ms:g} ms")
    if error_rate is not None and error_rate > config.error_rate_degraded:
        degraded.append(f"error rate {error_rate:.3f} > {config.error_rate_degraded:g}")
    if capacity_usage is not None and capacity_usage > config.capacity_degraded:
        degraded.append(f"capacity usage {capacity_usage:.1%} > {config.capacity_degraded:.0%}")
    if degraded:
        return "degraded", degraded
    return "healthy", []
