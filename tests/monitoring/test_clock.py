"""Monitoring reads "now" from its injected clock: stamps, query windows, health, rates."""

from __future__ import annotations

import datetime as dt

import pytest

from edge_actors.clock import ManualClock
from edge_actors.monitoring import MonitoringService

from .conftest import FakeEdge, send_traffic

pytestmark = pytest.mark.anyio

_START = dt.datetime(2026, 1, 15, 23, 30, tzinfo=dt.UTC)


def test_recorded_points_and_query_windows_follow_the_clock() -> None:
    clock = ManualClock(_START)
    svc = MonitoringService(clock=clock)
    first = svc.record_metric("edge-a", "latency", 10.0)
    assert first.timestamp == _START.timestamp()
    clock.advance(30 * 60)
    svc.record_metric("edge-a", "latency", 20.0)

    def values(time_range: str) -> list[float]:
        return [p.value for p in svc.query_metrics("edge-a", "latency", time_range=time_range)]

    assert values("15m") == [20.0]
    assert values("30m") == [10.0, 20.0]  # the window includes its start
    clock.advance(50 * 60)  # now 80 min after the first point, 50 after the second
    assert values("1h") == [20.0]
    analytics = svc.get_analytics(["edge-a"], time_range="1h", metrics=["latency"])
    assert analytics.end == clock.time()
    assert analytics.edges["edge-a"]["latency"].count == 1
    clock.advance(11 * 60)
    assert values("1h") == []


async def test_probes_are_stamped_by_the_clock_and_rates_use_its_time(edge: FakeEdge) -> None:
    clock = ManualClock(_START)
    async with MonitoringService(clock=clock) as svc:
        health = (await svc.probe_now([edge.target]))["edge-a"]
        assert health.last_probe_at == _START.timestamp()
        assert health.latency_p95_ms is not None
        await send_traffic(edge.url, ok=30, failed=10)
        clock.advance(10.0)
        await svc.probe_now([edge.target])
        [rate] = svc.query_metrics("edge-a", "throughput")
        assert rate.timestamp == _START.timestamp() + 10.0
        assert rate.value == pytest.approx(41 / 10.0)  # 40 requests and the probe, in 10 s
        clock.advance(svc.config.health_window_s + 11.0)
        health = svc.get_health(["edge-a"])["edge-a"]
        assert health.latency_p95_ms is None  # both probes left the health window
        assert health.error_rate is None
