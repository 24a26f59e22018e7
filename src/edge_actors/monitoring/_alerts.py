"""Thresholds and alerts: firing, escalation, cooldown and resolution.

Monitoring layer, pure state (no I/O). Rules, per (edge, metric) series and alert kind,
applied to each recorded point in arrival order, with the point's timestamp as "now":

- The point's *level* is ``critical`` if it breaches the critical limit, else ``warning``
  if it breaches the warning limit, else none (``above``: ``value > limit``; ``below``:
  ``value < limit``).
- Level none resolves the active alert, if any.
- A level equal to the active alert's severity changes nothing.
- Any other level resolves the active alert (it is superseded) and fires a new one,
  unless an alert of the same (edge, metric, severity, kind) fired less than
  ``cooldown_s`` before: then it is suppressed (counted), and tried again on the next
  breaching point. An **escalation** (previous point's level ``warning``, this one
  ``critical``) always fires immediately.

An edge-specific threshold wins over the all-edges one for the same metric. Anomaly
alerts (severity ``warning``, kind ``anomaly``) follow the same cooldown and resolve on
the series' next non-anomalous point. Lives on one event loop; every method is sync.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import get_args

import msgspec

from edge_actors._log import get_logger
from edge_actors.errors import ConfigError

from ._models import Alert, AlertKind, Direction, Severity, Tags, Threshold

__all__ = ["AlertBook", "check_severity", "make_threshold"]

_SEVERITIES: tuple[str, ...] = get_args(Severity)
_DIRECTIONS: tuple[str, ...] = get_args(Direction)
_RANK: dict[str | None, int] = {None: 0, "warning": 1, "critical": 2}

_log = get_logger("monitoring.alerts")


def check_severity(severity: str | None) -> Severity | None:
    """Validate an optional severity filter.

    Raises:
        ConfigError: it is neither None nor one of ``warning``, ``critical``.
    """
    if severity is None:
        return None
    if severity == "warning":
        return "warning"
    if severity == "critical":
        return "critical"
    raise ConfigError(f"severity: expected one of {', '.join(_SEVERITIES)}, got {severity!r}")


def _number(field: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ConfigError(f"{field}: expected a number or None, got {value!r}")
    return float(value)


def make_threshold(
    metric: str,
    *,
    warning: float | None,
    critical: float | None,
    edge: str | None,
    direction: str,
    cooldown_s: float,
) -> Threshold:
    """Validate the arguments of ``set_threshold`` and build the :class:`Threshold`.

    Raises:
        ConfigError: empty metric or edge, no limit given, a bad direction, a negative
            cooldown, or limits in the wrong order for the direction.
    """
    if not isinstance(metric, str) or not metric:
        raise ConfigError(f"metric: expected a non-empty string, got {metric!r}")
    if edge is not None and (not isinstance(edge, str) or not edge):
        raise ConfigError(f"edge: expected a non-empty string or None, got {edge!r}")
    checked: Direction
    if direction == "above":
        checked = "above"
    elif direction == "below":
        checked = "below"
    else:
        raise ConfigError(f"direction: expected one of {', '.join(_DIRECTIONS)}, got {direction!r}")
    warn = _number("warning", warning)
    crit = _number("critical", critical)
    if warn is None and crit is None:
        raise ConfigError(f"threshold on {metric!r}: give warning, critical or both")
    cooldown = _number("cooldown_s", cooldown_s)
    if cooldown is None or cooldown < 0:
        raise ConfigError(f"cooldown_s: expected a non-negative number, got {cooldown_s!r}")
    if warn is not None and crit is not None:
        ordered = warn <= crit if direction == "above" else warn >= crit
        if not ordered:
            raise ConfigError(
                f"threshold on {metric!r} ({direction}): warning {warn} must be "
                f"{'<=' if direction == 'above' else '>='} critical {crit}"
            )
    return Threshold(
        metric=metric,
        warning=warn,
        critical=crit,
        edge=edge,
        direction=checked,
        cooldown_s=cooldown,
    )


def _breaches(threshold: Threshold, value: float, limit: float | None) -> bool:
    if limit is None:
        return False
    return value > limit if threshold.direction == "above" else value < limit


class AlertBook:
    """Thresholds, alert history (bounded), active alerts and cooldown bookkeeping."""

    def __init__(self, max_alerts: int) -> None:
        self._thresholds: dict[tuple[str, str | None], Threshold] = {}
        self._history: deque[Alert] = deque(maxlen=max_alerts)
        self._active: dict[tuple[str, str, AlertKind], Alert] = {}
        self._last_level: dict[tuple[str, str], Severity | None] = {}
        self._last_fired: dict[tuple[str, str, Severity, AlertKind], float] = {}
        self._ids = itertools.count(1)
        self.suppressed = 0

    # -- thresholds -----------------------------------------------------------------------

    def set_threshold(self, threshold: Threshold) -> None:
        """Install (or replace) ``threshold`` for its (metric, edge) scope."""
        self._thresholds[(threshold.metric, threshold.edge)] = threshold

    def clear_threshold(self, metric: str, edge: str | None, now: float) -> bool:
        """Remove a threshold and resolve the threshold alerts it governed; True if it existed."""
        if self._thresholds.pop((metric, edge), None) is None:
            return False
        for key, alert in list(self._active.items()):
            governed = (
                key[2] == "threshold"
                and alert.metric == metric
                and (edge is None or alert.edge == edge)
                and self.threshold_for(alert.edge, metric) is None
            )
            if governed:
                self._resolve(key, now)
                self._last_level.pop((alert.edge, metric), None)
        return True

    def thresholds(self) -> list[Threshold]:
        """Every installed threshold."""
        return list(self._thresholds.values())

    def threshold_for(self, edge: str, metric: str) -> Threshold | None:
        """The threshold governing (edge, metric): edge-specific first, then all-edges."""
        return self._thresholds.get((metric, edge)) or self._thresholds.get((metric, None))

    # -- evaluation -----------------------------------------------------------------------

    def check(
        self, edge: str, metric: str, value: float, now: float, *, tags: Tags | None = None
    ) -> None:
        """Apply the threshold rules (module docstring) to one point (``tags``: its tags)."""
        threshold = self.threshold_for(edge, metric)
        if threshold is None:
            return
        level: Severity | None = None
        limit: float | None = None
        if _breaches(threshold, value, threshold.critical):
            level, limit = "critical", threshold.critical
        elif _breaches(threshold, value, threshold.warning):
            level, limit = "warning", threshold.warning
        previous = self._last_level.get((edge, metric))
        self._last_level[(edge, metric)] = level
        key: tuple[str, str, AlertKind] = (edge, metric, "threshold")
        active = self._active.get(key)
        if level is None:
            if active is not None:
                self._resolve(key, now)
            return
        if active is not None and active.severity == level:
            return
        if active is not None:
            self._resolve(key, now)
        escalation = previous == "warning" and level == "critical"
        if not escalation and self._cooling(
            (edge, metric, level, "threshold"), threshold.cooldown_s, now
        ):
            return
        word = "above" if threshold.direction == "above" else "below"
        unit = " ms" if metric == "latency" else ""
        self._fire(
            "threshold",
            level,
            edge,
            metric,
            value,
            limit,
            now,
            f"{metric} on {edge} is {value:g}{unit}, {word} the {level} limit {limit:g}{unit}",
            tags,
        )

    def anomaly(
        self,
        edge: str,
        metric: str,
        value: float,
        now: float,
        *,
        anomalous: bool,
        bound: float,
        cooldown_s: float,
        z_score: float,
        tags: Tags | None = None,
    ) -> None:
        """Fire (or resolve) the anomaly alert of a series for one judged point."""
        key: tuple[str, str, AlertKind] = (edge, metric, "anomaly")
        active = self._active.get(key)
        if not anomalous:
            if active is not None:
                self._resolve(key, now)
            return
        if active is not None:
            return
        if self._cooling((edge, metric, "warning", "anomaly"), cooldown_s, now):
            return
        self._fire(
            "anomaly",
            "warning",
            edge,
            metric,
            value,
            bound,
            now,
            f"{metric} on {edge} is {value:g}{' ms' if metric == 'latency' else ''}, "
            f"anomalous (z={z_score:.1f})",
            tags,
        )

    # -- queries --------------------------------------------------------------------------

    def alerts(
        self, *, edge: str | None, severity: Severity | None, active_only: bool
    ) -> list[Alert]:
        """Alerts (oldest first) matching the filters; active ones carry ``resolved_at=None``."""
        source = self._active.values() if active_only else self._all()
        return sorted(
            (
                alert
                for alert in source
                if (edge is None or alert.edge == edge)
                and (severity is None or alert.severity == severity)
            ),
            key=lambda alert: alert.id,
        )

    def active_counts(self) -> dict[str, int]:
        """Active alerts per severity (both severities always present)."""
        counts = dict.fromkeys(_SEVERITIES, 0)
        for alert in self._active.values():
            counts[alert.severity] += 1
        return counts

    # -- internals ------------------------------------------------------------------------

    def _all(self) -> list[Alert]:
        # Active alerts live in _active (current state) and may have been evicted from the
        # bounded history; the history holds the snapshot taken when each one fired.
        by_id = {alert.id: alert for alert in self._history}
        by_id.update({alert.id: alert for alert in self._active.values()})
        return list(by_id.values())

    def _cooling(
        self, key: tuple[str, str, Severity, AlertKind], cooldown_s: float, now: float
    ) -> bool:
        """True (and counted as suppressed) if ``key`` fired less than ``cooldown_s`` ago."""
        last = self._last_fired.get(key)
        if last is not None and now - last < cooldown_s:
            self.suppressed += 1
            return True
        return False

    def _fire(
        self,
        kind: AlertKind,
        severity: Severity,
        edge: str,
        metric: str,
        value: float,
        limit: float | None,
        now: float,
        message: str,
        tags: Tags | None = None,
    ) -> None:
        alert = Alert(
            id=next(self._ids),
            kind=kind,
            severity=severity,
            edge=edge,
            metric=metric,
            value=value,
            threshold=limit,
            fired_at=now,
            resolved_at=None,
            message=message,
            tags=dict(tags or {}),
        )
        self._active[(edge, metric, kind)] = alert
        self._history.append(alert)
        self._last_fired[(edge, metric, severity, kind)] = now
        _log.warning(
            "alert_fired",
            edge=edge,
            metric=metric,
            severity=severity,
            kind=kind,
            value=value,
            threshold=limit,
            alert_id=alert.id,
        )

    def _resolve(self, key: tuple[str, str, AlertKind], now: float) -> None:
        alert = self._active.pop(key)
        resolved = msgspec.structs.replace(alert, resolved_at=now)
        for index in range(len(self._history) - 1, -1, -1):
            if self._history[index].id == alert.id:
                self._history[index] = resolved
                break
        _log.info(
            "alert_resolved",
            edge=alert.edge,
            metric=alert.metric,
            severity=alert.severity,
            kind=alert.kind,
            alert_id=alert.id,
        )
