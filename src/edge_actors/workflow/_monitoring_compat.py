"""The guide's original SDK's monitoring outputs, built from this project's (layer: workflow).

Code written for the original SDK reads keys such as ``health["last_check"]``,
``metric["metric_type"]`` or ``alert["current_value"]``; these pure functions build those
dicts from the monitoring service's results, so :class:`EdgeMonitoringNode` can return
them beside its own richer keys (docs/compat.md maps them key by key).

Units: the service keeps latency in milliseconds; the original SDK's keys carry it in
seconds, as that SDK did. A ``unit`` key always names the unit of this project's own
values beside it (``value``, ``limit``, ``expected``: ``"ms"`` for latency), never of the
original's keys. Every other built-in metric is unitless (fractions, requests/s) and
passes through unchanged. Times are ISO 8601 strings in UTC with an
explicit offset (``2026-12-05T06:23:02.500000+00:00``), which ``datetime.fromisoformat``
reads back.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from edge_actors.monitoring import percentile

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from edge_actors.monitoring import Alert, Anomaly, MetricSample

__all__ = [
    "HEALTH_RECENT_S",
    "LATENCY",
    "RECENT_ALERTS_S",
    "alert_dict",
    "analytics_dict",
    "anomaly_dict",
    "health_dict",
    "iso",
    "metric_dict",
    "original_value",
    "series_unit",
    "summary_dict",
]

LATENCY = "latency"
"""The one built-in metric with a unit that differs: ms here, seconds in the original."""

HEALTH_RECENT_S = 300.0
"""Window of a health dict's ``metrics_summary`` and of ``active_nodes`` (the original's 5 min)."""

RECENT_ALERTS_S = 3600.0
"""Window of a summary's ``recent_alerts`` (the original's hour)."""

_TREND_POINTS = 10
_TREND_CHANGE = 0.1


def iso(timestamp: float) -> str:
    """``timestamp`` (UNIX seconds) as an ISO 8601 string in UTC."""
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat()


def series_unit(metric: str) -> str | None:
    """The unit of ``metric``'s series here (``"ms"`` for latency; None when unitless)."""
    return "ms" if metric == LATENCY else None


def original_value(metric: str, value: float) -> float:
    """A value of ``metric``'s series here, in the original SDK's unit (latency: seconds)."""
    return value / 1000.0 if metric == LATENCY else value


def _optional(metric: str, value: float | None) -> float | None:
    return None if value is None else original_value(metric, value)


def metric_dict(sample: MetricSample) -> dict[str, Any]:
    """One recorded point as the original's ``EdgeMetric.to_dict()`` (latency in seconds)."""
    return {
        "timestamp": iso(sample.timestamp),
        "edge_node": sample.edge,
        "metric_type": sample.metric,
        "value": original_value(sample.metric, sample.value),
        "tags": dict(sample.tags),
    }


def alert_dict(alert: Alert) -> dict[str, Any]:
    """An alert: this project's fields, plus the original's ``EdgeAlert.to_dict()`` keys.

    ``value`` and ``limit`` are in the series' unit (``unit``); the original's
    ``current_value`` and ``threshold`` in its own (latency in seconds).
    """
    return {
        "id": alert.id,
        "kind": alert.kind,
        "edge": alert.edge,
        "metric": alert.metric,
        "value": alert.value,
        "limit": alert.threshold,
        "unit": series_unit(alert.metric),
        "fired_at": alert.fired_at,
        "resolved_at": alert.resolved_at,
        "active": alert.resolved_at is None,
        "alert_id": str(alert.id),
        "timestamp": iso(alert.fired_at),
        "edge_node": alert.edge,
        "severity": alert.severity,
        "metric_type": alert.metric,
        "message": alert.message,
        "current_value": original_value(alert.metric, alert.value),
        "threshold": _optional(alert.metric, alert.threshold),
        "tags": dict(alert.tags),
    }


def anomaly_dict(anomaly: Anomaly) -> dict[str, Any]:
    """An anomaly found in a window: this project's fields plus the original's alert keys.

    As in the original, ``threshold`` is the expected value the point deviated from.
    """
    unit = series_unit(anomaly.metric)
    shown = f" {unit}" if unit else ""
    return {
        "edge": anomaly.edge,
        "metric": anomaly.metric,
        "value": anomaly.value,
        "expected": anomaly.expected,
        "stddev": anomaly.stddev,
        "z_score": anomaly.z_score,
        "unit": unit,
        "detected_at": anomaly.timestamp,
        "alert_id": f"anomaly:{anomaly.edge}:{anomaly.metric}:{anomaly.timestamp:.6f}",
        "timestamp": iso(anomaly.timestamp),
        "edge_node": anomaly.edge,
        "severity": "warning",
        "metric_type": anomaly.metric,
        "message": (
            f"anomaly: {anomaly.metric} on {anomaly.edge} is {anomaly.value:g}{shown}, "
            f"expected {anomaly.expected:g}{shown} (z={anomaly.z_score:.1f})"
        ),
        "current_value": original_value(anomaly.metric, anomaly.value),
        "threshold": original_value(anomaly.metric, anomaly.expected),
        "tags": {"type": "anomaly", "z_score": f"{anomaly.z_score:.2f}"},
    }


