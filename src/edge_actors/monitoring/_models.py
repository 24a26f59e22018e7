"""Value types of the monitoring layer: configuration, probe targets and every result.

Monitoring layer (imports leaves only). Every result is a frozen msgspec ``Struct`` so the
workflow node can hand it to users with ``msgspec.to_builtins``; configuration Structs
validate themselves on construction and raise :class:`~edge_actors.errors.ConfigError`.
"""

from __future__ import annotations

import math
from typing import Literal

import msgspec

from edge_actors.errors import ConfigError

__all__ = [
    "BUILTIN_METRICS",
    "Alert",
    "AlertKind",
    "Analytics",
    "Anomaly",
    "AnomalyConfig",
    "Direction",
    "EdgeCapacity",
    "EdgeHealth",
    "EdgeLoad",
    "HealthStatus",
    "MetricPoint",
    "MetricSample",
    "MetricStats",
    "MonitorStatus",
    "MonitoringConfig",
    "MonitoringSummary",
    "ProbeTarget",
    "Severity",
    "Threshold",
]

HealthStatus = Literal["healthy", "degraded", "unhealthy", "unreachable", "unknown"]
"""Health of one edge; the rules are in :func:`classify` and docs/monitoring.md."""

Severity = Literal["warning", "critical"]
AlertKind = Literal["threshold", "anomaly"]
Direction = Literal["above", "below"]

BUILTIN_METRICS: tuple[str, ...] = ("latency", "error_rate", "throughput", "capacity_usage")
"""Series the probe loops record for every edge (always known to queries)."""


def _positive(field: str, value: float, *, allow_zero: bool = False) -> None:
    bad = isinstance(value, bool) or not math.isfinite(value) or value < 0
    if bad or (value == 0 and not allow_zero):
        need = "non-negative" if allow_zero else "positive"
        raise ConfigError(f"{field}: expected a finite {need} number, got {value!r}")


def _fraction(field: str, value: float) -> None:
    if isinstance(value, bool) or not (0.0 <= value <= 1.0):
        raise ConfigError(f"{field}: expected a fraction in [0, 1], got {value!r}")


class ProbeTarget(msgspec.Struct, frozen=True):
    """An edge to probe: its name, base URL (``http://host:port``) and admin bearer token.

    The runtime builds these from its topology; the probe calls ``GET {url}/admin/health``.
    """

    name: str
    url: str
    token: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"ProbeTarget.name: expected a non-empty string, got {self.name!r}")
        if not isinstance(self.url, str) or not self.url.startswith(("http://", "https://")):
            raise ConfigError(
                f"ProbeTarget.url of {self.name!r}: expected an http(s) URL, got {self.url!r}"
            )


class AnomalyConfig(msgspec.Struct, frozen=True):
    """Parameters of the EWMA z-score detector (see :class:`EwmaDetector`).

    Attributes:
        alpha: EWMA weight of the newest point (0 < alpha <= 1); ~``2/alpha`` points of
            memory. Smaller is steadier and slower to adapt.
        z_threshold: a point is anomalous when ``|x - mean| / std > z_threshold``.
        warmup: points a series must have seen before it can flag anything.
        min_std: absolute floor of the standard deviation (a constant series does not make
            every tiny change infinitely anomalous).
        rel_min_std: floor of the standard deviation relative to ``|mean|``.
    """

    alpha: float = 0.05
    z_threshold: float = 4.0
    warmup: int = 30
    min_std: float = 1e-9
    rel_min_std: float = 0.001

    def __post_init__(self) -> None:
        if isinstance(self.alpha, bool) or not (0.0 < self.alpha <= 1.0):
            raise ConfigError(f"AnomalyConfig.alpha: expected 0 < alpha <= 1, got {self.alpha!r}")
        _positive("AnomalyConfig.z_threshold", self.z_threshold)
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 2:
            raise ConfigError(f"AnomalyConfig.warmup: expected an int >= 2, got {self.warmup!r}")
        _positive("AnomalyConfig.min_std", self.min_std)
        _positive("AnomalyConfig.rel_min_std", self.rel_min_std, allow_zero=True)


