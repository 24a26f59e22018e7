"""Code written against the original SDK's EdgeMonitoringNode outputs runs unchanged here.

Every test runs real workflows through ``WorkflowBuilder`` and ``LocalRuntime`` on a
private engine whose clock is a ``ManualClock`` (time windows and ISO stamps are exact),
with real embedded edges where an edge must answer. ``OriginalReader`` reads results the
way the original SDK's users did, key by key, with the types that SDK returned: any
missing key is a ``KeyError`` and any wrong type a ``TypeError``, which fail the test.
"""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
from typing import TYPE_CHECKING, Any

import pytest

from edge_actors import seed_workload
from edge_actors.clock import ManualClock
from edge_actors.runtime import (
    EnvironmentConfig,
    LocalRuntime,
    configure_environment,
    get_environment,
)
from edge_actors.workflow import WorkflowBuilder, WorkflowError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

START = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
T0 = START.timestamp()
MON = "EdgeMonitoringNode"

Results = dict[str, dict[str, Any]]
Node = tuple[str, dict[str, Any]]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def runtime(tmp_path: Path, clock: ManualClock) -> Iterator[LocalRuntime]:
    """A runtime on its own engine reading ``clock``, edges embedded under ``tmp_path``."""
    rt = LocalRuntime(clock=clock)
    configure_environment(EnvironmentConfig(data_dir=str(tmp_path / "data")), engine=rt.engine)
    try:
        yield rt
    finally:
        rt.engine.shutdown(timeout=10)


def run(
    rt: LocalRuntime, *nodes: Node, links: tuple[tuple[str, str, str, str], ...] = ()
) -> Results:
    """Run monitoring nodes ``(id, config)`` in order (each after the previous one)."""
    builder = WorkflowBuilder()
    for node_id, config in nodes:
        builder.add_node(MON, node_id, config)
    for (before, _), (after, _) in itertools.pairwise(nodes):
        builder.add_connection(before, "status", after, "input")
    for link in links:
        builder.add_connection(*link)
    results, _ = rt.execute(builder.build())
    return results


def one(rt: LocalRuntime, **config: Any) -> dict[str, Any]:
    """Run a single monitoring node and return its result."""
    return run(rt, ("n", config))["n"]


def when(text: object) -> float:
    """An ISO 8601 string of the original's outputs, as UNIX seconds."""
    if not isinstance(text, str):
        raise TypeError(f"expected an ISO 8601 string, got {text!r}")
    return dt.datetime.fromisoformat(text).timestamp()


def typed(value: object, kind: type | tuple[type, ...]) -> Any:
    """``value`` if it has the original's type, else a TypeError (as such code would hit)."""
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise TypeError(f"expected a number, got {value!r}")
    if not isinstance(value, kind):
        raise TypeError(f"expected {kind}, got {type(value).__name__}: {value!r}")
    return value


NUMBER = (int, float)


class OriginalReader:
    """Reads every key of the original SDK's monitoring contract, with its types."""

    @staticmethod
    def envelope(r: dict[str, Any]) -> None:
        assert typed(r["status"], str) in ("success", "error")

    @staticmethod
    def metric(m: dict[str, Any]) -> None:
        when(m["timestamp"])
        typed(m["edge_node"], str)
        typed(m["metric_type"], str)
        typed(m["value"], NUMBER)
        for key, value in typed(m["tags"], dict).items():
            typed(key, str), typed(value, str)

    @classmethod
    def record(cls, r: dict[str, Any]) -> None:
        cls.envelope(r)
        assert typed(r["metric_recorded"], bool) is True
        cls.metric(r["metric"])

    @classmethod
    def query(cls, r: dict[str, Any]) -> None:
        cls.envelope(r)
        for m in typed(r["metrics"], list):
            cls.metric(m)
        assert typed(r["count"], int) == len(r["metrics"])
        when(r["time_range"]["start"]), when(r["time_range"]["end"])

    @staticmethod
    def health(h: dict[str, Any]) -> None:
        typed(h["edge_node"], str)
        typed(h["status"], str)
        when(h["last_check"])
        typed(h["uptime_seconds"], NUMBER)
        for summary in typed(h["metrics_summary"], dict).values():
            for key in ("current", "avg", "min", "max"):
                typed(summary[key], NUMBER)
        for issue in typed(h["issues"], list):
            typed(issue, str)

    @classmethod
    def alert(cls, a: dict[str, Any]) -> None:
        typed(a["alert_id"], str)
        when(a["timestamp"])
        typed(a["edge_node"], str)
        typed(a["severity"], str)
        typed(a["metric_type"], str)
        typed(a["message"], str)
        typed(a["current_value"], NUMBER)
        typed(a["threshold"], NUMBER)
        typed(a["tags"], dict)

    @classmethod
    def analytics(cls, a: dict[str, Any]) -> None:
        typed(a["edge_node"], str)
        for stats in typed(a["metrics_summary"], dict).values():
            typed(stats["count"], int)
            for key in ("mean", "median", "std_dev", "min", "max", "p95", "p99"):
                typed(stats[key], NUMBER)
        for trend in typed(a["trends"], dict).values():
            typed(trend["direction"], str), typed(trend["change_percent"], NUMBER)
        for anomaly in typed(a["anomalies"], list):
            cls.alert(anomaly)
        for line in typed(a["recommendations"], list):
            typed(line, str)

    @classmethod
    def alerts(cls, r: dict[str, Any]) -> None:
        cls.envelope(r)
        for a in typed(r["alerts"], list):
            cls.alert(a)
        typed(r["count"], int), typed(r["active_count"], int)

    @staticmethod
    def threshold(r: dict[str, Any]) -> None:
        assert typed(r["threshold_set"], bool) is True
        typed(r["metric_type"], str), typed(r["severity"], str), typed(r["value"], NUMBER)

    @staticmethod
    def summary(s: dict[str, Any]) -> None:
        typed(s["monitoring_active"], bool)
        typed(s["total_nodes"], int), typed(s["active_nodes"], int)
        for key in ("health_summary", "recent_alerts"):
            for name, count in typed(s[key], dict).items():
                typed(name, str), typed(count, int)
        typed(s["total_metrics"], int)


