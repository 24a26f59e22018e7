"""Thresholds and alerts: escalation, cooldown, resolution, filters and validation."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from edge_actors.errors import ConfigError
from edge_actors.monitoring import MonitoringService

T0 = 1_700_000_000.0


def record(svc: MonitoringService, values: list[tuple[float, float]], edge: str = "e") -> None:
    for offset, value in values:
        svc.record_metric(edge, "latency", value, timestamp=T0 + offset)


def test_warning_escalates_to_critical_immediately_despite_cooldown() -> None:
    svc = MonitoringService()
    svc.set_threshold("latency", warning=100, critical=200, cooldown_s=60)
    record(svc, [(0, 150)])
    [warning] = svc.get_alerts(active_only=True)
    assert (warning.severity, warning.value, warning.threshold) == ("warning", 150, 100)
    record(svc, [(1, 250)])  # escalation, 1 s later: not held back by any cooldown
    warning_done, critical = svc.get_alerts()
    assert warning_done.resolved_at == T0 + 1  # superseded by the critical one
    assert (critical.severity, critical.fired_at, critical.resolved_at) == (
        "critical",
        T0 + 1,
        None,
    )
    assert svc.get_alerts(active_only=True) == [critical]
    assert svc.get_summary().active_alerts == {"warning": 0, "critical": 1}


def test_repeats_are_suppressed_within_cooldown_and_fire_after_it() -> None:
    svc = MonitoringService()
    svc.set_threshold("latency", warning=100, critical=200, cooldown_s=60)
    record(svc, [(0, 150), (1, 50)])  # fire, resolve
    record(svc, [(10, 150), (11, 160), (20, 50)])  # same severity within 60 s: suppressed
    assert [a.fired_at for a in svc.get_alerts()] == [T0]
    assert svc.get_summary().suppressed_alerts == 2
    record(svc, [(61, 170)])  # cooldown over
    alerts = svc.get_alerts()
    assert [a.fired_at for a in alerts] == [T0, T0 + 61]
    assert alerts[-1].resolved_at is None


def test_breach_lasting_through_cooldown_fires_once_it_is_over() -> None:
    svc = MonitoringService()
    svc.set_threshold("latency", warning=100, cooldown_s=30)
    record(svc, [(0, 150), (1, 50), (5, 150), (20, 150), (40, 150), (41, 150)])
    assert [a.fired_at for a in svc.get_alerts()] == [T0, T0 + 40]


def test_critical_repeat_without_escalation_obeys_cooldown() -> None:
    svc = MonitoringService()
    svc.set_threshold("latency", warning=100, critical=200, cooldown_s=60)
    record(svc, [(0, 250), (1, 50), (2, 250)])  # normal -> critical is not an escalation
    assert [(a.severity, a.fired_at) for a in svc.get_alerts()] == [("critical", T0)]
    record(svc, [(3, 150), (4, 250)])  # warning, then escalation: goes through
    assert [(a.severity, a.fired_at) for a in svc.get_alerts()] == [
        ("critical", T0),
        ("warning", T0 + 3),
        ("critical", T0 + 4),
    ]


def test_alerts_resolve_when_values_return() -> None:
    svc = MonitoringService()
    svc.set_threshold("latency", warning=100, critical=200)
    record(svc, [(0, 250), (1, 90)])
    [alert] = svc.get_alerts()
    assert alert.resolved_at == T0 + 1
    assert svc.get_alerts(active_only=True) == []
    assert svc.get_summary().active_alerts == {"warning": 0, "critical": 0}


def test_de_escalation_replaces_critical_with_warning() -> None:
    svc = MonitoringService()
    svc.set_threshold("latency", warning=100, critical=200)
    record(svc, [(0, 250), (1, 150)])
    critical, warning = svc.get_alerts()
    assert critical.resolved_at == T0 + 1
    assert (warning.severity, warning.resolved_at) == ("warning", None)


def test_below_direction() -> None:
    svc = MonitoringService()
    svc.set_threshold("throughput", warning=10, critical=1, direction="below", cooldown_s=0)
    for offset, value in [(0, 50), (1, 5), (2, 0.5), (3, 20)]:
        svc.record_metric("e", "throughput", value, timestamp=T0 + offset)
    assert [(a.severity, a.fired_at, a.resolved_at) for a in svc.get_alerts()] == [
        ("warning", T0 + 1, T0 + 2),
        ("critical", T0 + 2, T0 + 3),
    ]


def test_edge_specific_threshold_wins() -> None:
    svc = MonitoringService()
    svc.set_threshold("latency", critical=100)
    svc.set_threshold("latency", critical=500, edge="slow-edge")
    record(svc, [(0, 300)], edge="fast-edge")
    record(svc, [(0, 300)], edge="slow-edge")
    assert [a.edge for a in svc.get_alerts()] == ["fast-edge"]
    assert len(svc.get_thresholds()) == 2


def test_get_alerts_filters() -> None:
    svc = MonitoringService()
    svc.set_threshold("latency", warning=100, critical=200)
    record(svc, [(0, 150)], edge="a")
    record(svc, [(0, 250)], edge="b")
    record(svc, [(0, 150), (1, 10)], edge="c")
    assert [a.edge for a in svc.get_alerts(edge="a")] == ["a"]
    assert [a.edge for a in svc.get_alerts(severity="critical")] == ["b"]
    assert [a.edge for a in svc.get_alerts(severity="warning")] == ["a", "c"]
    assert [a.edge for a in svc.get_alerts(active_only=True)] == ["a", "b"]
    with pytest.raises(ConfigError, match="severity"):
        svc.get_alerts(severity="fatal")


def test_clear_threshold_resolves_its_alerts() -> None:
    svc = MonitoringService()
    svc.set_threshold("latency", warning=100)
    record(svc, [(0, 150)])
    assert svc.clear_threshold("latency") is True
    assert svc.get_alerts(active_only=True) == []
    assert svc.clear_threshold("latency") is False
    record(svc, [(1, 1000)])
    assert len(svc.get_alerts()) == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"warning": None, "critical": None}, "warning, critical or both"),
        ({"warning": 1, "direction": "sideways"}, "direction"),
        ({"warning": 1, "cooldown_s": -1}, "cooldown_s"),
        ({"warning": 200, "critical": 100}, "warning 200.0 must be <= critical"),
        ({"warning": 1, "critical": 5, "direction": "below"}, "must be >= critical"),
        ({"warning": "high"}, "warning"),
        ({"warning": 1, "edge": ""}, "edge"),
    ],
)
def test_bad_thresholds_are_config_errors(kwargs: dict[str, object], match: str) -> None:
    svc = MonitoringService()
    with pytest.raises(ConfigError, match=match):
        svc.set_threshold("latency", **kwargs)  # type: ignore[arg-type]
    assert svc.get_thresholds() == []


def test_alert_events_are_logged() -> None:
    svc = MonitoringService()
    svc.set_threshold("latency", warning=100)
    with capture_logs() as logs:
        record(svc, [(0, 150), (1, 50)])
    events = [(e["event"], e.get("edge"), e.get("metric")) for e in logs]
    assert ("alert_fired", "e", "latency") in events
    assert ("alert_resolved", "e", "latency") in events
    fired = next(e for e in logs if e["event"] == "alert_fired")
    assert fired["severity"] == "warning"
    assert fired["threshold"] == 100


def test_tags_travel_with_points_and_alerts_and_messages_name_units() -> None:
    svc = MonitoringService()
    svc.set_threshold("latency", critical=2.0, cooldown_s=0)
    svc.set_threshold("error_rate", warning=0.1, cooldown_s=0)
    point = svc.record_metric("e", "latency", 2.6, timestamp=T0, tags={"region": "us-west"})
    assert point.tags == {"region": "us-west"}
    svc.record_metric("e", "error_rate", 0.5, timestamp=T0 + 1)
    latency, errors = svc.get_alerts()
    assert latency.tags == {"region": "us-west"}
    assert latency.message == "latency on e is 2.6 ms, above the critical limit 2 ms"
    assert errors.tags == {}
    assert errors.message == "error_rate on e is 0.5, above the warning limit 0.1"
    assert svc.get_alerts(since=T0 + 0.5) == [errors]
    [stored] = svc.query_metrics("e", "latency", end=T0 + 10)
    assert stored.tags == {"region": "us-west"}


def test_query_samples_across_series_with_tag_filter() -> None:
    svc = MonitoringService()
    svc.record_metric("a", "latency", 1.0, timestamp=T0 + 2, tags={"svc": "api"})
    svc.record_metric("a", "error_rate", 0.0, timestamp=T0 + 1)
    svc.record_metric("b", "latency", 3.0, timestamp=T0, tags={"svc": "web"})
    every = svc.query_samples(end=T0 + 10)
    assert [(s.edge, s.metric, s.timestamp) for s in every] == [
        ("b", "latency", T0),
        ("a", "error_rate", T0 + 1),
        ("a", "latency", T0 + 2),
    ]
    assert [s.edge for s in svc.query_samples(metric="latency", end=T0 + 10)] == ["b", "a"]
    assert [s.metric for s in svc.query_samples(edge="a", end=T0 + 10)] == [
        "error_rate",
        "latency",
    ]
    [api] = svc.query_samples(tags={"svc": "api"}, end=T0 + 10)
    assert (api.edge, api.value) == ("a", 1.0)
    assert svc.series_of("a") == ["error_rate", "latency"]
    with pytest.raises(ConfigError, match="unknown metric 'nope'"):
        svc.query_samples(metric="nope")


@pytest.mark.parametrize(
    ("tags", "match"),
    [
        (["a"], "expected a mapping"),
        ({"a": 1}, "tag value 1"),
        ({str(i): "x" for i in range(33)}, "at most 32 tags"),
        ({"k": "v" * 129}, "at most 128 characters"),
    ],
)
def test_bad_tags_are_config_errors(tags: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        MonitoringService().record_metric("e", "m", 1.0, tags=tags)  # type: ignore[arg-type]
