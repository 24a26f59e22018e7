"""Parameters of ``EdgeMonitoringNode``: the operations' specs and value checks (layer: workflow).

The same checks run at build time (``validate``) and at run time on the values a node
uses, so a bad value gets the same message either way. The original SDK's parameter
names are accepted beside this project's (``edge_node``, ``metric_type``,
``threshold_value``, ``severity``, ``time_range_minutes``); a bare latency number is read
in the original's seconds, a string with a unit (``"250ms"``) as it says.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from edge_actors.errors import ConfigError
from edge_actors.monitoring import check_tags
from edge_actors.schema import Flag, MetricName, convert
from edge_actors.units import parse_duration

from ._migration_node import check_edge, check_edge_list, short
from ._monitoring_compat import LATENCY
from ._spec import OperationSpec, ParamSpec

__all__ = [
    "DEFAULT_METRICS",
    "OPERATIONS",
    "check_threshold",
    "check_values",
    "direction_of",
    "duration",
    "number",
    "pick",
    "seconds",
    "series_value",
    "window_s",
]

DEFAULT_METRICS = ["latency", "error_rate", "throughput"]
MIN_INTERVAL_S = 0.01
"""Shortest probe interval: anything faster would only hammer the edges."""

_EDGE_NODE = "the original SDK's name: one edge (its result is that edge's alone)"
_WINDOW = (
    ParamSpec("time_range", doc="window, e.g. '1h', '15m' (default 1h)"),
    ParamSpec("time_range_minutes", doc="the original SDK's window, in minutes"),
)

OPERATIONS: dict[str, OperationSpec] = {
    "start_monitor": OperationSpec(
        params=(
            ParamSpec("edge_nodes", doc="edges to probe (default: every known edge)"),
            ParamSpec("edge_node", doc=_EDGE_NODE),
            ParamSpec("interval", default=1.0, doc="seconds (or '500ms') between probes"),
            ParamSpec("anomaly_detection", default=False, doc="detect anomalies live"),
            ParamSpec("probe_timeout", doc="per-probe timeout (default min(interval, 5s))"),
        ),
        doc="start (or retune) probe loops that outlive the workflow",
    ),
    "stop_monitor": OperationSpec(
        params=(
            ParamSpec("edge_nodes", doc="edges to stop (default: all)"),
            ParamSpec("edge_node", doc=_EDGE_NODE),
        ),
        doc="stop probe loops; series and alerts stay",
    ),
    "get_health": OperationSpec(
        params=(
            ParamSpec("edge_nodes", doc="edges (default: every known edge)"),
            ParamSpec("edge_node", doc=_EDGE_NODE),
        ),
        doc="health per edge; known unmonitored edges are probed now, others are unknown",
    ),
    "get_analytics": OperationSpec(
        params=(
            ParamSpec("edge_nodes", doc="edges (default: every edge with data)"),
            ParamSpec("edge_node", doc=_EDGE_NODE),
            *_WINDOW,
            ParamSpec("metrics", doc="metric names (default latency, error_rate, throughput)"),
        ),
        doc="aggregates and anomalies per edge per metric",
    ),
    "record_metric": OperationSpec(
        params=(
            ParamSpec("edge", required=True, aliases=("edge_node",), doc="edge name"),
            ParamSpec("metric", required=True, aliases=("metric_type",), doc="metric name"),
            ParamSpec("value", required=True, doc="a finite number (latency: seconds or '250ms')"),
            ParamSpec("timestamp", doc="UNIX seconds (default now)"),
            ParamSpec("tags", doc="labels kept with the point: {name: value} strings"),
        ),
        doc="record a point (detection and thresholds run on it)",
    ),
    "query_metrics": OperationSpec(
        params=(
            ParamSpec("edge", aliases=("edge_node",), doc="edge name (default: every edge)"),
            ParamSpec("metric", aliases=("metric_type",), doc="metric (default: every one)"),
            *_WINDOW,
            ParamSpec("tags", doc="only points carrying all of these tags"),
        ),
        doc="points in the window, oldest first",
    ),
    "set_threshold": OperationSpec(
        params=(
            ParamSpec("metric", required=True, aliases=("metric_type",), doc="metric name"),
            ParamSpec("warning", doc="warning limit (latency: seconds or '500ms')"),
            ParamSpec("critical", doc="critical limit (latency: seconds or '2s')"),
            ParamSpec("threshold_value", doc="the original SDK's limit of one severity"),
            ParamSpec("severity", doc="the level threshold_value sets (default warning)"),
            ParamSpec("edge", aliases=("edge_node",), doc="edge (default: every edge)"),
            ParamSpec(
                "direction",
                doc="'above' or 'below' (default below for availability "
                "and cache_hit_rate, else above)",
            ),
            ParamSpec("cooldown", doc="seconds between repeats of an alert (default 60)"),
        ),
        doc="install a threshold",
    ),
    "get_alerts": OperationSpec(
        params=(
            ParamSpec("edge", aliases=("edge_node",), doc="only this edge"),
            ParamSpec("severity", doc="'warning' or 'critical'"),
            ParamSpec("active_only", default=False, doc="only unresolved alerts"),
            ParamSpec("time_range_minutes", doc="only alerts fired in this many minutes"),
        ),
        doc="alerts, oldest first",
    ),
    "get_summary": OperationSpec(doc="monitored edges, statuses, alerts, anomalies"),
}

_ONE_OF = (
    ("edge", "edge_node"),
    ("metric", "metric_type"),
    ("edge_nodes", "edge_node"),
    ("time_range", "time_range_minutes"),
)
_LOWER_IS_WORSE = frozenset(("availability", "cache_hit_rate"))
"""Metrics whose threshold breaches below the limit unless told otherwise (as the original)."""
_LIMITS = ("warning", "critical", "threshold_value")


def duration(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(
            f"{key}: expected seconds or a duration such as '30s', got {short(value)}"
        )
    span = parse_duration(value, field=key)
    if key == "interval" and span < MIN_INTERVAL_S:
        raise ConfigError(f"interval: must be at least {MIN_INTERVAL_S}s, got {short(value)}")
    return span


def number(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{key}: expected a finite number, got {short(value)}")
    return float(value)


def series_value(metric: object, key: str, value: object) -> float:
    """``value`` in ``metric``'s series unit: a latency is seconds or a duration string, to ms.

    A bare latency number is read as seconds, the original SDK's unit; ``"250ms"`` says
    its own. When ``metric`` is not known yet (it arrives over a connection) a duration
    string is accepted here and checked again once it is.
    """
    if isinstance(value, str) and metric in (LATENCY, None):
        return parse_duration(value, field=key, allow_zero=True) * 1000.0
    amount = number(key, value)
    if metric == LATENCY:
        return parse_duration(amount, field=key, allow_zero=True) * 1000.0
    return amount


def _metric(key: str, value: object) -> None:
    convert(value, MetricName, field=key)


def pick(params: Mapping[str, object], name: str, alias: str) -> object:
    """The value of ``name`` or of its alias (validation refused both being set)."""
    value = params.get(name)
    return params.get(alias) if value is None else value


def window_s(params: Mapping[str, object]) -> float:
    """The window of a query in seconds: ``time_range``, ``time_range_minutes`` or 1 h."""
    minutes = params.get("time_range_minutes")
    if minutes is not None:
        return number("time_range_minutes", minutes) * 60.0
    return duration("time_range", params.get("time_range") or "1h")


def direction_of(metric: str, given: object) -> str:
    if given is not None:
        return str(given)
    return "below" if metric in _LOWER_IS_WORSE else "above"


def check_threshold(params: Mapping[str, object]) -> None:
    if all(key in params for key in _LIMITS) and all(params[k] is None for k in _LIMITS):
        raise ConfigError(
            "warning, critical: give warning, critical or both (or threshold_value and severity)"
        )
    severity = params.get("severity")
    if severity is not None and params.get("threshold_value") is None:
        if "threshold_value" in params:
            raise ConfigError("severity: names the level threshold_value sets; give both")
    elif severity is not None or params.get("threshold_value") is not None:
        level = str(severity or "warning")
        if params.get(level) is not None:
            raise ConfigError(
                f"threshold_value, {level}: both set the {level} limit; give one of them"
            )
    metric = pick(params, "metric", "metric_type")
    limits = {k: params.get(k) for k in ("warning", "critical")}
    if params.get("threshold_value") is not None:
        limits[str(severity or "warning")] = params["threshold_value"]
    values = {k: series_value(metric, k, v) for k, v in limits.items() if v is not None}
    if len(values) == 2 and ("direction" in params or metric is not None):
        above = direction_of(str(metric), params.get("direction")) == "above"
        warning, critical = values["warning"], values["critical"]
        if (warning > critical) if above else (warning < critical):
            raise ConfigError(
                f"warning: {limits['warning']!r} must be {'<=' if above else '>='} critical "
                f"{limits['critical']!r} (direction {'above' if above else 'below'})"
            )


def _check_value(key: str, value: object, params: Mapping[str, object]) -> None:
    if key == "edge_nodes":
        check_edge_list(key, value)
    elif key in ("edge", "edge_node"):
        check_edge(key, value)
    elif key in ("interval", "probe_timeout", "time_range"):
        duration(key, value)
    elif key == "time_range_minutes":
        if number(key, value) <= 0:
            raise ConfigError(f"{key}: expected a positive number of minutes, got {value!r}")
    elif key in ("anomaly_detection", "active_only"):
        convert(value, Flag, field=key)
    elif key == "metrics":
        if isinstance(value, str) or not isinstance(value, Sequence) or not value:
            raise ConfigError(f"metrics: expected a non-empty list of names, got {short(value)}")
        if len(value) > 100:
            raise ConfigError(f"metrics: at most 100 names, got {len(value)}")
        for name in value:
            _metric("metrics", name)
    elif key in ("metric", "metric_type"):
        _metric(key, value)
    elif key in ("value", "warning", "critical", "threshold_value"):
        series_value(pick(params, "metric", "metric_type"), key, value)
    elif key == "timestamp":
        number(key, value)
    elif key == "tags":
        check_tags(value)
    elif key == "cooldown":
        if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
            return
        duration(key, value)
    elif key == "direction":
        if value not in ("above", "below"):
            raise ConfigError(f"direction: expected 'above' or 'below', got {short(value)}")
    elif key == "severity" and value not in ("warning", "critical"):
        raise ConfigError(
            f"severity: expected 'warning' or 'critical' (the two levels here), got {short(value)}"
        )


def check_values(params: Mapping[str, object]) -> None:
    for name, alias in _ONE_OF:
        if params.get(name) is not None and params.get(alias) is not None:
            raise ConfigError(f"{name}, {alias}: give one of them, not both")
    for key, value in params.items():
        if value is not None and key not in ("operation", "timeout"):
            _check_value(key, value, params)


def seconds(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return parse_duration(str(value), field="cooldown", allow_zero=True)
