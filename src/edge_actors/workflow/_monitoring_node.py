"""``EdgeMonitoringNode``: the guide's edge monitoring operations as a node (layer: workflow).

A thin node over the one :class:`~edge_actors.monitoring.MonitoringService` of the
process-wide edge environment, so probe loops started by one workflow keep running after
it returns and their series are seen by every later workflow. Edges named here are
resolved like the migration node's: started on first use when embedded, looked up in
the configured topology otherwise. Every result has ``status`` (``"success"`` /
``"failed"``) and ``result`` plus the operation's own keys (docs/guide.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import ClassVar

from edge_actors.errors import ConfigError
from edge_actors.units import parse_duration

from ._migration_node import (
    Call,
    EdgeNode,
    check_edge,
    check_edge_list,
    check_none,
    short,
    succeeded,
    to_plain,
)
from ._registry import register_node_type
from ._spec import OperationSpec, ParamSpec

__all__ = ["EdgeMonitoringNode"]

_DEFAULT_METRICS = ["latency", "error_rate", "throughput"]
_METRIC = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,127}")  # MonitoringService's metric names
MIN_INTERVAL_S = 0.01
"""Shortest probe interval: anything faster would only hammer the edges."""

_OPERATIONS: dict[str, OperationSpec] = {
    "start_monitor": OperationSpec(
        params=(
            ParamSpec("edge_nodes", required=True, doc="edges to probe"),
            ParamSpec("interval", default=1.0, doc="seconds (or '500ms') between probes"),
            ParamSpec("anomaly_detection", default=False, doc="detect anomalies live"),
            ParamSpec("probe_timeout", doc="per-probe timeout (default min(interval, 5s))"),
        ),
        doc="start (or retune) probe loops that outlive the workflow",
    ),
    "stop_monitor": OperationSpec(
        params=(ParamSpec("edge_nodes", doc="edges to stop (default: all)"),),
        doc="stop probe loops; series and alerts stay",
    ),
    "get_health": OperationSpec(
        params=(ParamSpec("edge_nodes", doc="edges (default: every known edge)"),),
        doc="health per edge; unmonitored edges are probed now",
    ),
    "get_analytics": OperationSpec(
        params=(
            ParamSpec("edge_nodes", doc="edges (default: every edge with data)"),
            ParamSpec("time_range", default="1h", doc="window, e.g. '1h', '15m'"),
            ParamSpec("metrics", doc="metric names (default latency, error_rate, throughput)"),
        ),
        doc="aggregates and anomalies per edge per metric",
    ),
    "record_metric": OperationSpec(
        params=(
            ParamSpec("edge", required=True, doc="edge name"),
            ParamSpec("metric", required=True, doc="metric name"),
            ParamSpec("value", required=True, doc="a finite number"),
            ParamSpec("timestamp", doc="UNIX seconds (default now)"),
        ),
        doc="record a point (detection and thresholds run on it)",
    ),
    "query_metrics": OperationSpec(
        params=(
            ParamSpec("edge", required=True, doc="edge name"),
            ParamSpec("metric", required=True, doc="metric name"),
            ParamSpec("time_range", default="1h", doc="window, e.g. '1h'"),
        ),
        doc="points of one series in the window, oldest first",
    ),
    "set_threshold": OperationSpec(
        params=(
            ParamSpec("metric", required=True, doc="metric name"),
            ParamSpec("warning", doc="warning limit"),
            ParamSpec("critical", doc="critical limit"),
            ParamSpec("edge", doc="edge (default: every edge without its own)"),
            ParamSpec("direction", default="above", doc="'above' or 'below'"),
            ParamSpec("cooldown", default=60.0, doc="seconds between repeats of an alert"),
        ),
        doc="install a threshold",
    ),
    "get_alerts": OperationSpec(
        params=(
            ParamSpec("edge", doc="only this edge"),
            ParamSpec("severity", doc="'warning' or 'critical'"),
            ParamSpec("active_only", default=False, doc="only unresolved alerts"),
        ),
        doc="alerts, oldest first",
    ),
    "get_summary": OperationSpec(doc="monitored edges, statuses, alerts, anomalies"),
}


def _duration(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(
            f"{key}: expected seconds or a duration such as '30s', got {short(value)}"
        )
    seconds = parse_duration(value, field=key)
    if key == "interval" and seconds < MIN_INTERVAL_S:
        raise ConfigError(f"interval: must be at least {MIN_INTERVAL_S}s, got {short(value)}")
    return seconds


def _number(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{key}: expected a finite number, got {short(value)}")
    return float(value)


def _metric(key: str, value: object) -> None:
    if not isinstance(value, str) or _METRIC.fullmatch(value) is None:
        raise ConfigError(
            f"{key}: {short(value)} is not a metric name (letters, digits, _ . : -; starting "
            "with a letter or _; up to 128 characters)"
        )


def _check_threshold(params: Mapping[str, object]) -> None:
    if "warning" not in params or "critical" not in params:
        return  # one is connected: checked again when it arrives
    warning, critical = params["warning"], params["critical"]
    if warning is None and critical is None:
        raise ConfigError("warning, critical: give warning, critical or both")
    if isinstance(warning, int | float) and isinstance(critical, int | float):
        above = params.get("direction", "above") == "above"
        if (warning > critical) if above else (warning < critical):
            raise ConfigError(
                f"warning: {warning} must be {'<=' if above else '>='} critical {critical} "
                f"(direction {'above' if above else 'below'})"
            )


def _check_values(params: Mapping[str, object]) -> None:
    for key, value in params.items():
        if value is None or key in ("operation", "timeout"):
            continue
        if key == "edge_nodes":
            check_edge_list(key, value)
        elif key == "edge":
            check_edge(key, value)
        elif key in ("interval", "probe_timeout", "time_range"):
            _duration(key, value)
        elif key in ("anomaly_detection", "active_only"):
            if not isinstance(value, bool):
                raise ConfigError(f"{key}: expected true or false, got {short(value)}")
        elif key == "metrics":
            if isinstance(value, str) or not isinstance(value, Sequence) or not value:
                raise ConfigError(
                    f"metrics: expected a non-empty list of names, got {short(value)}"
                )
            if len(value) > 100:
                raise ConfigError(f"metrics: at most 100 names, got {len(value)}")
            for name in value:
                _metric("metrics", name)
        elif key == "metric":
            _metric(key, value)
        elif key in ("value", "warning", "critical", "timestamp"):
            _number(key, value)
        elif key == "cooldown":
            if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
                continue
            _duration(key, value)
        elif key == "direction":
            if value not in ("above", "below"):
                raise ConfigError(f"direction: expected 'above' or 'below', got {short(value)}")
        elif key == "severity" and value not in ("warning", "critical"):
            raise ConfigError(f"severity: expected 'warning' or 'critical', got {short(value)}")


def _seconds(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return parse_duration(str(value), field="cooldown", allow_zero=True)


@register_node_type
class EdgeMonitoringNode(EdgeNode):
    """The guide's ``EdgeMonitoringNode``: health probes, analytics, metrics and alerts."""

    type_name: ClassVar[str] = "EdgeMonitoringNode"
    operations: ClassVar[Mapping[str, OperationSpec]] = _OPERATIONS

    @classmethod
    def validate(cls, operation: str, params: Mapping[str, object]) -> None:
        """Check values: edge names, durations, numbers, directions, severities."""
        check_none(cls, operation, params)
        _check_values(params)
        if operation == "set_threshold":
            _check_threshold(params)

    @staticmethod
    def _edges(params: Mapping[str, object]) -> list[str] | None:
        value = params.get("edge_nodes")
        return None if value is None else check_edge_list("edge_nodes", value)

    async def _op_start_monitor(self, call: Call) -> dict[str, object]:
        env = call.env
        params = call.params
        edges = self._edges(params) or []
        targets = [await env.probe_target(edge) for edge in edges]
        timeout = params.get("probe_timeout")
        status = await env.monitoring.start_monitor(
            targets,
            interval_s=_duration("interval", params.get("interval", 1.0)),
            anomaly_detection=params.get("anomaly_detection") is True,
            timeout_s=None if timeout is None else _duration("probe_timeout", timeout),
        )
        plain = to_plain(status)
        return succeeded(plain, monitor=plain, monitoring=list(status.monitoring))

    async def _op_stop_monitor(self, call: Call) -> dict[str, object]:
        env = call.env
        params = call.params
        stopped = await env.monitoring.stop_monitor(self._edges(params))
        return succeeded(
            {"stopped": stopped}, stopped=stopped, monitoring=env.monitoring.monitored_edges()
        )

    async def _op_get_health(self, call: Call) -> dict[str, object]:
        env = call.env
        params = call.params
        edges = self._edges(params)
        if edges is None:
            edges = env.edges()
        monitoring = env.monitoring
        monitored = set(monitoring.monitored_edges())
        fresh = [await env.probe_target(e) for e in edges if e not in monitored]
        if fresh:
            await monitoring.probe_now(fresh)
        health = to_plain(monitoring.get_health(edges))
        statuses = {edge: h["status"] for edge, h in health.items()}
        return succeeded(statuses, health=health)

    async def _op_get_analytics(self, call: Call) -> dict[str, object]:
        env = call.env
        params = call.params
        edges = self._edges(params)
        if edges is not None:
            await env.ensure_edges(edges)
        metrics = params.get("metrics") or _DEFAULT_METRICS
        analytics = env.monitoring.get_analytics(
            edges,
            time_range=_duration("time_range", params.get("time_range", "1h")),
            metrics=[str(m) for m in metrics] if isinstance(metrics, list) else _DEFAULT_METRICS,
        )
        plain = to_plain(analytics)
        return succeeded(plain, analytics=plain)

    async def _op_record_metric(self, call: Call) -> dict[str, object]:
        env = call.env
        params = call.params
        edge = check_edge("edge", params["edge"])
        await env.ensure_edge(edge)
        stamp = params.get("timestamp")
        point = env.monitoring.record_metric(
            edge,
            str(params["metric"]),
            _number("value", params["value"]),
            timestamp=None if stamp is None else _number("timestamp", stamp),
        )
        plain = to_plain(point)
        return succeeded(plain, point=plain)

    async def _op_query_metrics(self, call: Call) -> dict[str, object]:
        env = call.env
        params = call.params
        edge = check_edge("edge", params["edge"])
        points = to_plain(
            env.monitoring.query_metrics(
                edge,
                str(params["metric"]),
                time_range=_duration("time_range", params.get("time_range", "1h")),
            )
        )
        return succeeded(points, points=points, count=len(points))

    async def _op_set_threshold(self, call: Call) -> dict[str, object]:
        env = call.env
        params = call.params
        edge = params.get("edge")
        warning, critical = params.get("warning"), params.get("critical")
        threshold = env.monitoring.set_threshold(
            str(params["metric"]),
            warning=None if warning is None else _number("warning", warning),
            critical=None if critical is None else _number("critical", critical),
            edge=None if edge is None else check_edge("edge", edge),
            direction=str(params.get("direction", "above")),
            cooldown_s=_seconds(params.get("cooldown", 60.0)),
        )
        plain = to_plain(threshold)
        return succeeded(plain, threshold=plain)

    async def _op_get_alerts(self, call: Call) -> dict[str, object]:
        env = call.env
        params = call.params
        edge, severity = params.get("edge"), params.get("severity")
        alerts = to_plain(
            env.monitoring.get_alerts(
                edge=None if edge is None else check_edge("edge", edge),
                severity=None if severity is None else str(severity),
                active_only=params.get("active_only") is True,
            )
        )
        return succeeded(alerts, alerts=alerts, count=len(alerts))

    async def _op_get_summary(self, call: Call) -> dict[str, object]:
        env = call.env
        summary = to_plain(env.monitoring.get_summary())
        return succeeded(summary, summary=summary)
