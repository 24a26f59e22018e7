"""The supervisor's reconciler drives the edges back to the owner records: on start and
every ``reconcile_interval_s`` on the injected clock."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import anyio
import msgspec
import pytest

from edge_actors.clock import ManualClock
from edge_actors.edge import AdminClient
from edge_actors.migration import MigrationService
from edge_actors.migration.journal import Journal

from .conftest import FAST_RESTART, TOKEN, Edges
from .ledger import make_workload, plan_for

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from edge_actors.edge import WorkloadInfo

pytestmark = pytest.mark.anyio

_INTERVAL_S = 30.0


def _service(edges: Edges, data_dir: Path, clock: ManualClock) -> MigrationService:
    return MigrationService(
        edges.gateway,
        data_dir,
        restart=FAST_RESTART,
        clock=clock,
        reconcile_interval_s=_INTERVAL_S,
    )


async def _until(url: str, done: Callable[[WorkloadInfo], bool]) -> WorkloadInfo:
    """Poll the workload on ``url`` until ``done(info)`` (the reconciler works meanwhile)."""
    async with AdminClient(url, TOKEN) as admin:
        with anyio.fail_after(20):
            while True:
                info = await admin.workload("rec")
                if done(info):
                    return info
                await anyio.sleep(0.02)


async def _migrated(edges: Edges, data_dir: Path, clock: ManualClock) -> None:
    """Migrate ``rec`` west -> east to completion, then stop the service."""
    await make_workload(edges, "rec", 200)
    async with _service(edges, data_dir, clock) as service:
        plan = await service.plan(plan_for("rec"))
        status = await service.execute(plan.migration_id, wait=True, timeout=60)
        assert status.state == "completed", status


async def test_two_active_copies_and_a_stale_hold_are_driven_back_to_the_owner(
    edges: Edges, tmp_path: Path
) -> None:
    clock = ManualClock(dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.UTC))
    data_dir = tmp_path / "sup"
    await _migrated(edges, data_dir, clock)

    # Damage while no supervisor runs: a second active copy on the old source (an
    # operator re-created it there) and a hold left on the owner.
    async with (
        AdminClient(edges.west.url, TOKEN) as west,
        AdminClient(edges.east.url, TOKEN) as east,
    ):
        await west.create_workload("rec")
        await east.hold("rec", lease_s=300.0)
        assert (await west.workload("rec")).status == "active"

    async with _service(edges, data_dir, clock):  # a pass on start
        west_info = await _until(edges.west.url, lambda i: i.status == "moved")
        assert west_info.moved_to == edges.east.url.rstrip("/")
        east_info = await _until(edges.east.url, lambda i: not i.held)
        assert east_info.status == "active"

        async with AdminClient(edges.east.url, TOKEN) as east:
            await east.hold("rec", lease_s=300.0)  # damage again: only a later pass helps
        with anyio.fail_after(20):
            while clock.sleepers == 0:  # the next pass waits on the injected clock
                await anyio.sleep(0.01)
        assert (await _until(edges.east.url, lambda i: True)).held
        clock.advance(_INTERVAL_S)
        await _until(edges.east.url, lambda i: not i.held)


async def test_an_unsettled_handover_is_settled_from_what_the_edges_report(
    edges: Edges, tmp_path: Path
) -> None:
    clock = ManualClock(dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.UTC))
    data_dir = tmp_path / "sup"
    await _migrated(edges, data_dir, clock)
    # As if the supervisor died between the edges' switch and journaling its outcome.
    journal = Journal(data_dir)
    [record] = journal.owners()
    journal.save_owner(
        msgspec.structs.replace(record, owner_edge="edge-west", handing_to="edge-east")
    )
    journal.close()

    async with _service(edges, data_dir, clock):
        with anyio.fail_after(20):
            while True:
                journal = Journal(data_dir)
                [settled] = journal.owners()
                journal.close()
                if settled.handing_to is None:
                    break
                await anyio.sleep(0.02)
    assert (settled.owner_edge, settled.epoch) == ("edge-east", record.epoch)
