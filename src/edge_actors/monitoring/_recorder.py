"""Recording a point: the series, live anomaly detection, anomaly and threshold alerts.

Monitoring layer, synchronous state on the service's event loop. :class:`MetricRecorder`
owns the bounded series, one live :class:`EwmaDetector` per series, the log of live
anomalies and the set of edges detection is switched on for; it feeds every point to the
service's :class:`AlertBook`. Probe results and ``record_metric`` both come through
:meth:`MetricRecorder.record`, so a probed point and a recorded one are judged alike.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

from edge_actors._log import get_logger

from ._anomaly import EwmaDetector, anomaly_of
from ._series import SeriesStore

if TYPE_CHECKING:
    from ._alerts import AlertBook
    from ._models import Anomaly, MonitoringConfig, Tags

__all__ = ["MetricRecorder"]

_log = get_logger("monitoring")


class MetricRecorder:
    """Appends points to their series and runs live detection and alert rules on each.

    Args:
        config: series bound, anomaly settings, anomaly log bound and alert cooldown.
        alerts: the alert book every point is checked against.
        anomaly_everywhere: detect anomalies live on every edge (otherwise only on the
            edges switched on with :meth:`detect_on`).
    """

    def __init__(
        self, config: MonitoringConfig, alerts: AlertBook, *, anomaly_everywhere: bool
    ) -> None:
        self.series = SeriesStore(config.max_points)
        self.anomaly_everywhere = anomaly_everywhere
        self._config = config
        self._alerts = alerts
        self._live_edges: set[str] = set()
        self._detectors: dict[tuple[str, str], EwmaDetector] = {}
        self._anomalies: deque[Anomaly] = deque(maxlen=config.max_anomalies)
        self._anomaly_count = 0

    def detect_on(self, edge: str, enabled: bool) -> None:
        """Switch live anomaly detection on or off for ``edge``'s series."""
        if enabled:
            self._live_edges.add(edge)
        else:
            self._live_edges.discard(edge)

    def record(
        self, edge: str, metric: str, value: float, ts: float, tags: Tags | None = None
    ) -> None:
        """Append one (already checked) point and judge it.

        Every series' detector learns from every point; only edges with detection on log
        anomalies and raise or resolve anomaly alerts. Thresholds apply to every edge.
        """
        self.series.append(edge, metric, ts, value, tags)
        detector = self._detectors.get((edge, metric))
        if detector is None:
            detector = self._detectors[(edge, metric)] = EwmaDetector(self._config.anomaly)
        verdict = detector.update(value)
        if self.anomaly_everywhere or edge in self._live_edges:
            if verdict.anomalous:
                self._anomaly_count += 1
                self._anomalies.append(anomaly_of(edge, metric, ts, value, verdict))
                _log.warning(
                    "anomaly_detected", edge=edge, metric=metric, value=value, z=verdict.z_score
                )
            band = self._config.anomaly.z_threshold * verdict.stddev
            self._alerts.anomaly(
                edge,
                metric,
                value,
                ts,
                anomalous=verdict.anomalous,
                bound=verdict.expected + math.copysign(band, verdict.z_score),
                cooldown_s=self._config.anomaly_cooldown_s,
                z_score=verdict.z_score,
                tags=tags,
            )
        self._alerts.check(edge, metric, value, ts, tags=tags)

    def anomalies(self, edge: str | None = None) -> list[Anomaly]:
        """Live anomalies kept (the newest ``max_anomalies``), oldest first."""
        return [a for a in self._anomalies if edge is None or a.edge == edge]

    @property
    def anomaly_count(self) -> int:
        """Live anomalies detected since the start, including those the log dropped."""
        return self._anomaly_count
