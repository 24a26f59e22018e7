"""Probe loops and health against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from edge_actors.errors import ConfigError
from edge_actors.monitoring import (
    PROBE_TASK_PREFIX,
    EdgeHealth,
    MonitoringConfig,
    MonitoringService,
    ProbeTarget,
    ServiceNotRunning,
)

from .conftest import FakeEdge, send_traffic

pytestmark = pytest.mark.anyio


def probe_tasks() -> list[str]:
    return [
        t.get_name()
        for t in asyncio.all_tasks()
        if t.get_name().startswith(PROBE_TASK_PREFIX) and not t.done()
    ]


async def wait_for_points(svc: MonitoringService, edge: str, metric: str, count: int) -> None:
    with anyio.fail_after(10):
        while len(svc.query_metrics(edge, metric)) < count:
            await anyio.sleep(0.02)


async def wait_for_status(svc: MonitoringService, edge: str, status: str) -> EdgeHealth:
    with anyio.fail_after(10):
        while (health := svc.get_health([edge])[edge]).status != status:
            await anyio.sleep(0.02)
    return health


async def test_probe_loop_records_latency_throughput_and_capacity(edge: FakeEdge) -> None:
    edge.max_bytes, edge.used_bytes = 1000, 100
    async with MonitoringService() as svc:
        status = await svc.start_monitor([edge.target], interval_s=0.05)
        assert status.edges == ["edge-a"]
        assert status.monitoring == ["edge-a"]
        assert status.interval_s == 0.05
        assert status.anomaly_detection is False
        await send_traffic(edge.url, ok=20, failed=0)
        await wait_for_points(svc, "edge-a", "throughput", 3)
        latency = svc.query_metrics("edge-a", "latency")
        assert latency
        assert all(p.value > 0 for p in latency)
        throughput = svc.query_metrics("edge-a", "throughput")
        assert all(p.value >= 0 for p in throughput)
        assert [p.value for p in svc.query_metrics("edge-a", "capacity_usage")][-1] == 0.1
        health = svc.get_health(["edge-a"])["edge-a"]
        assert health.status == "healthy"
        assert health.monitored is True
        assert health.http_status == 200
        assert health.capacity is not None
        assert health.capacity.max_bytes == 1000
        assert health.load is not None
        assert health.load.requests_total >= 20
        assert health.capacity_usage == 0.1
        assert edge.health_calls >= 3


async def test_throughput_and_error_rate_come_from_counter_deltas(edge: FakeEdge) -> None:
    async with MonitoringService() as svc:
        await svc.probe_now([edge.target])
        assert svc.query_metrics("edge-a", "throughput") == []  # one sample has no delta
        await send_traffic(edge.url, ok=30, failed=10)
        await svc.probe_now([edge.target])
        [rate] = svc.query_metrics("edge-a", "throughput")
        assert rate.value > 0
        errors = svc.query_metrics("edge-a", "error_rate")
        # errors / requests over the interval; the second probe is one of the 41 requests.
        assert [p.value for p in errors] == [0.0, 10 / 41]
        health = svc.get_health(["edge-a"])["edge-a"]
        assert health.throughput == rate.value
        assert health.error_rate == pytest.approx((0 + 10 / 41) / 2)


async def test_stopped_server_becomes_unreachable(edge: FakeEdge) -> None:
    async with MonitoringService() as svc:
        await svc.start_monitor([edge.target], interval_s=0.05)
        await wait_for_status(svc, "edge-a", "healthy")
        await edge.stop()
        health = await wait_for_status(svc, "edge-a", "unreachable")
        assert health.http_status is None
        assert health.error
        assert health.last_success_at is not None
        assert health.last_probe_at is not None
        assert health.last_probe_at > health.last_success_at
        assert svc.query_metrics("edge-a", "error_rate")[-1].value == 1.0


async def test_500_answer_is_unhealthy(edge: FakeEdge) -> None:
    edge.health_status = 500
    async with MonitoringService() as svc:
        result = await svc.probe_now([edge.target])
    health = result["edge-a"]
    assert health.status == "unhealthy"
    assert health.http_status == 500
    assert health.error is not None
    assert "HTTP 500" in health.error
    assert health.reasons
    assert health.latency_ms is not None


async def test_wrong_token_is_unhealthy(edge: FakeEdge) -> None:
    target = ProbeTarget(name="edge-a", url=edge.url, token="wrong")
    async with MonitoringService() as svc:
        health = (await svc.probe_now([target]))["edge-a"]
    assert health.status == "unhealthy"
    assert health.http_status == 401
    assert edge.health_calls == 0


async def test_slow_server_times_out_as_unreachable(edge: FakeEdge) -> None:
    edge.delay_s = 5.0
    async with MonitoringService(MonitoringConfig(probe_timeout_s=0.2)) as svc:
        health = (await svc.probe_now([edge.target]))["edge-a"]
    assert health.status == "unreachable"
    assert health.error is not None
    assert "no answer within 0.2 s" in health.error


@pytest.mark.parametrize(
    ("used", "status"), [(500, "healthy"), (850, "degraded"), (960, "unhealthy")]
)
async def test_capacity_usage_drives_status(edge: FakeEdge, used: int, status: str) -> None:
    edge.max_bytes, edge.used_bytes = 1000, used
    async with MonitoringService() as svc:
        health = (await svc.probe_now([edge.target]))["edge-a"]
    assert health.status == status
    assert health.capacity_usage == used / 1000


async def test_workload_capacity_counts_too(edge: FakeEdge) -> None:
    edge.max_workloads, edge.used_workloads = 10, 10
    async with MonitoringService() as svc:
        health = (await svc.probe_now([edge.target]))["edge-a"]
    assert health.status == "unhealthy"
    assert health.capacity_usage == 1.0
    assert health.workloads == 10


async def test_high_error_rate_is_unhealthy_then_degraded(edge: FakeEdge) -> None:
    async with MonitoringService() as svc:
        await svc.probe_now([edge.target])
        await send_traffic(edge.url, ok=0, failed=20)
        health = (await svc.probe_now([edge.target]))["edge-a"]
        # Mean over the window: (0 + 20/21) / 2 is just under 0.5 -> degraded (the
        # second probe is the 21st request of the interval).
        assert health.status == "degraded"
        await send_traffic(edge.url, ok=0, failed=20)
        health = (await svc.probe_now([edge.target]))["edge-a"]
        assert health.status == "unhealthy"
        assert any("error rate" in r for r in health.reasons)


async def test_counter_reset_after_daemon_restart(edge: FakeEdge) -> None:
    async with MonitoringService() as svc:
        await send_traffic(edge.url, ok=50, failed=0)
        await svc.probe_now([edge.target])
        edge.requests_total, edge.errors_total, edge.uptime_s = 0, 0, 1.0
        await send_traffic(edge.url, ok=4, failed=1)
        await svc.probe_now([edge.target])
        errors = svc.query_metrics("edge-a", "error_rate")
        assert errors[-1].value == 1 / 6  # counted from zero, not a negative delta
        assert svc.query_metrics("edge-a", "throughput")[-1].value > 0


async def test_get_health_of_never_probed_edge_is_unknown() -> None:
    svc = MonitoringService()
    health = svc.get_health(["nowhere"])["nowhere"]
    assert health.status == "unknown"
    assert health.reasons == ["never probed"]
    assert svc.get_health() == {}


async def test_probing_needs_the_running_service(edge: FakeEdge) -> None:
    svc = MonitoringService()
    with pytest.raises(ServiceNotRunning, match="probe_now"):
        await svc.probe_now([edge.target])
    with pytest.raises(ServiceNotRunning, match="start_monitor"):
        await svc.start_monitor([edge.target])


async def test_stop_monitor_leaves_no_probe_tasks(edge: FakeEdge, edge_b: FakeEdge) -> None:
    async with MonitoringService() as svc:
        await svc.start_monitor([edge.target, edge_b.target], interval_s=0.05)
        await wait_for_points(svc, "edge-a", "latency", 1)
        assert sorted(probe_tasks()) == [PROBE_TASK_PREFIX + "edge-a", PROBE_TASK_PREFIX + "edge-b"]
        assert await svc.stop_monitor(["edge-a", "not-monitored"]) == ["edge-a"]
        assert probe_tasks() == [PROBE_TASK_PREFIX + "edge-b"]
        assert svc.monitored_edges() == ["edge-b"]
        assert svc.get_health(["edge-a"])["edge-a"].monitored is False
        calls = edge.health_calls
        assert await svc.stop_monitor() == ["edge-b"]
        assert probe_tasks() == []
        # Everything (service, fake edges) runs on this loop: once every task is blocked,
        # a probe still under way would have reached the edge.
        await anyio.wait_all_tasks_blocked()
        assert edge.health_calls == calls  # really stopped
        assert svc.query_metrics("edge-a", "latency")  # data kept


async def test_leaving_the_service_cancels_probe_loops(edge: FakeEdge) -> None:
    async with MonitoringService() as svc:
        await svc.start_monitor([edge.target], interval_s=0.05)
        assert probe_tasks()
    assert probe_tasks() == []
    assert svc.running is False
    assert svc.monitored_edges() == []


async def test_body_errors_propagate_unwrapped(edge: FakeEdge) -> None:
    async def fail_inside() -> None:
        async with MonitoringService() as svc:
            await svc.start_monitor([edge.target], interval_s=0.05)
            raise KeyError("boom")

    with pytest.raises(KeyError):
        await fail_inside()
    assert probe_tasks() == []


async def test_start_monitor_again_retunes_the_same_loop(edge: FakeEdge) -> None:
    async with MonitoringService() as svc:
        await svc.start_monitor([edge.target], interval_s=60)
        await wait_for_points(svc, "edge-a", "latency", 1)
        status = await svc.start_monitor([edge.target], interval_s="50ms", anomaly_detection=True)
        assert status.interval_s == 0.05
        assert status.anomaly_detection is True
        assert probe_tasks() == [PROBE_TASK_PREFIX + "edge-a"]
        # The 60 s wait was cut short: the new interval applies at once.
        await wait_for_points(svc, "edge-a", "latency", 3)


async def test_start_monitor_rejects_bad_arguments(edge: FakeEdge) -> None:
    async with MonitoringService() as svc:
        with pytest.raises(ConfigError, match="at least one"):
            await svc.start_monitor([])
        with pytest.raises(ConfigError, match="more than once"):
            await svc.start_monitor([edge.target, edge.target])
        with pytest.raises(ConfigError, match="interval_s"):
            await svc.start_monitor([edge.target], interval_s=0)
        with pytest.raises(ConfigError, match="interval_s"):
            await svc.start_monitor([edge.target], interval_s="soon")
        assert probe_tasks() == []
    with pytest.raises(ConfigError, match="url"):
        ProbeTarget(name="x", url="127.0.0.1:80", token="t")


async def test_start_monitor_refuses_a_target_that_is_not_a_probe_target() -> None:
    async with MonitoringService() as svc:
        with pytest.raises(ConfigError, match="expected ProbeTarget items"):
            # A URL string instead of a ProbeTarget, on purpose: the check under test.
            await svc.start_monitor(["http://127.0.0.1:1"])  # type: ignore[list-item]
        assert probe_tasks() == []