def _by_metric(samples: Iterable[MetricSample]) -> dict[str, list[float]]:
    """Values per metric, oldest first, in the original's units."""
    values: dict[str, list[float]] = {}
    for sample in samples:
        values.setdefault(sample.metric, []).append(original_value(sample.metric, sample.value))
    return values


def health_dict(
    health: Mapping[str, Any], recent: Sequence[MetricSample], now: float
) -> dict[str, Any]:
    """An edge's health (this project's keys) plus the original's ``EdgeHealth.to_dict()``.

    Args:
        health: the plain ``EdgeHealth`` of the edge.
        recent: the edge's points of the last :data:`HEALTH_RECENT_S`, oldest first.
        now: the time of this check (``last_check`` when the edge was never probed).
    """
    probed = health.get("last_probe_at")
    uptime = health.get("uptime_s")
    summary = {
        metric: {
            "current": values[-1],
            "avg": statistics.fmean(values),
            "min": min(values),
            "max": max(values),
        }
        for metric, values in _by_metric(recent).items()
    }
    return {
        **health,
        "edge_node": health["edge"],
        "last_check": iso(probed if isinstance(probed, int | float) else now),
        "uptime_seconds": float(uptime) if isinstance(uptime, int | float) else 0.0,
        "metrics_summary": summary,
        "issues": list(health.get("reasons", [])),
    }


def _stats(values: Sequence[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "count": len(values),
        "mean": statistics.fmean(values),
        "median": statistics.median(ordered),
        "std_dev": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": ordered[0],
        "max": ordered[-1],
        "p95": percentile(ordered, 95.0),
        "p99": percentile(ordered, 99.0),
    }


def _trend(values: Sequence[float]) -> dict[str, Any] | None:
    """The original's trend: mean of the last 10 points against the 10 before them."""
    if len(values) <= _TREND_POINTS:
        return None
    recent = values[-_TREND_POINTS:]
    older = values[-2 * _TREND_POINTS : -_TREND_POINTS] if len(values) > 20 else values[:10]
    new_mean, old_mean = statistics.fmean(recent), statistics.fmean(older)
    direction = "stable"
    if new_mean > old_mean * (1 + _TREND_CHANGE):
        direction = "increasing"
    elif new_mean < old_mean * (1 - _TREND_CHANGE):
        direction = "decreasing"
    change = (new_mean - old_mean) / old_mean * 100.0 if old_mean else 0.0
    return {"direction": direction, "change_percent": change}


def _recommendations(
    edge: str, summary: Mapping[str, Mapping[str, Any]], trends: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """The original's rules, in its units; each line names the figure and the limit."""
    found: list[str] = []
    latency = summary.get(LATENCY)
    if latency is not None and latency["p95"] > 1.0:
        found.append(f"consider scaling {edge}: latency p95 is {latency['p95']:.2f} s (over 1 s)")
    errors = summary.get("error_rate")
    if errors is not None and errors["mean"] > 0.05:
        found.append(f"investigate errors on {edge}: error rate is {errors['mean']:.1%} (over 5%)")
    for name in ("capacity_usage", "resource_usage"):
        usage = summary.get(name)
        if usage is not None and usage["p95"] > 0.8:
            found.append(f"{name} p95 on {edge} is {usage['p95']:.0%} (over 80%): scale or trim")
    cache = summary.get("cache_hit_rate")
    if cache is not None and cache["mean"] < 0.7:
        found.append(f"cache hit rate on {edge} is {cache['mean']:.1%} (under 70%): review caching")
    for metric in (LATENCY, "error_rate"):
        trend = trends.get(metric)
        rising = trend is not None and trend["direction"] == "increasing"
        if rising and trend is not None and trend["change_percent"] > 20:
            found.append(
                f"{metric} on {edge} rose {trend['change_percent']:.1f}% over its last "
                "10 points: investigate the cause"
            )
    return found


def analytics_dict(
    edge: str, samples: Sequence[MetricSample], anomalies: Sequence[Anomaly]
) -> dict[str, Any]:
    """The original's analytics of one edge from its points in the window, oldest first."""
    values = _by_metric(samples)
    summary = {metric: _stats(series) for metric, series in values.items()}
    trends: dict[str, dict[str, Any]] = {}
    for metric, series in values.items():
        trend = _trend(series)
        if trend is not None:
            trends[metric] = trend
    return {
        "edge_node": edge,
        "metrics_summary": summary,
        "trends": trends,
        "anomalies": [anomaly_dict(a) for a in anomalies if a.edge == edge],
        "recommendations": _recommendations(edge, summary, trends),
    }


def summary_dict(
    statuses: Mapping[str, str],
    *,
    monitored: Sequence[str],
    active_edges: Iterable[str],
    recent_alerts: Iterable[Alert],
    points_stored: int,
) -> dict[str, Any]:
    """The original's summary keys.

    Args:
        statuses: health status per edge known to monitoring.
        monitored: edges with a running probe loop.
        active_edges: edges with a point in the last :data:`HEALTH_RECENT_S`.
        recent_alerts: alerts fired in the last :data:`RECENT_ALERTS_S`.
        points_stored: points held across every series.
    """
    return {
        "monitoring_active": bool(monitored),
        "total_nodes": len(statuses),
        "active_nodes": len(set(active_edges)),
        "health_summary": dict(Counter(statuses.values())),
        "recent_alerts": dict(Counter(alert.severity for alert in recent_alerts)),
        "total_metrics": points_stored,
    }