def test_a_script_written_for_the_original_sdk_runs_unchanged(
    runtime: LocalRuntime, clock: ManualClock
) -> None:
    """Only the original's parameter names; every key of its contract read with its type."""
    read = OriginalReader
    setup = run(
        runtime,
        ("crit", {"operation": "set_threshold", "metric_type": "latency",
                  "severity": "critical", "threshold_value": 2.0}),
        ("warn", {"operation": "set_threshold", "metric_type": "latency",
                  "severity": "warning", "threshold_value": 0.5}),
    )  # fmt: skip
    for r in setup.values():
        read.threshold(r)
    assert (setup["warn"]["severity"], setup["warn"]["value"]) == ("warning", 0.5)
    # The warning limit joined the critical one (the original sets one level at a time).
    assert setup["warn"]["threshold"]["critical"] == 2000.0  # ms, this project's unit
    tags = {"region": "us-west", "service": "api"}
    recorded = []
    for value in (0.25, 0.7, 2.6):
        clock.advance(10)
        recorded.append(
            one(runtime, operation="record_metric", edge_node="edge-west-1",
                metric_type="latency", value=value, tags=tags)
        )  # fmt: skip
    for r in recorded:
        read.record(r)
    assert recorded[-1]["metric"] == {
        "timestamp": dt.datetime.fromtimestamp(T0 + 30, dt.UTC).isoformat(),
        "edge_node": "edge-west-1",
        "metric_type": "latency",
        "value": 2.6,
        "tags": tags,
    }
    assert recorded[-1]["point"]["value"] == pytest.approx(2600.0)
    assert recorded[-1]["unit"] == "ms"
    clock.advance(30)
    r = run(
        runtime,
        ("query", {"operation": "query_metrics", "edge_node": "edge-west-1",
                   "metric_type": "latency", "time_range_minutes": 60}),
        ("health", {"operation": "get_health", "edge_node": "edge-west-1"}),
        ("analytics", {"operation": "get_analytics", "edge_node": "edge-west-1"}),
        ("alerts", {"operation": "get_alerts", "edge_node": "edge-west-1",
                    "severity": "critical"}),
        ("summary", {"operation": "get_summary"}),
        ("start", {"operation": "start_monitor", "edge_nodes": ["edge-west-2"]}),
        ("stop", {"operation": "stop_monitor"}),
    )  # fmt: skip
    read.query(r["query"])
    assert r["query"]["count"] == 3
    assert [m["value"] for m in r["query"]["metrics"]] == pytest.approx([0.25, 0.7, 2.6])
    assert when(r["query"]["time_range"]["end"]) == T0 + 60
    assert when(r["query"]["time_range"]["start"]) == T0 + 60 - 3600
    health = r["health"]["health"]
    read.health(health)
    assert health["edge_node"] == "edge-west-1"
    assert health["status"] == "unknown"  # never started, so never probed: not "healthy"
    assert "not running" in health["issues"][0]
    latency = health["metrics_summary"]["latency"]
    assert (latency["current"], latency["max"]) == pytest.approx((2.6, 2.6))
    assert latency["avg"] == pytest.approx(statistics.fmean([0.25, 0.7, 2.6]))
    analytics = r["analytics"]["analytics"]
    read.analytics(analytics)
    stats = analytics["metrics_summary"]["latency"]
    assert stats["count"] == 3
    assert stats["median"] == pytest.approx(0.7)
    assert stats["std_dev"] == pytest.approx(statistics.stdev([0.25, 0.7, 2.6]))
    assert any("latency p95" in line for line in analytics["recommendations"])
    read.alerts(r["alerts"])
    [alert] = r["alerts"]["alerts"]
    assert (alert["current_value"], alert["threshold"]) == pytest.approx((2.6, 2.0))
    assert alert["tags"] == tags
    assert alert["message"] == (
        "latency on edge-west-1 is 2600 ms, above the critical limit 2000 ms"
    )
    assert (r["alerts"]["count"], r["alerts"]["active_count"]) == (1, 1)
    summary = r["summary"]["summary"]
    read.summary(summary)
    assert summary["total_metrics"] == 3
    assert summary["active_nodes"] == 1
    assert summary["recent_alerts"] == {"critical": 1, "warning": 1}
    assert summary["monitoring_active"] is False
    assert r["start"]["monitor_active"] is True
    assert r["stop"]["monitor_active"] is False


