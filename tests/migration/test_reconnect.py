"""An edge that answers again is reconciled at once, not at the next periodic pass.

The edges are real daemon processes (``tests/faults/_harness.Daemon``: a subprocess on a
fixed port, restartable on its data directory). After a completed migration the old
source gets a second active copy (damage that survives a restart), and is killed with
SIGKILL. The supervisor's pass on start cannot reach it and reports it; the next pass
waits for an hour-long interval on the injected clock but polls the lost edge's health
with a short backoff. When the daemon process is back, that pass runs for it and drives
it back to the owner record, long before the interval.
"""

from __future__ import annotations

import datetime as dt
import signal
from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.clock import ManualClock
from edge_actors.edge import AdminClient, EdgeClient, EdgeEndpoint, HttpEdgeGateway, Topology
from edge_actors.migration import MigrationService
from edge_actors.migration._reconciler import EdgeAnswered
from faults._harness import TOKEN, Daemon

from .conftest import FAST_RESTART
from .ledger import plan_for

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

_INTERVAL_S = 3600.0


async def _seed(url: str) -> None:
    async with AdminClient(url, TOKEN) as admin:
        await admin.create_workload("rec")
    async with EdgeClient(url, token=TOKEN) as client:
        await client.batch("rec", [(f"k{i}", b"v" * 64) for i in range(100)])


async def test_an_edge_process_back_from_a_kill_is_reconciled_before_the_interval(
    tmp_path: Path,
) -> None:
    clock = ManualClock(dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.UTC))
    west, east = Daemon(tmp_path, "edge-west"), Daemon(tmp_path, "edge-east")
    sup_dir = tmp_path / "sup"
    try:
        await west.start()
        await east.start()
        topology = Topology(
            {"edge-west": EdgeEndpoint(west.url, TOKEN), "edge-east": EdgeEndpoint(east.url, TOKEN)}
        )
        async with HttpEdgeGateway(topology) as gateway:

            def service() -> MigrationService:
                return MigrationService(
                    gateway, sup_dir, restart=FAST_RESTART, clock=clock,
                    reconcile_interval_s=_INTERVAL_S,
                )  # fmt: skip

            await _seed(west.url)
            async with service() as svc:
                plan = await svc.plan(plan_for("rec"))
                status = await svc.execute(plan.migration_id, wait=True, timeout=60)
                assert status.state == "completed", status

            async with AdminClient(west.url, TOKEN) as admin:
                await admin.create_workload("rec")  # a second active copy: damage
            west.signal(signal.SIGKILL)
            await west.wait()

            async with service():
                with anyio.fail_after(30):  # the start pass is over; the next one waits
                    while clock.sleepers == 0:
                        await anyio.sleep(0.01)
                await west.start()  # the same process image, port and data directory
                async with AdminClient(west.url, TOKEN) as admin:
                    assert (await admin.workload("rec")).status == "active"  # still damaged
                    advanced = 0.0
                    with anyio.fail_after(30):
                        while (info := await admin.workload("rec")).status != "moved":
                            if clock.sleepers:
                                assert advanced < 60.0, "not reconciled on reconnect"
                                clock.advance(0.5)
                                advanced += 0.5
                            await anyio.sleep(0.01)
                assert info.moved_to == east.url.rstrip("/")
                assert advanced < _INTERVAL_S
    finally:
        await west.kill()
        await east.kill()


async def test_an_edge_a_run_waited_out_triggers_a_pass_at_once(tmp_path: Path) -> None:
    clock = ManualClock(dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.UTC))
    west, east = Daemon(tmp_path, "edge-west"), Daemon(tmp_path, "edge-east")
    try:
        await west.start()
        await east.start()
        topology = Topology(
            {"edge-west": EdgeEndpoint(west.url, TOKEN), "edge-east": EdgeEndpoint(east.url, TOKEN)}
        )
        async with (
            HttpEdgeGateway(topology) as gateway,
            MigrationService(
                gateway, tmp_path / "sup", restart=FAST_RESTART, clock=clock,
                reconcile_interval_s=_INTERVAL_S,
            ) as svc,
        ):  # fmt: skip
            await _seed(west.url)
            plan = await svc.plan(plan_for("rec"))
            status = await svc.execute(plan.migration_id, wait=True, timeout=60)
            assert status.state == "completed", status
            with anyio.fail_after(30):  # a pass waits for the interval (nothing watched)
                while clock.sleepers == 0:
                    await anyio.sleep(0.01)
            async with AdminClient(west.url, TOKEN) as admin:
                await admin.create_workload("rec")  # a second active copy: damage
                before = clock.monotonic()
                # What a run's outage wait sends when the edge it waited for answers.
                await svc._ask(EdgeAnswered("edge-west"))
                with anyio.fail_after(30):
                    while (info := await admin.workload("rec")).status != "moved":
                        await anyio.sleep(0.02)
            assert info.moved_to == east.url.rstrip("/")
            assert clock.monotonic() == before  # not the interval: the clock never moved
    finally:
        await west.kill()
        await east.kill()
