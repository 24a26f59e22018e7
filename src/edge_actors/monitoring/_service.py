"""The monitoring service: the public face composing the monitoring owners.

Monitoring layer (above ``edge`` in the import order; it talks to edges over HTTP only).
One :class:`MonitoringService` holds process-wide monitoring state; the runtime keeps one
on its background event loop so every ``EdgeMonitoringNode`` sees the same series,
thresholds and alerts, and probe loops outlive the call that started them.

It checks arguments and delegates each job to its owner: :class:`ProbeLoops` (probe
tasks, task group, HTTP session), :class:`EdgeBook` (per-edge probe state, the points a
probe gives, health), :class:`MetricRecorder` (series, live anomaly detection, feeding the
alerts), :class:`SeriesReader` (queries, analytics) and :class:`AlertBook` (thresholds,
alerts).

Concurrency: the service lives on **one** event loop. Its state is only touched by
synchronous code between awaits, so calls from any number of coroutines on that loop are
safe; calls from another thread or loop are not (hand them to the owning loop).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from edge_actors.clock import SYSTEM_CLOCK, Clock
from edge_actors.units import parse_duration

from ._alerts import AlertBook, check_severity, make_threshold
from ._checks import check_edge, check_metric_name, edge_names, finite, probe_targets
from ._edges import EdgeBook
from ._loops import PROBE_TASK_PREFIX, ProbeLoops
from ._models import MetricPoint, MonitoringConfig, MonitoringSummary, MonitorStatus, check_tags
from ._queries import SeriesReader
from ._recorder import MetricRecorder

if TYPE_CHECKING:
    import ssl
    from collections.abc import Sequence
    from types import TracebackType

    from ._models import (
        Alert,
        Analytics,
        Anomaly,
        EdgeHealth,
        MetricSample,
        ProbeTarget,
        Tags,
        Threshold,
    )

__all__ = ["PROBE_TASK_PREFIX", "MonitoringService"]


class MonitoringService:
    """Edge health probes, bounded metric series, analytics, anomaly detection and alerts.

    Use it as ``async with MonitoringService() as svc:``; the block owns the task group of
    the probe loops, and leaving it cancels them. Synchronous methods (recording, queries,
    thresholds, alerts) also work outside the block; probing needs it.

    Args:
        config: limits and health rules (defaults: 10 000 points per series, 5 s probe
            timeout, 60 s health window).
        anomaly_detection: detect anomalies live on every edge's series (otherwise only on
            edges monitored with ``anomaly_detection=True``).
        clock: where "now" comes from (probe stamps, the default end of a window query,
            health windows, alert times); the system clock unless a test injects one.
        ssl_context: TLS context of the probes' session, for ``https`` edges signed by a
            private CA or requiring a client certificate (default: the system store).
    """

    def __init__(
        self,
        config: MonitoringConfig | None = None,
        *,
        anomaly_detection: bool = False,
        clock: Clock = SYSTEM_CLOCK,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.clock = clock
        self.config = config if config is not None else MonitoringConfig()
        self._alerts = AlertBook(self.config.max_alerts)
        self._recorder = MetricRecorder(
            self.config, self._alerts, anomaly_everywhere=anomaly_detection
        )
        self._series = self._recorder.series
        self._reader = SeriesReader(self._series, self.config.anomaly, clock)
        self._edges = EdgeBook(self._recorder, self.config)
        self._loops = ProbeLoops(self._edges.record_probe, clock, ssl_context)

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Open the HTTP session and the task group of the probe loops.

        Raises:
            MonitoringError: the service is already running.
        """
        await self._loops.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Cancel every probe loop, wait for them to finish, close the HTTP session.

        Must run in the task that entered the service (anyio task-group rule).
        """
        await self._loops.close()

    @property
    def running(self) -> bool:
        """True inside ``async with``."""
        return self._loops.running

    # -- probe loops ----------------------------------------------------------------------

    async def start_monitor(
        self,
        targets: Sequence[ProbeTarget],
        *,
        interval_s: float | str = 1.0,
        anomaly_detection: bool = False,
        timeout_s: float | str | None = None,
    ) -> MonitorStatus:
        """Start (or retune) one probe loop per target.

        Each loop probes ``GET /admin/health`` every ``interval_s`` (fixed rate; a slow
        probe delays the next one, never overlaps it) and records ``latency``,
        ``error_rate``, ``throughput`` and ``capacity_usage`` for the edge. An edge already
        monitored keeps its loop and takes the new target, interval and settings at once.

        Args:
            targets: the edges (unique names).
            interval_s: seconds between probes, or a duration string (``"500ms"``).
            anomaly_detection: detect anomalies live on these edges' series.
            timeout_s: per-probe timeout; default ``min(interval_s, config.probe_timeout_s)``.

        Returns:
            The status of the edges started or retuned.

        Raises:
            ConfigError: no targets, duplicate names, a bad interval or timeout.
            ServiceNotRunning: outside ``async with``.

        Cancellation: if cancelled while starting loops, the loops already started keep
        running (they belong to the service, not the caller); stop them with
        :meth:`stop_monitor`.
        """
        self._loops.require_running("start_monitor")
        interval = parse_duration(interval_s, field="interval_s")
        timeout = (
            min(interval, self.config.probe_timeout_s)
            if timeout_s is None
            else parse_duration(timeout_s, field="timeout_s")
        )
        chosen = probe_targets(targets, unique=True)
        started_at = self.clock.time()
        for target in chosen:
            self._recorder.detect_on(target.name, anomaly_detection)
            await self._loops.start(target, interval, timeout)
        return MonitorStatus(
            edges=[t.name for t in chosen],
            monitoring=self._loops.names(),
            interval_s=interval,
            timeout_s=timeout,
            started_at=started_at,
            anomaly_detection=anomaly_detection or self._recorder.anomaly_everywhere,
        )

    async def stop_monitor(self, edge_nodes: Sequence[str] | None = None) -> list[str]:
        """Stop the probe loops of ``edge_nodes`` (all when None) and wait until they ended.

        Edges that are not monitored are ignored. Their series and alerts are kept.

        Returns:
            The edges whose loop was stopped.

        Cancellation: the loops are cancelled before the first await, so they stop even if
        this call is cancelled while waiting for them to finish.
        """
        stopped = self._loops.cancel(edge_names(edge_nodes))
        for loop in stopped:
            self._recorder.detect_on(loop.target.name, False)
        return await self._loops.wait_ended(stopped)

    def monitored_edges(self) -> list[str]:
        """Edges with a running probe loop, sorted."""
        return self._loops.names()

    async def probe_now(self, targets: Sequence[ProbeTarget]) -> dict[str, EdgeHealth]:
        """Probe every target once, concurrently, record the results and return their health.

        Works for edges that are not monitored (a resource check before a migration).

        Raises:
            ServiceNotRunning: outside ``async with``.

        Cancellation: in-flight probes are aborted and nothing is recorded for them.
        """
        self._loops.require_running("probe_now")
        chosen = probe_targets(targets, unique=False)
        await self._loops.probe_all(chosen, self.config.probe_timeout_s)
        return self.get_health([t.name for t in chosen])

    # -- series ---------------------------------------------------------------------------

    def record_metric(
        self,
        edge: str,
        metric: str,
        value: float,
        *,
        timestamp: float | None = None,
        tags: Tags | None = None,
    ) -> MetricPoint:
        """Record one point (and run anomaly detection and thresholds on it).

        Args:
            edge: edge name.
            metric: series name (``[A-Za-z_][A-Za-z0-9_.:-]*``, up to 128 characters); a
                new name becomes known to queries once recorded.
            value: a finite number.
            timestamp: wall-clock seconds since the epoch; default now.
            tags: labels kept with the point and copied onto the alerts it fires (at most
                32 string pairs).

        Raises:
            ConfigError: a bad edge, metric name, value, timestamp or tags.
        """
        check_edge(edge)
        check_metric_name(metric)
        number = finite("value", value)
        labels = check_tags(tags)
        ts = self.clock.time() if timestamp is None else finite("timestamp", timestamp)
        self._recorder.record(edge, metric, number, ts, labels)
        return MetricPoint(timestamp=ts, value=number, tags=dict(labels))

    def known_metrics(self) -> list[str]:
        """Built-in metric names plus every custom one recorded so far, sorted."""
        return self._reader.known_metrics()

    def query_metrics(
        self, edge: str, metric: str, *, time_range: str | float = "1h", end: float | None = None
    ) -> list[MetricPoint]:
        """Points of one series in ``[end - time_range, end]``, oldest first.

        Args:
            edge: edge name (an edge without data gives an empty list).
            metric: a known metric name.
            time_range: seconds or a duration string (``"1h"``, ``"15m"``, ``"30s"``).
            end: window end (wall-clock seconds since the epoch); default now.

        Raises:
            ConfigError: unknown metric, or a bad time range.
        """
        return self._reader.points(edge, metric, time_range, end)

    def query_samples(
        self,
        *,
        edge: str | None = None,
        metric: str | None = None,
        time_range: str | float = "1h",
        end: float | None = None,
        tags: Tags | None = None,
    ) -> list[MetricSample]:
        """Points of every matching series in ``[end - time_range, end]``, oldest first.

        Args:
            edge: only this edge (default: every edge with data).
            metric: only this metric, which must be known (default: every metric).
            time_range: window length, seconds or a duration string.
            end: window end (default now).
            tags: only points carrying every one of these tags.

        Raises:
            ConfigError: unknown metric, a bad time range or tags.
        """
        return self._reader.samples(edge, metric, time_range, end, tags)

    def series_of(self, edge: str) -> list[str]:
        """The metrics ``edge`` has a series of, sorted."""
        return self._reader.series_of(edge)

    def get_analytics(
        self,
        edge_nodes: Sequence[str] | None = None,
        *,
        time_range: str | float = "1h",
        metrics: Sequence[str] = ("latency", "error_rate", "throughput"),
        end: float | None = None,
    ) -> Analytics:
        """Aggregates per edge and metric over a window, and the anomalies in it.

        Args:
            edge_nodes: edges to report (default: every edge with data or probes).
            time_range: window length, seconds or a duration string.
            metrics: metric names; each must be known.
            end: window end (default now).

        Raises:
            ConfigError: an unknown metric (the message lists the known ones), a bad time
                range or edge list.
        """
        names = edge_names(edge_nodes)
        if names is None:
            names = self._known_edges()
        return self._reader.analytics(names, metrics, time_range, end)

    def get_anomalies(self, *, edge: str | None = None) -> list[Anomaly]:
        """Anomalies detected live (newest ``config.max_anomalies``), oldest first."""
        return self._recorder.anomalies(edge)

    # -- health ---------------------------------------------------------------------------

    def get_health(self, edge_nodes: Sequence[str] | None = None) -> dict[str, EdgeHealth]:
        """Health of each edge from its latest probe and the health window of its series.

        Never probes (see :meth:`probe_now`); an edge never probed is ``unknown``. The
        rules are in docs/monitoring.md.

        Args:
            edge_nodes: edges to report (default: every probed edge).
        """
        names = edge_names(edge_nodes)
        if names is None:
            names = sorted(self._edges.probed())
        now = self.clock.time()
        start = now - self.config.health_window_s
        return {
            name: self._edges.health(name, monitored=name in self._loops, start=start, now=now)
            for name in names
        }

    # -- thresholds and alerts ------------------------------------------------------------

    def set_threshold(
        self,
        metric: str,
        *,
        warning: float | None = None,
        critical: float | None = None,
        edge: str | None = None,
        direction: str = "above",
        cooldown_s: float = 60.0,
    ) -> Threshold:
        """Install a threshold on ``metric`` for ``edge`` (None: every edge without its own).

        Every later point of a governed series is checked (rules in docs/monitoring.md):
        the cooldown suppresses repeats of the same (edge, metric, severity) alert within
        ``cooldown_s``, while an escalation from warning to critical always fires.

        Raises:
            ConfigError: no limit, a bad direction (``above`` / ``below``), a negative
                cooldown, or limits out of order for the direction.
        """
        threshold = make_threshold(
            metric,
            warning=warning,
            critical=critical,
            edge=edge,
            direction=direction,
            cooldown_s=cooldown_s,
        )
        self._alerts.set_threshold(threshold)
        return threshold

    def clear_threshold(self, metric: str, *, edge: str | None = None) -> bool:
        """Remove a threshold and resolve the alerts it governed; False if there was none."""
        return self._alerts.clear_threshold(metric, edge, self.clock.time())

    def get_thresholds(self) -> list[Threshold]:
        """Every installed threshold."""
        return self._alerts.thresholds()

    def get_alerts(
        self,
        *,
        edge: str | None = None,
        severity: str | None = None,
        active_only: bool = False,
        since: float | None = None,
    ) -> list[Alert]:
        """Alerts, oldest first, filtered by edge, severity, activity and firing time.

        Args:
            since: only alerts fired at or after this wall-clock time (seconds).

        Raises:
            ConfigError: ``severity`` is not ``warning``, ``critical`` or None.
        """
        alerts = self._alerts.alerts(
            edge=edge, severity=check_severity(severity), active_only=active_only
        )
        if since is None:
            return alerts
        start = finite("since", since)
        return [alert for alert in alerts if alert.fired_at >= start]

    # -- summary --------------------------------------------------------------------------

    def get_summary(self) -> MonitoringSummary:
        """Monitored edges, per-edge status, stored points, active alerts and anomalies."""
        health = self.get_health(self._known_edges())
        return MonitoringSummary(
            monitored_edges=self.monitored_edges(),
            edges={name: h.status for name, h in health.items()},
            series=self._series.series_count(),
            points_stored=self._series.points_count(),
            active_alerts=self._alerts.active_counts(),
            anomalies=self._recorder.anomaly_count,
            suppressed_alerts=self._alerts.suppressed,
        )

    def _known_edges(self) -> list[str]:
        """Every edge with data or probes, sorted."""
        return sorted(self._series.edges() | self._edges.probed())