def test_the_guides_edge_nodes_list_gives_one_health_dict_per_edge(
    runtime: LocalRuntime, clock: ManualClock
) -> None:
    seed_workload("target-edge", "app", records=5, engine=runtime.engine)
    clock.advance(42)  # embedded edges keep time by the runtime's clock: uptime follows it
    health = one(runtime, operation="get_health", edge_nodes=["target-edge", "nobody-edge"])
    assert health["status"] == "success"
    for edge, h in health["health"].items():
        OriginalReader.health(h)
        assert h["edge_node"] == edge
    started, nobody = health["health"]["target-edge"], health["health"]["nobody-edge"]
    assert started["status"] == "healthy", started
    assert started["uptime_seconds"] == 42
    assert started["uptime_seconds"] == started["uptime_s"]
    assert started["http_status"] == 200
    assert nobody["status"] == "unknown"
    assert nobody["issues"] == [
        "edge 'nobody-edge' is not running: nobody configured or started it (embedded edges "
        "start when a plan, a seed or start_monitor names them; started: target-edge)"
    ]
    env = runtime.engine.call(get_environment, runtime.engine)
    assert env.edges() == ["target-edge"]  # asking about it did not start it
    assert env.daemon("nobody-edge") is None


def test_analytics_trends_anomalies_and_recommendations(
    runtime: LocalRuntime, clock: ManualClock
) -> None:
    rising = [0.1] * 40 + [0.1 + 0.2 * i for i in range(1, 11)]
    for i, value in enumerate(rising):
        one(runtime, operation="record_metric", edge_node="edge-t", metric_type="latency",
            value=value, timestamp=T0 + i)  # fmt: skip
    for i in range(12):
        one(runtime, operation="record_metric", edge_node="edge-t", metric_type="error_rate",
            value=0.2, timestamp=T0 + i)  # fmt: skip
    clock.advance(100)
    analytics = one(runtime, operation="get_analytics", edge_node="edge-t", time_range="1h")[
        "analytics"
    ]
    OriginalReader.analytics(analytics)
    assert analytics["trends"]["latency"]["direction"] == "increasing"
    assert analytics["trends"]["latency"]["change_percent"] == pytest.approx(
        (statistics.fmean(rising[-10:]) - 0.1) / 0.1 * 100
    )
    assert analytics["trends"]["error_rate"] == {"direction": "stable", "change_percent": 0.0}
    [anomaly] = analytics["anomalies"][:1]
    assert anomaly["edge_node"] == "edge-t"
    assert anomaly["metric_type"] == "latency"
    assert anomaly["current_value"] == pytest.approx(0.3)  # the first point of the rise
    assert anomaly["value"] == pytest.approx(300.0)
    assert anomaly["unit"] == "ms"
    lines = analytics["recommendations"]
    assert any(line.startswith("consider scaling edge-t: latency p95 is") for line in lines)
    assert "investigate errors on edge-t: error rate is 20.0% (over 5%)" in lines
    assert any(line.startswith("latency on edge-t rose") for line in lines)
    # This project's richer keys stay beside the original's.
    assert analytics["edges"]["edge-t"]["latency"]["count"] == len(rising)
    assert analytics["time_range_s"] == 3600.0


