"""The monitoring service: probe loops, metric series, analytics, anomalies and alerts.

Monitoring layer (above ``edge`` in the import order; it talks to edges over HTTP only).
One :class:`MonitoringService` holds process-wide monitoring state; the runtime keeps one
on its background event loop so every ``EdgeMonitoringNode`` sees the same series,
thresholds and alerts, and probe loops outlive the call that started them.

Concurrency: the service lives on **one** event loop. Its state is only touched by
synchronous code between awaits, so calls from any number of coroutines on that loop are
safe; calls from another thread or loop are not (hand them to the owning loop).
"""

from __future__ import annotations

import math
import re
from collections import deque
from typing import TYPE_CHECKING, Self

import aiohttp
import anyio
import anyio.abc

from edge_actors._log import get_logger
from edge_actors.clock import SYSTEM_CLOCK, Clock
from edge_actors.errors import ConfigError
from edge_actors.units import parse_duration

from ._alerts import AlertBook, check_severity, make_threshold
from ._anomaly import EwmaDetector, Verdict
from ._errors import MonitoringError, ServiceNotRunning
from ._health import classify
from ._models import (
    BUILTIN_METRICS,
    Alert,
    Analytics,
    Anomaly,
    EdgeHealth,
    MetricPoint,
    MetricSample,
    MetricStats,
    MonitoringConfig,
    MonitoringSummary,
    MonitorStatus,
    ProbeTarget,
    Tags,
    Threshold,
    check_tags,
)
from ._probe import ProbeResult, probe
from ._series import SeriesStore
from ._stats import percentile, summarize

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

__all__ = ["PROBE_TASK_PREFIX", "MonitoringService"]

PROBE_TASK_PREFIX = "edge_actors.monitoring.probe:"
"""Name prefix of every probe-loop task (followed by the edge name)."""

_METRIC_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,127}")

_log = get_logger("monitoring")


class _Monitor:
    """A running probe loop's settings and handles (mutated in place to retune it)."""

    def __init__(self, target: ProbeTarget, interval_s: float, timeout_s: float) -> None:
        self.target = target
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.scope: anyio.CancelScope | None = None
        self.retuned = anyio.Event()
        self.done = anyio.Event()


class _EdgeState:
    """What the service knows about one probed edge."""

    def __init__(self, target: ProbeTarget) -> None:
        self.target = target
        self.last: ProbeResult | None = None
        self.last_ok: ProbeResult | None = None
        self.throughput: float | None = None


def _edge_names(edge_nodes: Sequence[str] | None, field: str = "edge_nodes") -> list[str] | None:
    if edge_nodes is None:
        return None
    if isinstance(edge_nodes, str):
        raise ConfigError(f"{field}: expected a list of edge names, got the string {edge_nodes!r}")
    names = list(edge_nodes)
    for name in names:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{field}: expected non-empty edge names, got {name!r}")
    return names


def _check_edge(edge: str) -> None:
    if not isinstance(edge, str) or not edge:
        raise ConfigError(f"edge: expected a non-empty string, got {edge!r}")


