"""Hold leases and hold times follow the daemon's injected clock (no wall-clock waits)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest
import structlog.testing
from waiting import until

from edge_actors.clock import ManualClock
from edge_actors.edge import AdminClient, EdgeClient, EdgeConfig, EdgeDaemon

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"


def _config(tmp_path: Path) -> EdgeConfig:
    return EdgeConfig(
        name="edge-a",
        data_dir=str(tmp_path / "edge-a"),
        cluster_token=TOKEN,
        hold_timeout_s=30.0,
        shutdown_timeout_s=2.0,
    )


async def test_hold_lease_expires_on_the_injected_clock(tmp_path: Path) -> None:
    clock = ManualClock()
    async with (
        EdgeDaemon(_config(tmp_path), clock=clock) as daemon,
        AdminClient(daemon.url, TOKEN) as admin,
        EdgeClient(daemon.url, token=TOKEN) as client,
    ):
        await admin.create_workload("svc")
        assert (await admin.health()).uptime_s == 0.0
        with structlog.testing.capture_logs() as logs:
            answer = await admin.hold("svc", lease_s=5.0)
            assert answer.lease_s == 5.0
            await until(lambda: clock.sleepers == 1, "the lease sleeps on the clock")
            assert clock.next_deadline() == clock.monotonic() + 5.0
            gate = daemon.router.gate("svc")
            lsns: list[int] = []
            async with anyio.create_task_group() as tg:

                async def put() -> None:
                    lsns.append(await client.put("svc", "k", b"v"))

                tg.start_soon(put)
                await until(lambda: gate.queued == 1, "the write waits on the hold")
                clock.advance(4.0)  # not yet: the lease has a second left
                assert gate.held
                assert gate.queued == 1
                assert clock.sleepers == 1
                clock.advance(1.0)  # the lease runs out: the held write goes through
            assert lsns == [1]
        assert not gate.held
        expired = [e for e in logs if e["event"] == "hold_lease_expired"]
        released = [e for e in logs if e["event"] == "writes_released"]
        assert [e["lease_s"] for e in expired] == [5.0]
        assert [(e["held_ms"], e["held_writes"], e["reason"]) for e in released] == [
            (5000.0, 1, "lease_expired")
        ]
        assert (await admin.health()).uptime_s == 5.0
        metrics = await admin.metrics_text()
        assert 'edge_hold_leases_expired_total{edge="edge-a"} 1.0' in metrics
        assert (
            'edge_workload_hold_leases_expired_total{edge="edge-a",workload="svc"} 1.0' in metrics
        )


async def test_released_hold_reports_clock_time_and_cancels_its_lease(tmp_path: Path) -> None:
    clock = ManualClock()
    async with (
        EdgeDaemon(_config(tmp_path), clock=clock) as daemon,
        AdminClient(daemon.url, TOKEN) as admin,
    ):
        await admin.create_workload("svc")
        with structlog.testing.capture_logs() as logs:
            await admin.hold("svc", lease_s=10.0)
            await until(lambda: clock.sleepers == 1, "the lease sleeps on the clock")
            clock.advance(2.5)
            await admin.hold("svc", lease_s=10.0)  # a renewal: new lease, same hold start
            await until(
                lambda: clock.next_deadline() == clock.monotonic() + 10.0 and clock.sleepers == 1,
                "the old lease is cancelled and the new one sleeps",
            )
            clock.advance(1.5)
            answer = await admin.release("svc")
            assert answer.held_ms == 4000.0
            await until(lambda: clock.sleepers == 0, "the released hold's lease is cancelled")
            clock.advance(60.0)  # nothing is left to expire
            await admin.hold("svc", lease_s=1.0)  # the daemon still answers on its loop
            await admin.release("svc")
        assert not daemon.router.gate("svc").held
        assert not [e for e in logs if e["event"] == "hold_lease_expired"]


async def test_shutdown_cancels_a_pending_lease(tmp_path: Path) -> None:
    clock = ManualClock()
    async with (
        EdgeDaemon(_config(tmp_path), clock=clock) as daemon,
        AdminClient(daemon.url, TOKEN) as admin,
    ):
        await admin.create_workload("svc")
        await admin.hold("svc", lease_s=5.0)
        await until(lambda: clock.sleepers == 1, "the lease sleeps on the clock")
    # The lease task belonged to the daemon's task group: gone with the daemon.
    assert clock.sleepers == 0


async def test_a_renewed_hold_outlives_its_first_lease(tmp_path: Path) -> None:
    clock = ManualClock()
    async with (
        EdgeDaemon(_config(tmp_path), clock=clock) as daemon,
        AdminClient(daemon.url, TOKEN) as admin,
    ):
        await admin.create_workload("svc")
        with structlog.testing.capture_logs() as logs:
            await admin.hold("svc", lease_s=0.2)
            await admin.hold("svc", lease_s=30)
            await until(
                lambda: clock.sleepers == 1 and clock.next_deadline() == clock.monotonic() + 30,
                "only the renewed lease sleeps",
            )
            clock.advance(0.4)  # past the first lease, well inside the renewed one
            await until(lambda: clock.sleepers == 1, "the renewed lease still sleeps")
            assert daemon.router.gate("svc").held
            assert (await admin.release("svc")).held_writes == 0
        assert not [e for e in logs if e["event"] == "hold_lease_expired"]
