"""Monitoring a real EdgeDaemon on a loopback port: real traffic, real counters."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.edge import AdminClient, EdgeClient, EdgeConfig, EdgeDaemon, EdgeHTTPError
from edge_actors.monitoring import MonitoringService, ProbeTarget

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

TOKEN = "monitoring-test-token-0123456789abcdefghij"


def config(tmp_path: Path, **overrides: object) -> EdgeConfig:
    settings: dict[str, object] = {
        "name": "edge-real",
        "data_dir": str(tmp_path / "edge-real"),
        "cluster_token": TOKEN,
        "shutdown_timeout_s": 2.0,
    }
    settings.update(overrides)
    return EdgeConfig(**settings)  # type: ignore[arg-type]


async def test_probe_real_daemon_traffic_capacity_and_shutdown(tmp_path: Path) -> None:
    async with MonitoringService() as svc:
        async with EdgeDaemon(config(tmp_path, max_bytes=10_000, max_workloads=4)) as daemon:
            target = ProbeTarget(name="edge-real", url=daemon.url, token=TOKEN)
            first = (await svc.probe_now([target]))["edge-real"]
            assert first.status == "healthy"
            assert first.workloads == 0
            async with AdminClient(daemon.url, TOKEN) as admin:
                await admin.create_workload("app")
            async with EdgeClient(daemon.url, token=TOKEN) as client:
                for i in range(20):
                    await client.put("app", f"k{i}", b"x" * 100)
                with pytest.raises(EdgeHTTPError):
                    await client.put("missing-workload", "k", b"v")
            health = (await svc.probe_now([target]))["edge-real"]
            assert health.status == "healthy"
            assert health.workloads == 1
            assert health.load is not None
            assert health.load.writes_total >= 20
            assert health.capacity is not None
            assert health.capacity.max_bytes == 10_000
            assert health.capacity_usage == max(health.capacity.used_bytes / 10_000, 1 / 4)
            [rate] = svc.query_metrics("edge-real", "throughput")
            assert rate.value > 0
            errors = svc.query_metrics("edge-real", "error_rate")
            assert errors[0].value == 0.0
            assert 0 < errors[1].value < 0.1  # one failed write among ~23 requests
        # The daemon is gone: the next probe cannot connect.
        gone = (await svc.probe_now([target]))["edge-real"]
        assert gone.status == "unreachable"
        assert gone.last_success_at == health.last_probe_at


async def test_wrong_token_on_real_daemon_is_unhealthy(tmp_path: Path) -> None:
    async with MonitoringService() as svc, EdgeDaemon(config(tmp_path)) as daemon:
        target = ProbeTarget(name="edge-real", url=daemon.url, token="wrong")
        health = (await svc.probe_now([target]))["edge-real"]
    assert health.status == "unhealthy"
    assert health.http_status == 401


async def test_monitor_loop_on_real_daemon(tmp_path: Path) -> None:
    async with MonitoringService() as svc, EdgeDaemon(config(tmp_path)) as daemon:
        target = ProbeTarget(name="edge-real", url=daemon.url, token=TOKEN)
        await svc.start_monitor([target], interval_s=0.05, anomaly_detection=True)
        with anyio.fail_after(10):
            while len(svc.query_metrics("edge-real", "throughput")) < 3:
                await anyio.sleep(0.02)
        health = svc.get_health()["edge-real"]
        assert health.status == "healthy"
        assert health.monitored is True
        assert health.latency_p95_ms is not None
        assert await svc.stop_monitor() == ["edge-real"]