def test_latency_units_are_explicit(runtime: LocalRuntime) -> None:
    r = run(
        runtime,
        ("t", {"operation": "set_threshold", "metric": "latency", "critical": "2ms",
               "cooldown": 0}),
        ("v", {"operation": "record_metric", "edge": "e", "metric": "latency",
               "value": "2.6ms"}),
        ("a", {"operation": "get_alerts", "edge": "e"}),
    )  # fmt: skip
    assert r["t"]["threshold"]["critical"] == 2.0  # ms
    assert (r["t"]["severity"], r["t"]["value"]) == ("critical", pytest.approx(0.002))
    [alert] = r["a"]["alerts"]
    assert alert["message"] == "latency on e is 2.6 ms, above the critical limit 2 ms"
    assert (alert["value"], alert["limit"], alert["unit"]) == (pytest.approx(2.6), 2.0, "ms")
    assert (alert["current_value"], alert["threshold"]) == pytest.approx((0.0026, 0.002))
    # Unitless metrics pass through; a lower-is-worse metric breaches below its limit.
    r = run(
        runtime,
        ("t", {"operation": "set_threshold", "metric_type": "availability",
               "threshold_value": 0.9, "severity": "critical"}),
        ("v", {"operation": "record_metric", "edge_node": "e", "metric_type": "availability",
               "value": 0.5}),
        ("a", {"operation": "get_alerts", "edge_node": "e", "severity": "critical"}),
    )  # fmt: skip
    assert r["t"]["threshold"]["direction"] == "below"
    [alert] = [a for a in r["a"]["alerts"] if a["metric_type"] == "availability"]
    assert (alert["current_value"], alert["threshold"]) == (0.5, 0.9)


def test_failures_are_status_error_with_the_detail(runtime: LocalRuntime) -> None:
    unknown = one(runtime, operation="query_metrics", edge_node="e", metric_type="nope")
    assert unknown["status"] == "error"
    assert unknown["error"] == (
        "query_metrics: metric: unknown metric 'nope' (known: capacity_usage, error_rate, "
        "latency, throughput)"
    )
    empty = one(runtime, operation="start_monitor")
    assert empty["status"] == "error"
    assert "no edge to monitor" in empty["error"]
    skipped = run(
        runtime,
        ("bad", {"operation": "get_analytics", "edge_node": "e", "metrics": ["nope"]}),
        ("after", {"operation": "get_summary"}),
    )
    assert skipped["bad"]["status"] == "error"
    assert skipped["after"]["status"] == "skipped"
    assert "'bad' failed" in skipped["after"]["error"]


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"operation": "set_threshold", "metric_type": "latency", "severity": "error",
          "threshold_value": 1}, "severity: expected 'warning' or 'critical'"),
        ({"operation": "set_threshold", "metric_type": "latency", "severity": "critical",
          "warning": 1},
         "severity: names the level threshold_value sets"),
        ({"operation": "record_metric", "edge_node": "e", "metric_type": "latency",
          "value": "fast"}, "value: cannot parse 'fast'"),
        ({"operation": "record_metric", "edge_node": "e", "value": 1},
         "missing required parameter 'metric' or 'metric_type'"),
        ({"operation": "query_metrics", "time_range_minutes": -5}, "time_range_minutes"),
        ({"operation": "get_health", "edge_node": "e", "edge_nodes": ["e"]}, "not both"),
    ],
)  # fmt: skip
def test_original_parameters_are_checked_at_build(config: dict[str, Any], fragment: str) -> None:
    builder = WorkflowBuilder()
    builder.add_node(MON, "watch", config)
    with pytest.raises(WorkflowError, match="'watch'") as caught:
        builder.build()
    assert fragment in str(caught.value)


def test_an_original_parameter_can_arrive_over_a_connection(runtime: LocalRuntime) -> None:
    r = run(
        runtime,
        ("rec", {"operation": "record_metric", "edge_node": "edge-c", "metric_type": "latency",
                 "value": 0.01}),
        ("query", {"operation": "query_metrics", "metric_type": "latency"}),
        ("health", {"operation": "get_health"}),
        links=(("query", "metrics.0.edge_node", "health", "edge_node"),),
    )  # fmt: skip
    assert r["query"]["samples"][0]["edge"] == "edge-c"
    assert r["health"]["health"]["edge_node"] == "edge-c"
    assert r["health"]["health"]["status"] == "unknown"
