"""The public surface of edge_actors.monitoring is what docs/monitoring.md promises."""

from __future__ import annotations

import msgspec
import pytest

import edge_actors.monitoring as monitoring
from edge_actors.errors import ConfigError, EdgeActorsError
from edge_actors.monitoring import MonitoringConfig, MonitoringService

T0 = 1_700_000_000.0


def test_public_names() -> None:
    assert sorted(monitoring.__all__) == sorted(
        [
            "BUILTIN_METRICS",
            "PROBE_TASK_PREFIX",
            "Alert",
            "Analytics",
            "Anomaly",
            "AnomalyConfig",
            "EdgeCapacity",
            "EdgeHealth",
            "EdgeLoad",
            "EwmaDetector",
            "HealthStatus",
            "MetricPoint",
            "MetricSample",
            "MetricStats",
            "MonitorStatus",
            "MonitoringConfig",
            "MonitoringError",
            "MonitoringSummary",
            "ProbeTarget",
            "ServiceNotRunning",
            "Threshold",
            "check_tags",
            "percentile",
        ]
    )
    for name in monitoring.__all__:
        assert getattr(monitoring, name) is not None
    assert issubclass(monitoring.MonitoringError, EdgeActorsError)


def test_results_convert_to_builtins() -> None:
    svc = MonitoringService(anomaly_detection=True)
    svc.set_threshold("latency", warning=10)
    for i in range(5):
        svc.record_metric("e", "latency", 5.0 + 10 * (i == 4), timestamp=T0 + i)
    results = [
        svc.get_analytics(["e"], end=T0 + 10),
        svc.get_summary(),
        svc.get_health(["e"]),
        svc.get_alerts(),
        svc.query_metrics("e", "latency", end=T0 + 10),
        svc.get_thresholds(),
    ]
    for result in results:
        plain = msgspec.to_builtins(result)
        assert msgspec.json.decode(msgspec.json.encode(plain)) == plain
    analytics = msgspec.to_builtins(results[0])
    assert analytics["edges"]["e"]["latency"]["count"] == 5
    assert msgspec.to_builtins(results[3])[0]["severity"] == "warning"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_points": 0}, "max_points"),
        ({"probe_timeout_s": 0}, "probe_timeout_s"),
        ({"capacity_unhealthy": 1.5}, "capacity_unhealthy"),
        ({"anomaly_cooldown_s": -1}, "anomaly_cooldown_s"),
    ],
)
def test_config_validation(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        MonitoringConfig(**kwargs)  # type: ignore[arg-type]
