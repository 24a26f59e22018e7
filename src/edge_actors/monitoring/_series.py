"""Bounded in-memory time series, one ring buffer per (edge, metric).

Monitoring layer. Memory stays bounded: each series keeps at most ``max_points`` points
and drops the oldest-arrived first. Points carry wall-clock stamps (the service's clock by
default); callers may pass explicit (even out-of-order) stamps, so queries filter by
timestamp and sort the result.
Lives on one event loop: every method is synchronous and therefore atomic there.
"""

from __future__ import annotations

from collections import deque

from ._models import MetricPoint, Tags

__all__ = ["SeriesStore"]

_NO_TAGS: Tags = {}


class SeriesStore:
    """Ring buffers of ``(timestamp, value, tags)`` per (edge, metric)."""

    def __init__(self, max_points: int) -> None:
        self._max_points = max_points
        self._series: dict[tuple[str, str], deque[tuple[float, float, Tags]]] = {}

    def append(
        self, edge: str, metric: str, timestamp: float, value: float, tags: Tags | None = None
    ) -> None:
        """Add one point, evicting the oldest-arrived point of a full series.

        ``tags`` is kept by reference: the caller hands over a dict it no longer changes.
        """
        series = self._series.get((edge, metric))
        if series is None:
            series = self._series[(edge, metric)] = deque(maxlen=self._max_points)
        series.append((timestamp, value, tags or _NO_TAGS))

    def query(self, edge: str, metric: str, start: float, end: float) -> list[MetricPoint]:
        """Return the points with ``start <= timestamp <= end``, sorted by timestamp."""
        series = self._series.get((edge, metric), ())
        inside = sorted((p for p in series if start <= p[0] <= end), key=lambda p: p[0])
        return [MetricPoint(timestamp=ts, value=v, tags=dict(tags)) for ts, v, tags in inside]

    def metrics(self, edge: str | None = None) -> set[str]:
        """Every metric name that has at least one series (of ``edge``, when given)."""
        return {metric for name, metric in self._series if edge is None or name == edge}

    def edges(self) -> set[str]:
        """Every edge name that has at least one series."""
        return {edge for edge, _ in self._series}

    def series_count(self) -> int:
        """Number of (edge, metric) series."""
        return len(self._series)

    def points_count(self) -> int:
        """Points held across all series."""
        return sum(len(series) for series in self._series.values())
