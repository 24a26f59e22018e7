"""EWMA z-score anomaly detection: spikes flagged, steady noisy data left alone."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_actors.errors import ConfigError
from edge_actors.monitoring import AnomalyConfig, EwmaDetector, MonitoringService

T0 = 1_700_000_000.0


def flags(values: list[float], config: AnomalyConfig | None = None) -> list[int]:
    detector = EwmaDetector(config or AnomalyConfig())
    return [i for i, v in enumerate(values) if detector.update(v).anomalous]


def steady(seed: int, n: int, level: float, jitter: float) -> list[float]:
    rng = random.Random(seed)
    return [level + rng.uniform(-jitter, jitter) for _ in range(n)]


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    level=st.floats(1.0, 1e4),
    jitter_fraction=st.floats(0.01, 0.5),
)
def test_spike_in_steady_series_is_flagged(seed: int, level: float, jitter_fraction: float) -> None:
    jitter = level * jitter_fraction
    values = steady(seed, 300, level, jitter)
    values[200] = level + 20 * jitter  # far outside the noise band
    assert flags(values) == [200]


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    level=st.floats(0.0, 1e4),
    jitter_fraction=st.floats(0.001, 0.5),
)
def test_no_false_alarm_on_steady_noise(seed: int, level: float, jitter_fraction: float) -> None:
    jitter = max(level, 1.0) * jitter_fraction
    assert flags(steady(seed, 1000, level, jitter)) == []


def test_gaussian_noise_false_alarm_rate_is_small() -> None:
    # Unbounded noise has tails: |z| > 4 happens, rarely. Fixed seed, so deterministic.
    rng = random.Random(1234)
    values = [50.0 + rng.gauss(0.0, 5.0) for _ in range(20_000)]
    assert len(flags(values)) / len(values) < 0.001


def test_nothing_is_flagged_during_warmup() -> None:
    values = [10.0] * 10 + [1000.0]
    assert flags(values, AnomalyConfig(warmup=30)) == []
    assert flags(values, AnomalyConfig(warmup=5)) == [10]


def test_level_shift_is_absorbed() -> None:
    values = steady(7, 200, 100.0, 2.0) + steady(8, 400, 200.0, 2.0)
    found = flags(values)
    assert found
    assert found[0] == 200
    assert max(found) < 350  # the new level became the normal one


def test_constant_series_tolerates_tiny_changes() -> None:
    # rel_min_std keeps a flat line from turning float noise into anomalies.
    values = [0.5] * 100 + [0.5000001] * 10
    assert flags(values) == []


def test_anomaly_config_validation() -> None:
    with pytest.raises(ConfigError, match="alpha"):
        AnomalyConfig(alpha=0)
    with pytest.raises(ConfigError, match="z_threshold"):
        AnomalyConfig(z_threshold=-1)
    with pytest.raises(ConfigError, match="warmup"):
        AnomalyConfig(warmup=1)


def test_live_detection_produces_anomaly_and_alert() -> None:
    svc = MonitoringService(anomaly_detection=True)
    values = steady(3, 100, 20.0, 1.0)
    values[80] = 60.0
    for i, v in enumerate(values):
        svc.record_metric("edge-a", "latency", v, timestamp=T0 + i)
    [anomaly] = svc.get_anomalies()
    assert (anomaly.edge, anomaly.metric, anomaly.value) == ("edge-a", "latency", 60.0)
    assert anomaly.z_score > 4
    assert anomaly.expected == pytest.approx(20.0, abs=1.0)
    [alert] = svc.get_alerts()
    assert alert.kind == "anomaly"
    assert alert.severity == "warning"
    assert alert.fired_at == T0 + 80
    assert alert.resolved_at == T0 + 81  # the next normal point resolves it
    assert alert.threshold is not None
    assert alert.threshold < 60.0
    assert svc.get_summary().anomalies == 1


def test_live_detection_is_off_by_default_but_analytics_scans_on_demand() -> None:
    svc = MonitoringService()
    values = steady(4, 100, 20.0, 1.0)
    values[70] = 80.0
    for i, v in enumerate(values):
        svc.record_metric("edge-a", "latency", v, timestamp=T0 + i)
    assert svc.get_anomalies() == []
    assert svc.get_alerts() == []
    analytics = svc.get_analytics(["edge-a"], end=T0 + 100)
    assert [(a.metric, a.timestamp, a.value) for a in analytics.anomalies] == [
        ("latency", T0 + 70, 80.0)
    ]


def test_anomaly_alert_repeats_are_suppressed_within_cooldown() -> None:
    svc = MonitoringService(anomaly_detection=True)
    values = steady(5, 200, 20.0, 1.0)
    values[100] = 80.0
    values[110] = 80.0  # within the 60 s anomaly cooldown (one point per second)
    values[180] = 80.0  # after it
    for i, v in enumerate(values):
        svc.record_metric("edge-a", "latency", v, timestamp=T0 + i)
    assert [a.timestamp for a in svc.get_anomalies()] == [T0 + 100, T0 + 110, T0 + 180]
    assert [a.fired_at for a in svc.get_alerts()] == [T0 + 100, T0 + 180]
    assert svc.get_summary().suppressed_alerts == 1