class MonitoringConfig(msgspec.Struct, frozen=True):
    """Limits and health rules of a :class:`MonitoringService`.

    Attributes:
        max_points: ring-buffer size of each (edge, metric) series; older points drop out.
        max_alerts: alerts kept (active ones are never dropped while active).
        max_anomalies: anomaly records kept.
        probe_timeout_s: upper bound of one probe (connect + answer); a probe also never
            waits longer than its monitor's interval.
        health_window_s: window over which health reads latency p95 and error rate.
        latency_degraded_ms: latency p95 above this is ``degraded``.
        error_rate_degraded: mean error rate above this is ``degraded``.
        error_rate_unhealthy: mean error rate at or above this is ``unhealthy``.
        capacity_degraded: capacity usage above this fraction is ``degraded``.
        capacity_unhealthy: capacity usage above this fraction is ``unhealthy``.
        anomaly: detector parameters.
        anomaly_cooldown_s: repeats of an anomaly alert on one series are suppressed
            for this long.
    """

    max_points: int = 10_000
    max_alerts: int = 10_000
    max_anomalies: int = 10_000
    probe_timeout_s: float = 5.0
    health_window_s: float = 60.0
    latency_degraded_ms: float = 500.0
    error_rate_degraded: float = 0.05
    error_rate_unhealthy: float = 0.5
    capacity_degraded: float = 0.8
    capacity_unhealthy: float = 0.95
    anomaly: AnomalyConfig = msgspec.field(default_factory=AnomalyConfig)
    anomaly_cooldown_s: float = 60.0

    def __post_init__(self) -> None:
        for field in ("max_points", "max_alerts", "max_anomalies"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"MonitoringConfig.{field}: expected an int >= 1, got {value!r}")
        _positive("MonitoringConfig.probe_timeout_s", self.probe_timeout_s)
        _positive("MonitoringConfig.health_window_s", self.health_window_s)
        _positive("MonitoringConfig.latency_degraded_ms", self.latency_degraded_ms)
        _positive("MonitoringConfig.anomaly_cooldown_s", self.anomaly_cooldown_s, allow_zero=True)
        for field in (
            "error_rate_degraded",
            "error_rate_unhealthy",
            "capacity_degraded",
            "capacity_unhealthy",
        ):
            _fraction(f"MonitoringConfig.{field}", getattr(self, field))


Tags = dict[str, str]
"""Labels of a recorded point (``{"region": "us-west"}``); see :func:`check_tags`."""

MAX_TAGS = 32
"""Most tags one point may carry."""
MAX_TAG_LEN = 128
"""Longest tag name or value, in characters."""


def check_tags(tags: object, field: str = "tags") -> Tags:
    """Return ``tags`` as a fresh ``dict[str, str]``, or raise ``ConfigError`` naming ``field``.

    At most :data:`MAX_TAGS` entries; names and values are strings of at most
    :data:`MAX_TAG_LEN` characters (a point's memory stays bounded).
    """
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise ConfigError(f"{field}: expected a mapping of strings, got {tags!r:.80}")
    if len(tags) > MAX_TAGS:
        raise ConfigError(f"{field}: at most {MAX_TAGS} tags, got {len(tags)}")
    for key, value in tags.items():
        for what, text in (("name", key), ("value", value)):
            if not isinstance(text, str) or len(text) > MAX_TAG_LEN:
                raise ConfigError(
                    f"{field}: tag {what} {text!r:.80} is not a string of at most "
                    f"{MAX_TAG_LEN} characters"
                )
    return dict(tags)


class MetricPoint(msgspec.Struct, frozen=True):
    """One sample of a series: wall-clock ``time.time()`` stamp (seconds), value, tags."""

    timestamp: float
    value: float
    tags: Tags = {}


class MetricSample(msgspec.Struct, frozen=True):
    """A point with the series it belongs to (the result of a query across series)."""

    edge: str
    metric: str
    timestamp: float
    value: float
    tags: Tags = {}


class MetricStats(msgspec.Struct, frozen=True):
    """Aggregates of one series over a window; every field but ``count`` is None if empty.

    Percentiles use linear interpolation between closest ranks (Hyndman & Fan type 7, the
    default of numpy and ``statistics.quantiles(method="inclusive")``). ``stddev`` is the
    population standard deviation.
    """

    count: int
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    stddev: float | None = None
    last: float | None = None


class Anomaly(msgspec.Struct, frozen=True):
    """A point the EWMA detector found more than ``z_threshold`` deviations from expected."""

    edge: str
    metric: str
    timestamp: float
    value: float
    expected: float
    stddev: float
    z_score: float


class Analytics(msgspec.Struct, frozen=True):
    """Result of :meth:`MonitoringService.get_analytics`.

    Attributes:
        edges: ``edges[edge][metric]`` aggregates over ``[start, end]``.
        anomalies: anomalies found by running a fresh detector over each window's points in
            timestamp order (deterministic for the same data).
        time_range_s: the window length.
        start: window start (wall-clock seconds since the epoch).
        end: window end.
    """

    edges: dict[str, dict[str, MetricStats]]
    anomalies: list[Anomaly]
    time_range_s: float
    start: float
    end: float


class EdgeLoad(msgspec.Struct, frozen=True):
    """The daemon's counters and gauges from ``/admin/health`` (``load`` object)."""

    requests_total: int = 0
    errors_total: int = 0
    reads_total: int = 0
    writes_total: int = 0
    inflight: int = 0
    held_writes: int = 0
    active_transfers: int = 0