def _finite(field: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{field}: expected a finite number, got {value!r}")
    return float(value)


def _anomaly(edge: str, metric: str, ts: float, value: float, verdict: Verdict) -> Anomaly:
    return Anomaly(
        edge=edge,
        metric=metric,
        timestamp=ts,
        value=value,
        expected=verdict.expected,
        stddev=verdict.stddev,
        z_score=verdict.z_score,
    )


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
    """

    def __init__(
        self,
        config: MonitoringConfig | None = None,
        *,
        anomaly_detection: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock
        self.config = config if config is not None else MonitoringConfig()
        self._anomaly_everywhere = anomaly_detection
        self._anomaly_edges: set[str] = set()
        self._series = SeriesStore(self.config.max_points)
        self._detectors: dict[tuple[str, str], EwmaDetector] = {}
        self._anomalies: deque[Anomaly] = deque(maxlen=self.config.max_anomalies)
        self._anomaly_count = 0
        self._alerts = AlertBook(self.config.max_alerts)
        self._edges: dict[str, _EdgeState] = {}
        self._monitors: dict[str, _Monitor] = {}
        self._tg: anyio.abc.TaskGroup | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Open the HTTP session and the task group of the probe loops.

        Raises:
            MonitoringError: the service is already running.
        """
        if self._tg is not None:
            raise MonitoringError("MonitoringService is already running")
        session = aiohttp.ClientSession()
        tg = anyio.create_task_group()
        try:
            await tg.__aenter__()
        except BaseException:
            await session.close()
            raise
        self._session, self._tg = session, tg
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
        tg, session = self._tg, self._session
        assert tg is not None, "__aexit__ without __aenter__"
        assert session is not None, "__aexit__ without __aenter__"
        self._monitors.clear()
        try:
            tg.cancel_scope.cancel()
            # The body's own exception (if any) is not handed to the task group, so it
            # propagates as itself rather than wrapped in an ExceptionGroup.
            await tg.__aexit__(None, None, None)
        finally:
            self._tg = self._session = None
            with anyio.CancelScope(shield=True):
                await session.close()

    @property
    def running(self) -> bool:
        """True inside ``async with``."""
        return self._tg is not None

    def _require_running(self, operation: str) -> tuple[anyio.abc.TaskGroup, aiohttp.ClientSession]:
        if self._tg is None or self._session is None:
            raise ServiceNotRunning(f"{operation} needs 'async with MonitoringService()'")
        return self._tg, self._session

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
        tg, _ = self._require_running("start_monitor")
        interval = parse_duration(interval_s, field="interval_s")
        timeout = (
            min(interval, self.config.probe_timeout_s)
            if timeout_s is None
            else parse_duration(timeout_s, field="timeout_s")
        )
        targets = list(targets)
        if not targets:
            raise ConfigError("targets: expected at least one ProbeTarget")
        for target in targets:
            if not isinstance(target, ProbeTarget):
                raise ConfigError(f"targets: expected ProbeTarget items, got {target!r}")
        names = [t.name for t in targets]
        for target in targets:
            if names.count(target.name) > 1:
                raise ConfigError(f"targets: edge {target.name!r} is listed more than once")
        started_at = self.clock.time()
        for target in targets:
            if anomaly_detection:
                self._anomaly_edges.add(target.name)
            else:
                self._anomaly_edges.discard(target.name)
            monitor = self._monitors.get(target.name)
            if monitor is not None:
                monitor.target, monitor.interval_s, monitor.timeout_s = target, interval, timeout
                monitor.retuned.set()
                _log.info("monitor_retuned", edge=target.name, interval_s=interval)
                continue
            monitor = _Monitor(target, interval, timeout)
            self._monitors[target.name] = monitor
            await tg.start(self._run_monitor, monitor, name=PROBE_TASK_PREFIX + target.name)
        return MonitorStatus(
            edges=names,
            monitoring=sorted(self._monitors),
            interval_s=interval,
            timeout_s=timeout,
            started_at=started_at,
            anomaly_detection=anomaly_detection or self._anomaly_everywhere,
        )

    async def stop_monitor(self, edge_nodes: Sequence[str] | None = None) -> list[str]:
        """Stop the probe loops of ``edge_nodes`` (all when None) and wait until they ended.

        Edges that are not monitored are ignored. Their series and alerts are kept.

        Returns:
            The edges whose loop was stopped.

        Cancellation: the loops are cancelled before the first await, so they stop even if
        this call is cancelled while waiting for them to finish.
        """
        names = _edge_names(edge_nodes)
        chosen = sorted(self._monitors) if names is None else names
        stopped: list[_Monitor] = []
        for name in chosen:
            monitor = self._monitors.pop(name, None)
            if monitor is None:
                continue
            self._anomaly_edges.discard(name)
            if monitor.scope is not None:
                monitor.scope.cancel()
            stopped.append(monitor)
        for monitor in stopped:
            await monitor.done.wait()
            _log.info("monitor_stopped", edge=monitor.target.name)
        return [m.target.name for m in stopped]

    def monitored_edges(self) -> list[str]:
        """Edges with a running probe loop, sorted."""
        return sorted(self._monitors)

    async def _run_monitor(
        self, monitor: _Monitor, *, task_status: anyio.abc.TaskStatus[None]
    ) -> None:
        log = _log.bind(edge=monitor.target.name)
        try:
            with anyio.CancelScope() as scope:
                monitor.scope = scope
                task_status.started()
                log.info("monitor_started", url=monitor.target.url, interval_s=monitor.interval_s)
                while True:
                    next_at = anyio.current_time() + monitor.interval_s
                    try:
                        await self._probe_and_record(monitor.target, monitor.timeout_s)
                    except Exception:
                        # A bug in recording must not kill the task group (and every other
                        # edge's loop with it); log it and keep probing.
                        log.exception("probe_loop_error")
                    with anyio.move_on_after(max(0.0, next_at - anyio.current_time())):
                        await monitor.retuned.wait()
                    if monitor.retuned.is_set():
                        monitor.retuned = anyio.Event()
        finally:
            monitor.done.set()

    async def probe_now(self, targets: Sequence[ProbeTarget]) -> dict[str, EdgeHealth]:
        """Probe every target once, concurrently, record the results and return their health.

        Works for edges that are not monitored (a resource check before a migration).

        Raises:
            ServiceNotRunning: outside ``async with``.

        Cancellation: in-flight probes are aborted and nothing is recorded for them.
        """
        self._require_running("probe_now")
        targets = list(targets)
        for target in targets:
            if not isinstance(target, ProbeTarget):
                raise ConfigError(f"targets: expected ProbeTarget items, got {target!r}")
        timeout = self.config.probe_timeout_s
        async with anyio.create_task_group() as tg:
            for target in targets:
                tg.start_soon(self._probe_and_record, target, timeout)
        return self.get_health([t.name for t in targets])

    async def _probe_and_record(self, target: ProbeTarget, timeout_s: float) -> None:
        session = self._session
        if session is None:
            raise ServiceNotRunning("probe needs 'async with MonitoringService()'")
        self._record_probe(await probe(session, target, timeout_s=timeout_s, clock=self.clock))

    def _record_probe(self, result: ProbeResult) -> None:
        name = result.target.name
        state = self._edges.get(name)
        if state is None:
            state = self._edges[name] = _EdgeState(result.target)
        state.target = result.target
        previous_outcome = state.last.outcome if state.last is not None else None
        state.last = result
        if result.outcome != previous_outcome:
            _log.info("probe_outcome", edge=name, outcome=result.outcome, error=result.error)
        ts = result.timestamp
        if result.latency_ms is not None:
            self._record(name, "latency", result.latency_ms, ts)
        report = result.report
        if result.outcome != "ok" or report is None:
            self._record(name, "error_rate", 1.0, ts)
            return
        requests = errors = 0
        prev = state.last_ok.report if state.last_ok is not None else None
        if state.last_ok is not None and prev is not None:
            requests = report.load.requests_total - prev.load.requests_total
            errors = report.load.errors_total - prev.load.errors_total
            if requests < 0 or errors < 0 or report.uptime_s < prev.uptime_s:
                # The daemon restarted: its counters began again from zero.
                requests, errors = report.load.requests_total, report.load.errors_total
            elapsed = result.monotonic - state.last_ok.monotonic
            if elapsed > 0:
                state.throughput = requests / elapsed
                self._record(name, "throughput", state.throughput, ts)
        state.last_ok = result
        # The daemon's own error ratio over the interval (it counts the probe request too).
        error_rate = min(1.0, errors / requests) if requests > 0 else 0.0
        self._record(name, "error_rate", error_rate, ts)
        usage = report.capacity.usage
        if usage is not None:
            self._record(name, "capacity_usage", usage, ts)

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
        _check_edge(edge)
        if not isinstance(metric, str) or _METRIC_RE.fullmatch(metric) is None:
            raise ConfigError(
                f"metric: {metric!r} is not a valid name (letters, digits, _ . : -; "
                "starting with a letter or _)"
            )
        number = _finite("value", value)
        labels = check_tags(tags)
        ts = self.clock.time() if timestamp is None else _finite("timestamp", timestamp)
        self._record(edge, metric, number, ts, labels)
        return MetricPoint(timestamp=ts, value=number, tags=dict(labels))

    def _record(
        self, edge: str, metric: str, value: float, ts: float, tags: Tags | None = None
    ) -> None:
        self._series.append(edge, metric, ts, value, tags)
        detector = self._detectors.get((edge, metric))
        if detector is None:
            detector = self._detectors[(edge, metric)] = EwmaDetector(self.config.anomaly)
        verdict = detector.update(value)
        if self._anomaly_everywhere or edge in self._anomaly_edges:
            if verdict.anomalous:
                self._anomaly_count += 1
                self._anomalies.append(_anomaly(edge, metric, ts, value, verdict))
                _log.warning(
                    "anomaly_detected", edge=edge, metric=metric, value=value, z=verdict.z_score
                )
            band = self.config.anomaly.z_threshold * verdict.stddev
            self._alerts.anomaly(
                edge,
                metric,
                value,
                ts,
                anomalous=verdict.anomalous,
                bound=verdict.expected + math.copysign(band, verdict.z_score),
                cooldown_s=self.config.anomaly_cooldown_s,
                z_score=verdict.z_score,
                tags=tags,
            )
        self._alerts.check(edge, metric, value, ts, tags=tags)

    def known_metrics(self) -> list[str]:
        """Built-in metric names plus every custom one recorded so far, sorted."""
        return sorted(set(BUILTIN_METRICS) | self._series.metrics())

    def _check_metric(self, metric: str) -> None:
        if metric not in BUILTIN_METRICS and metric not in self._series.metrics():
            known = ", ".join(self.known_metrics())
            raise ConfigError(f"metric: unknown metric {metric!r} (known: {known})")

    def _window(self, time_range: str | float, end: float | None) -> tuple[float, float]:
        span = parse_duration(time_range, field="time_range")
        stop = self.clock.time() if end is None else _finite("end", end)
        return stop - span, stop

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
        _check_edge(edge)
        self._check_metric(metric)
        start, stop = self._window(time_range, end)
        return self._series.query(edge, metric, start, stop)

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
        if edge is not None:
            _check_edge(edge)
        if metric is not None:
            self._check_metric(metric)
        wanted = check_tags(tags, "tags")
        start, stop = self._window(time_range, end)
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
        names = _edge_names(edge_nodes)
        if names is None:
            names = sorted(self._series.edges() | set(self._edges))
        if isinstance(metrics, str):
            raise ConfigError(f"metrics: expected a list of names, got the string {metrics!r}")
        wanted = list(metrics)
        for metric in wanted:
            self._check_metric(metric)
        start, stop = self._window(time_range, end)
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
        detector = EwmaDetector(self.config.anomaly)
        found: list[Anomaly] = []
        for point in points:
            verdict = detector.update(point.value)
            if verdict.anomalous:
                found.append(_anomaly(edge, metric, point.timestamp, point.value, verdict))
        return found

    def get_anomalies(self, *, edge: str | None = None) -> list[Anomaly]:
        """Anomalies detected live (newest ``config.max_anomalies``), oldest first."""
        return [a for a in self._anomalies if edge is None or a.edge == edge]

    # -- health ---------------------------------------------------------------------------

    def get_health(self, edge_nodes: Sequence[str] | None = None) -> dict[str, EdgeHealth]:
        """Health of each edge from its latest probe and the health window of its series.

        Never probes (see :meth:`probe_now`); an edge never probed is ``unknown``. The
        rules are in docs/monitoring.md.

        Args:
            edge_nodes: edges to report (default: every probed edge).
        """
        names = _edge_names(edge_nodes)
        if names is None:
            names = sorted(self._edges)
        now = self.clock.time()
        start = now - self.config.health_window_s
        return {name: self._health(name, start, now) for name in names}

    def _health(self, name: str, start: float, now: float) -> EdgeHealth:
        state = self._edges.get(name)
        monitored = name in self._monitors
        if state is None:
            return EdgeHealth(
                edge=name, status="unknown", reasons=["never probed"], monitored=monitored
            )
        latencies = sorted(p.value for p in self._series.query(name, "latency", start, now))
        rates = [p.value for p in self._series.query(name, "error_rate", start, now)]
        p95 = percentile(latencies, 95.0) if latencies else None
        error_rate = math.fsum(rates) / len(rates) if rates else None
        last, ok = state.last, state.last_ok
        report = ok.report if ok is not None else None
        usage = report.capacity.usage if report is not None else None
        status, reasons = classify(
            last,
            latency_p95_ms=p95,
            error_rate=error_rate,
            capacity_usage=usage,
            config=self.config,
        )
        return EdgeHealth(
            edge=name,
            status=status,
            reasons=reasons,
            monitored=monitored,
            url=state.target.url,
            last_probe_at=last.timestamp if last is not None else None,
            last_success_at=ok.timestamp if ok is not None else None,
            http_status=last.http_status if last is not None else None,
            error=last.error if last is not None else None,
            latency_ms=last.latency_ms if last is not None else None,
            latency_p95_ms=p95,
            error_rate=error_rate,
            throughput=state.throughput,
            capacity_usage=usage,
            uptime_s=report.uptime_s if report is not None else None,
            workloads=report.workloads if report is not None else None,
            load=report.load if report is not None else None,
            capacity=report.capacity if report is not None else None,
        )

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
        start = _finite("since", since)
        return [alert for alert in alerts if alert.fired_at >= start]

    # -- summary --------------------------------------------------------------------------

    def get_summary(self) -> MonitoringSummary:
        """Monitored edges, per-edge status, stored points, active alerts and anomalies."""
        names = sorted(self._series.edges() | set(self._edges))
        health = self.get_health(names)
        return MonitoringSummary(
            monitored_edges=self.monitored_edges(),
            edges={name: h.status for name, h in health.items()},
            series=self._series.series_count(),
            points_stored=self._series.points_count(),
            active_alerts=self._alerts.active_counts(),
            anomalies=self._anomaly_count,
            suppressed_alerts=self._alerts.suppressed,
        )
