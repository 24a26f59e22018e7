"""Reading the series: known metrics, time windows, points and samples, analytics.

Monitoring layer, read-only over the :class:`SeriesStore` the recorder fills. Windows
end at the injected clock's "now" unless the caller names an end; metric names must be
known (built in, or recorded at least once), and an unknown one is refused with the list
of known ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_actors.errors import ConfigError
from edge_actors.units import parse_duration

from ._anomaly import EwmaDetector, anomaly_of
from ._checks import check_edge, finite
from ._models import BUILTIN_METRICS, Analytics, MetricSample, check_tags
from ._stats import summarize

if TYPE_CHECKING:
    from collections.abc import Sequence

    from edge_actors.clock import Clock

    from ._models import Anomaly, AnomalyConfig, MetricPoint, MetricStats, Tags
    from ._series import SeriesStore

__all__ = ["SeriesReader"]


class SeriesReader:
    """Queries and aggregates over the stored series (no state of its own).

    Args:
        series: the store to read.
        anomaly: settings of the detector that scans a window for analytics.
        clock: where the default end of a window comes from.
    """

    def __init__(self, series: SeriesStore, anomaly: AnomalyConfig, clock: Clock) -> None:
        self._series = series
        self._anomaly = anomaly
        self._clock = clock

    def known_metrics(self) -> list[str]:
        """Built-in metric names plus every custom one recorded so far, sorted."""
        return sorted(set(BUILTIN_METRICS) | self._series.metrics())

    def check_metric(self, metric: str) -> None:
        """Refuse a metric that is neither built in nor recorded (listing the known ones)."""
        if metric not in BUILTIN_METRICS and metric not in self._series.metrics():
            known = ", ".join(self.known_metrics())
            raise ConfigError(f"metric: unknown metric {metric!r} (known: {known})")

    def window(self, time_range: str | float, end: float | None) -> tuple[float, float]:
        """``(end - time_range, end)``, ``end`` defaulting to the clock's now."""
        span = parse_duration(time_range, field="time_range")
        stop = self._clock.time() if end is None else finite("end", end)
        return stop - span, stop

    def points(
        self, edge: str, metric: str, time_range: str | float, end: float | None
    ) -> list[MetricPoint]:
        """One series' points in the window, oldest first."""
        check_edge(edge)
        self.check_metric(metric)
        start, stop = self.window(time_range, end)
        return self._series.query(edge, metric, start, stop)

    def samples(
        self,
        edge: str | None,
        metric: str | None,
        time_range: str | float,
        end: float | None,
        tags: Tags | None,
    ) -> list[MetricSample]:
        """Points of every matching series in the window carrying all of ``tags``."""
        if edge is not None:
            check_edge(edge)
        if metric is not None:
            self.check_metric(metric)
        wanted = check_tags(tags, "tags")
        start, stop = self.window(time_range, end)
        found: list[MetricSample] = []
        for name in sorted(self._series.edges()) if edge is None else [edge]:
            for series in sorted(self._series.metrics(name)) if metric is None else [metric]:
                found.extend(
                    MetricSample(name, series, p.timestamp, p.value, p.tags)
                    for p in self._series.query(name, series, start, stop)
                    if all(p.tags.get(k) == v for k, v in wanted.items())
                )
        found.sort(key=lambda sample: sample.timestamp)
        return found

    def series_of(self, edge: str) -> list[str]:
        """The metrics ``edge`` has a series of, sorted."""
        return sorted(self._series.metrics(edge))

    def analytics(
        self,
        names: Sequence[str],
        metrics: Sequence[str],
        time_range: str | float,
        end: float | None,
    ) -> Analytics:
        """Aggregates of ``names`` x ``metrics`` over the window, and the anomalies in it.

        The anomalies come from a fresh detector run over each window (independent of
        live detection), so they are the same whenever the same window is asked for.
        """
        if isinstance(metrics, str):
            raise ConfigError(f"metrics: expected a list of names, got the string {metrics!r}")
        wanted = list(metrics)
        for metric in wanted:
            self.check_metric(metric)
        start, stop = self.window(time_range, end)
        edges: dict[str, dict[str, MetricStats]] = {}
        anomalies: list[Anomaly] = []
        for edge in names:
            per_metric: dict[str, MetricStats] = {}
            for metric in wanted:
                points = self._series.query(edge, metric, start, stop)
                per_metric[metric] = summarize([p.value for p in points])
                anomalies.extend(self._scan(edge, metric, points))
            edges[edge] = per_metric
        anomalies.sort(key=lambda a: a.timestamp)
        return Analytics(
            edges=edges, anomalies=anomalies, time_range_s=stop - start, start=start, end=stop
        )

    def _scan(self, edge: str, metric: str, points: list[MetricPoint]) -> list[Anomaly]:
        detector = EwmaDetector(self._anomaly)
        found: list[Anomaly] = []
        for point in points:
            verdict = detector.update(point.value)
            if verdict.anomalous:
                found.append(anomaly_of(edge, metric, point.timestamp, point.value, verdict))
        return found