class EdgeCapacity(msgspec.Struct, frozen=True):
    """The daemon's capacity (``capacity`` object); a None limit means unlimited."""

    max_bytes: int | None = None
    used_bytes: int = 0
    free_bytes: int | None = None
    max_workloads: int | None = None
    used_workloads: int = 0

    @property
    def usage(self) -> float | None:
        """The larger of bytes and workload usage as a fraction, None when both unlimited."""
        ratios = [
            used / limit
            for used, limit in (
                (self.used_bytes, self.max_bytes),
                (self.used_workloads, self.max_workloads),
            )
            if limit is not None and limit > 0
        ]
        return max(ratios) if ratios else None


class EdgeHealth(msgspec.Struct, frozen=True):
    """Health of one edge, from its latest probe and its recent series.

    Attributes:
        edge: edge name.
        status: see docs/monitoring.md for the rules, in the order they apply.
        reasons: why the status is not ``healthy`` (empty when healthy).
        monitored: a probe loop is running for it.
        url: the URL last probed (None if never probed).
        last_probe_at: wall-clock time of the latest probe, None if never probed.
        last_success_at: latest probe that got a 200 with a valid report.
        http_status: HTTP status of the latest probe (None if it got no answer).
        error: what went wrong with the latest probe, if anything.
        latency_ms: round trip of the latest answered probe.
        latency_p95_ms: p95 of ``latency`` over the health window.
        error_rate: mean of ``error_rate`` over the health window.
        throughput: latest requests/s.
        capacity_usage: the larger of bytes and workload usage (fraction), None if unlimited.
        uptime_s: daemon uptime from the latest report.
        workloads: workloads hosted, from the latest report.
        load: the latest report's load counters.
        capacity: the latest report's capacity.
    """

    edge: str
    status: HealthStatus
    reasons: list[str] = []
    monitored: bool = False
    url: str | None = None
    last_probe_at: float | None = None
    last_success_at: float | None = None
    http_status: int | None = None
    error: str | None = None
    latency_ms: float | None = None
    latency_p95_ms: float | None = None
    error_rate: float | None = None
    throughput: float | None = None
    capacity_usage: float | None = None
    uptime_s: float | None = None
    workloads: int | None = None
    load: EdgeLoad | None = None
    capacity: EdgeCapacity | None = None


class MonitorStatus(msgspec.Struct, frozen=True):
    """Result of :meth:`MonitoringService.start_monitor`.

    Attributes:
        edges: the edges this call started or retuned.
        monitoring: every edge monitored now.
        interval_s: probe interval of ``edges``.
        timeout_s: per-probe timeout of ``edges``.
        started_at: wall-clock time of this call.
        anomaly_detection: whether live anomaly detection is on for ``edges``.
    """

    edges: list[str]
    monitoring: list[str]
    interval_s: float
    timeout_s: float
    started_at: float
    anomaly_detection: bool


class Threshold(msgspec.Struct, frozen=True):
    """A warning and/or critical limit on a metric, for one edge or (edge None) every edge.

    ``direction="above"`` breaches when ``value > limit``; ``"below"`` when ``value < limit``.
    """

    metric: str
    warning: float | None
    critical: float | None
    edge: str | None = None
    direction: Direction = "above"
    cooldown_s: float = 60.0


class Alert(msgspec.Struct, frozen=True):
    """One fired alert; ``resolved_at`` is None while it is active.

    Attributes:
        id: sequence number, unique within a service.
        kind: ``threshold`` or ``anomaly``.
        severity: ``warning`` or ``critical`` (anomalies are warnings).
        edge: edge name.
        metric: series name.
        value: the value that fired it.
        threshold: the limit crossed (for anomalies, the edge of the expected band).
        fired_at: timestamp of the point that fired it.
        resolved_at: timestamp of the point that ended it, or None.
        message: a human-readable one-liner.
        tags: the tags of the point that fired it.
    """

    id: int
    kind: AlertKind
    severity: Severity
    edge: str
    metric: str
    value: float
    threshold: float | None
    fired_at: float
    resolved_at: float | None
    message: str
    tags: Tags = {}


class MonitoringSummary(msgspec.Struct, frozen=True):
    """Result of :meth:`MonitoringService.get_summary`.

    Attributes:
        monitored_edges: edges with a running probe loop.
        edges: status of every edge probed or with data.
        series: number of (edge, metric) series.
        points_stored: points held across all series.
        active_alerts: active alerts by severity (both keys always present).
        anomalies: anomalies detected live since the service was created.
        suppressed_alerts: alerts the cooldown suppressed.
    """

    monitored_edges: list[str]
    edges: dict[str, HealthStatus]
    series: int
    points_stored: int
    active_alerts: dict[str, int]
    anomalies: int
    suppressed_alerts: int
