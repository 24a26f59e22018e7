"""Series storage, time ranges, aggregates and percentiles against reference computations."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_actors.errors import ConfigError
from edge_actors.monitoring import MonitoringConfig, MonitoringService, percentile

T0 = 1_700_000_000.0
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


def test_percentile_linear_interpolation_on_known_data() -> None:
    data = [15.0, 20.0, 35.0, 40.0, 50.0]
    # h = (n - 1) * q / 100: p50 -> h = 2 -> 35; p95 -> h = 3.8 -> 40 + 0.8 * 10 = 48.
    assert percentile(data, 50) == 35.0
    assert percentile(data, 95) == pytest.approx(48.0)
    assert percentile(data, 99) == pytest.approx(49.6)
    assert percentile(data, 0) == 15.0
    assert percentile(data, 100) == 50.0
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)


@settings(max_examples=200, deadline=None)
@given(st.lists(finite, min_size=2, max_size=200))
def test_percentile_matches_statistics_inclusive(values: list[float]) -> None:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    ordered = sorted(values)
    for q in (1, 25, 50, 95, 99):
        assert percentile(ordered, q) == pytest.approx(cuts[q - 1], rel=1e-9, abs=1e-6)


def test_analytics_aggregates_match_reference() -> None:
    svc = MonitoringService()
    values = [12.0, 15.5, 9.0, 30.0, 11.0, 14.0, 13.0, 200.0, 12.5, 10.0]
    for i, v in enumerate(values):
        svc.record_metric("edge-a", "latency", v, timestamp=T0 + i)
    svc.record_metric("edge-a", "latency", 999.0, timestamp=T0 - 7200)  # outside the window
    analytics = svc.get_analytics(["edge-a"], time_range="1h", end=T0 + 100)
    stats = analytics.edges["edge-a"]["latency"]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    assert stats.count == len(values)
    assert stats.mean == pytest.approx(statistics.fmean(values))
    assert stats.min == 9.0
    assert stats.max == 200.0
    assert stats.p50 == pytest.approx(statistics.median(values))
    assert stats.p95 == pytest.approx(cuts[94])
    assert stats.p99 == pytest.approx(cuts[98])
    assert stats.stddev == pytest.approx(statistics.pstdev(values))
    assert stats.last == 10.0
    # Metrics without data are reported empty, not omitted.
    assert analytics.edges["edge-a"]["throughput"].count == 0
    assert analytics.edges["edge-a"]["throughput"].mean is None
    assert analytics.time_range_s == 3600.0
    assert analytics.end == T0 + 100


@settings(max_examples=50, deadline=None)
@given(st.lists(finite, min_size=1, max_size=100))
def test_analytics_property_matches_statistics(values: list[float]) -> None:
    svc = MonitoringService()
    for i, v in enumerate(values):
        svc.record_metric("e", "custom", v, timestamp=T0 + i)
    stats = svc.get_analytics(["e"], metrics=["custom"], end=T0 + 1000).edges["e"]["custom"]
    assert stats.count == len(values)
    assert stats.mean == pytest.approx(math.fsum(values) / len(values), abs=1e-6)
    assert stats.min == min(values)
    assert stats.max == max(values)
    assert stats.p50 == pytest.approx(statistics.median(values), abs=1e-6)


def test_query_time_ranges() -> None:
    svc = MonitoringService()
    for age in (7200, 1800, 600, 20, 5):
        svc.record_metric("edge-a", "latency", float(age), timestamp=T0 - age)

    def values(rng: str | float) -> list[float]:
        return [p.value for p in svc.query_metrics("edge-a", "latency", time_range=rng, end=T0)]

    assert values("1h") == [1800.0, 600.0, 20.0, 5.0]
    assert values("15m") == [600.0, 20.0, 5.0]
    assert values("30s") == [20.0, 5.0]
    assert values(10) == [5.0]
    assert values("3h") == [7200.0, 1800.0, 600.0, 20.0, 5.0]


def test_out_of_order_timestamps_are_sorted() -> None:
    svc = MonitoringService()
    for ts in (T0 + 3, T0 + 1, T0 + 2):
        svc.record_metric("e", "latency", ts - T0, timestamp=ts)
    assert [p.timestamp for p in svc.query_metrics("e", "latency", end=T0 + 10)] == [
        T0 + 1,
        T0 + 2,
        T0 + 3,
    ]


def test_default_timestamp_is_now() -> None:
    svc = MonitoringService()
    point = svc.record_metric("e", "latency", 1.0)
    assert svc.query_metrics("e", "latency", time_range="1m") == [point]


def test_ring_buffer_keeps_memory_bounded() -> None:
    svc = MonitoringService(MonitoringConfig(max_points=100))
    for i in range(1000):
        svc.record_metric("e", "latency", float(i), timestamp=T0 + i)
    points = svc.query_metrics("e", "latency", time_range="1d", end=T0 + 1000)
    assert [p.value for p in points] == [float(i) for i in range(900, 1000)]
    assert svc.get_summary().points_stored == 100


@pytest.mark.parametrize("bad", ["1 fortnight", "soon", "-5m", -1, 0, "", float("nan")])
def test_bad_time_range_is_config_error(bad: str | float) -> None:
    svc = MonitoringService()
    svc.record_metric("e", "latency", 1.0)
    with pytest.raises(ConfigError, match="time_range"):
        svc.query_metrics("e", "latency", time_range=bad)
    with pytest.raises(ConfigError, match="time_range"):
        svc.get_analytics(["e"], time_range=bad)


def test_unknown_metric_names_it_and_the_known_ones() -> None:
    svc = MonitoringService()
    with pytest.raises(ConfigError, match="'cpu'") as info:
        svc.get_analytics(["e"], metrics=["latency", "cpu"])
    message = str(info.value)
    for known in ("latency", "error_rate", "throughput", "capacity_usage"):
        assert known in message
    with pytest.raises(ConfigError, match="unknown metric 'cpu'"):
        svc.query_metrics("e", "cpu")
    svc.record_metric("e", "cpu", 0.5, timestamp=T0)
    assert "cpu" in svc.known_metrics()
    assert svc.get_analytics(["e"], metrics=["cpu"], end=T0).edges["e"]["cpu"].count == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"edge": "", "metric": "latency", "value": 1.0}, "edge"),
        ({"edge": "e", "metric": "bad name", "value": 1.0}, "metric"),
        ({"edge": "e", "metric": "", "value": 1.0}, "metric"),
        ({"edge": "e", "metric": "latency", "value": float("inf")}, "value"),
        ({"edge": "e", "metric": "latency", "value": True}, "value"),
        ({"edge": "e", "metric": "latency", "value": 1.0, "timestamp": float("nan")}, "timestamp"),
    ],
)
def test_record_metric_rejects_bad_input(kwargs: dict[str, object], match: str) -> None:
    svc = MonitoringService()
    with pytest.raises(ConfigError, match=match):
        svc.record_metric(**kwargs)  # type: ignore[arg-type]
    assert svc.get_summary().points_stored == 0


def test_edge_lists_must_be_lists() -> None:
    svc = MonitoringService()
    with pytest.raises(ConfigError, match="edge_nodes"):
        svc.get_analytics("edge-a")
    with pytest.raises(ConfigError, match="metrics"):
        svc.get_analytics(["edge-a"], metrics="latency")


def test_summary_counts_series_points_and_edges() -> None:
    svc = MonitoringService()
    svc.record_metric("edge-a", "latency", 3.0, timestamp=T0)
    svc.record_metric("edge-a", "cpu", 3.0, timestamp=T0)
    svc.record_metric("edge-b", "latency", 4.0, timestamp=T0)
    summary = svc.get_summary()
    assert summary.series == 3
    assert summary.points_stored == 3
    assert summary.edges == {"edge-a": "unknown", "edge-b": "unknown"}
    assert summary.monitored_edges == []
    assert summary.active_alerts == {"warning": 0, "critical": 0}
