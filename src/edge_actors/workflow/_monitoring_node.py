"""``EdgeMonitoringNode``: the guide's edge monitoring operations as a node (layer: workflow).

A thin node over the one :class:`~edge_actors.monitoring.MonitoringService` of the
process-wide edge environment, so probe loops started by one workflow keep running after
it returns and their series are seen by every later workflow. Edges named here are
resolved like the migration node's: started on first use when embedded, looked up in
the configured topology otherwise; ``get_health`` alone never starts one (an edge
nobody configured or started is ``unknown``, with the reason). Every result has
``status`` (``"success"``, or ``"error"`` with ``error``) and ``result`` plus the
operation's own keys (docs/guide.md), a superset of the original SDK's (docs/compat.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from edge_actors.errors import ConfigError
from edge_actors.monitoring import MetricPoint, MetricSample, ProbeTarget, check_tags

from ._migration_node import (
    Call,
    EdgeNode,
    check_edge,
    check_edge_list,
    check_none,
    succeeded,
    to_plain,
)
from ._monitoring_compat import (
    HEALTH_RECENT_S,
    RECENT_ALERTS_S,
    alert_dict,
    analytics_dict,
    health_dict,
    iso,
    metric_dict,
    original_value,
    series_unit,
    summary_dict,
)
from ._monitoring_params import (
    DEFAULT_METRICS,
    OPERATIONS,
    check_threshold,
    check_values,
    direction_of,
    duration,
    number,
    pick,
    seconds,
    series_value,
    window_s,
)
from ._registry import register_node_type

if TYPE_CHECKING:
    from collections.abc import Mapping

    from edge_actors.runtime import EdgeEnvironment

    from ._spec import OperationSpec

__all__ = ["EdgeMonitoringNode"]


def _absent(env: EdgeEnvironment, edge: str) -> str:
    """Why ``edge`` has no endpoint: what get_health reports instead of probing it."""
    known = ", ".join(env.edges()) or "none"
    if not env.embedded:
        return f"edge {edge!r} is not in the configured topology (known edges: {known})"
    return (
        f"edge {edge!r} is not running: nobody configured or started it (embedded edges "
        f"start when a plan, a seed or start_monitor names them; started: {known})"
    )


@register_node_type
class EdgeMonitoringNode(EdgeNode):
    """The guide's ``EdgeMonitoringNode``: health probes, analytics, metrics and alerts.

    Results are a superset of the original SDK's (docs/compat.md): its parameter names
    are accepted beside this project's, and its keys are returned beside the richer ones.
    """

    type_name: ClassVar[str] = "EdgeMonitoringNode"
    operations: ClassVar[Mapping[str, OperationSpec]] = OPERATIONS

    @classmethod
    def validate(cls, operation: str, params: Mapping[str, object]) -> None:
        """Check values: edge names, durations, numbers, directions, severities, tags."""
        check_none(cls, operation, params)
        check_values(params)
        if operation == "set_threshold":
            check_threshold(params)

    @staticmethod
    def _edges(params: Mapping[str, object]) -> list[str] | None:
        single = params.get("edge_node")
        if single is not None:
            return [check_edge("edge_node", single)]
        value = params.get("edge_nodes")
        return None if value is None else check_edge_list("edge_nodes", value)

    async def _op_start_monitor(self, call: Call) -> dict[str, object]:
        env = call.env
        params = call.params
        edges = self._edges(params) or env.edges()
        if not edges:
            raise ConfigError(
                "edge_nodes: no edge to monitor: name them (no edge is configured or started yet)"
            )
        targets = [await env.probe_target(edge) for edge in edges]
        timeout = params.get("probe_timeout")
        status = await env.monitoring.start_monitor(
            targets,
            interval_s=duration("interval", params.get("interval", 1.0)),
            anomaly_detection=params.get("anomaly_detection") is True,
            timeout_s=None if timeout is None else duration("probe_timeout", timeout),
        )
        plain = to_plain(status)
        return succeeded(
            plain, monitor=plain, monitoring=list(status.monitoring), monitor_active=True
        )

    async def _op_stop_monitor(self, call: Call) -> dict[str, object]:
        monitoring = call.env.monitoring
        stopped = await monitoring.stop_monitor(self._edges(call.params))
        remaining = monitoring.monitored_edges()
        return succeeded(
            {"stopped": stopped},
            stopped=stopped,
            monitoring=remaining,
            monitor_active=bool(remaining),
        )

    async def _op_get_health(self, call: Call) -> dict[str, object]:
        env = call.env
        monitoring = env.monitoring
        edges = self._edges(call.params)
        if edges is None:
            edges = env.edges()
        monitored = set(monitoring.monitored_edges())
        absent: dict[str, str] = {}
        fresh: list[ProbeTarget] = []
        for edge in edges:
            endpoint = env.known_edge(edge)
            if endpoint is None:
                absent[edge] = _absent(env, edge)
            elif edge not in monitored:
                fresh.append(ProbeTarget(edge, endpoint.url, endpoint.token))
        if fresh:
            await monitoring.probe_now(fresh)
        now = monitoring.clock.time()
        health: dict[str, dict[str, Any]] = {}
        for edge, found in monitoring.get_health(edges).items():
            plain = to_plain(found)
            if edge in absent and plain["status"] == "unknown":
                plain["reasons"] = [absent[edge]]
            recent = monitoring.query_samples(edge=edge, time_range=HEALTH_RECENT_S, end=now)
            health[edge] = health_dict(plain, recent, now)
        statuses = {edge: h["status"] for edge, h in health.items()}
        single = call.params.get("edge_node")
        return succeeded(statuses, health=health[str(single)] if single is not None else health)

    async def _op_get_analytics(self, call: Call) -> dict[str, object]:
        monitoring = call.env.monitoring
        params = call.params
        single = params.get("edge_node")
        given = params.get("metrics")
        metrics = [str(m) for m in given] if isinstance(given, list) else list(DEFAULT_METRICS)
        if single is not None and given is None:
            metrics = sorted(set(metrics) | set(monitoring.series_of(str(single))))
        now = monitoring.clock.time()
        span = window_s(params)
        analytics = monitoring.get_analytics(
            self._edges(params), time_range=span, metrics=metrics, end=now
        )
        plain: dict[str, Any] = to_plain(analytics)
        if single is not None:
            samples = [
                sample
                for sample in monitoring.query_samples(edge=str(single), time_range=span, end=now)
                if sample.metric in metrics
            ]
            plain.update(analytics_dict(str(single), samples, analytics.anomalies))
        return succeeded(plain, analytics=plain)

    async def _op_record_metric(self, call: Call) -> dict[str, object]:
        env = call.env
        params = call.params
        edge = check_edge("edge", pick(params, "edge", "edge_node"))
        metric = str(pick(params, "metric", "metric_type"))
        if not env.embedded:
            await env.ensure_edge(edge)  # a configured topology names its edges
        stamp = params.get("timestamp")
        point = env.monitoring.record_metric(
            edge,
            metric,
            series_value(metric, "value", params["value"]),
            timestamp=None if stamp is None else number("timestamp", stamp),
            tags=check_tags(params.get("tags")),
        )
        plain = to_plain(point)
        sample = MetricSample(edge, metric, point.timestamp, point.value, point.tags)
        return succeeded(
            plain,
            point=plain,
            unit=series_unit(metric),
            metric_recorded=True,
            metric=metric_dict(sample),
        )

    async def _op_query_metrics(self, call: Call) -> dict[str, object]:
        monitoring = call.env.monitoring
        params = call.params
        edge, metric = pick(params, "edge", "edge_node"), pick(params, "metric", "metric_type")
        now = monitoring.clock.time()
        span = window_s(params)
        samples = monitoring.query_samples(
            edge=None if edge is None else check_edge("edge", edge),
            metric=None if metric is None else str(metric),
            time_range=span,
            end=now,
            tags=check_tags(params.get("tags")),
        )
        original: dict[str, object] = {
            "metrics": [metric_dict(sample) for sample in samples],
            "count": len(samples),
            "time_range": {"start": iso(now - span), "end": iso(now)},
        }
        if edge is None or metric is None:
            plain = to_plain(samples)
            return succeeded(plain, samples=plain, **original)
        points = to_plain([MetricPoint(s.timestamp, s.value, s.tags) for s in samples])
        return succeeded(points, points=points, unit=series_unit(str(metric)), **original)

    async def _op_set_threshold(self, call: Call) -> dict[str, object]:
        monitoring = call.env.monitoring
        params = call.params
        metric = str(pick(params, "metric", "metric_type"))
        raw_edge = pick(params, "edge", "edge_node")
        edge = None if raw_edge is None else check_edge("edge", raw_edge)
        limits = {
            level: None if params.get(level) is None else series_value(metric, level, params[level])
            for level in ("warning", "critical")
        }
        direction, cooldown = params.get("direction"), params.get("cooldown")
        if params.get("threshold_value") is not None:
            # The original sets one level and keeps the others of the same threshold.
            level = str(params.get("severity") or "warning")
            limits[level] = series_value(metric, "threshold_value", params["threshold_value"])
            for old in monitoring.get_thresholds():
                if old.metric == metric and old.edge == edge:
                    for other in ("warning", "critical"):
                        if limits[other] is None:
                            limits[other] = getattr(old, other)
                    direction = old.direction if direction is None else direction
                    cooldown = old.cooldown_s if cooldown is None else cooldown
        else:
            level = "critical" if limits["critical"] is not None else "warning"
        threshold = monitoring.set_threshold(
            metric,
            warning=limits["warning"],
            critical=limits["critical"],
            edge=edge,
            direction=direction_of(metric, direction),
            cooldown_s=60.0 if cooldown is None else seconds(cooldown),
        )
        plain = to_plain(threshold)
        limit = limits[level]
        return succeeded(
            plain,
            threshold=plain,
            unit=series_unit(metric),
            threshold_set=True,
            metric_type=metric,
            severity=level,
            value=None if limit is None else original_value(metric, limit),
        )

    async def _op_get_alerts(self, call: Call) -> dict[str, object]:
        monitoring = call.env.monitoring
        params = call.params
        edge, severity = pick(params, "edge", "edge_node"), params.get("severity")
        minutes = params.get("time_range_minutes")
        since = None
        if minutes is not None:
            since = monitoring.clock.time() - number("time_range_minutes", minutes) * 60.0
        alerts = monitoring.get_alerts(
            edge=None if edge is None else check_edge("edge", edge),
            severity=None if severity is None else str(severity),
            active_only=params.get("active_only") is True,
            since=since,
        )
        shown = [alert_dict(alert) for alert in alerts]
        return succeeded(
            shown,
            alerts=shown,
            count=len(shown),
            active_count=sum(1 for alert in alerts if alert.resolved_at is None),
        )

    async def _op_get_summary(self, call: Call) -> dict[str, object]:
        monitoring = call.env.monitoring
        summary = monitoring.get_summary()
        now = monitoring.clock.time()
        recent = monitoring.query_samples(time_range=HEALTH_RECENT_S, end=now)
        merged: dict[str, Any] = to_plain(summary)
        merged.update(
            summary_dict(
                summary.edges,
                monitored=summary.monitored_edges,
                active_edges=(sample.edge for sample in recent),
                recent_alerts=monitoring.get_alerts(since=now - RECENT_ALERTS_S),
                points_stored=summary.points_stored,
            )
        )
        return succeeded(merged, summary=merged)
