"""Time windows follow the injected clock, never the machine's hour or time zone.

Unit level: ``TimeWindow.contains/opens_in/closes_in`` at fixed datetimes, a window
crossing midnight, in several zones. End to end: a staged migration between two real
edges, planned while a :class:`ManualClock` says the window is closed, waits (state and
detail, a sleeper on the clock) without starting its stage, then completes with the data
on the target once the clock is set inside the window.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import anyio
import pytest

from edge_actors.clock import ManualClock
from edge_actors.edge import AdminClient, EdgeClient
from edge_actors.migration import MigrationService, ServiceDefaults, TimeWindow

from .conftest import FAST_RESTART, TOKEN, Edges

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.anyio

# Zones with whole, half-hour and negative offsets; one south of the equator (DST in
# January). The day has no DST change in any of them.
ZONES = ("UTC", "Europe/Paris", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Auckland")
_DAY = dt.date(2026, 1, 15)


def _local(zone: str, hour: int, minute: int, day: dt.date = _DAY) -> dt.datetime:
    """``hour:minute`` on ``day`` in ``zone``, as an aware datetime in UTC."""
    wall = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZoneInfo(zone))
    return wall.astimezone(dt.UTC)


# -- unit level ---------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ZONES)
def test_window_crossing_midnight_at_fixed_times(zone: str) -> None:
    window = TimeWindow.parse(f"22:00-02:00 {zone}")
    late, early, after = _local(zone, 23, 59), _local(zone, 1, 0), _local(zone, 3, 0)
    assert window.contains(late)
    assert window.opens_in(late) == 0
    assert window.closes_in(late) == 121 * 60
    assert window.contains(early)
    assert window.closes_in(early) == 3600
    assert not window.contains(after)
    assert window.opens_in(after) == 19 * 3600
    assert window.closes_in(after) == 0
    assert not window.contains(_local(zone, 2, 0))  # the end is exclusive
    assert window.contains(_local(zone, 22, 0))  # the start is inclusive
    assert window.opens_in(_local(zone, 21, 59)) == 60


@pytest.mark.parametrize("zone", ZONES)
def test_window_within_one_day_at_fixed_times(zone: str) -> None:
    window = TimeWindow.parse(f"02:00-06:00 {zone}")
    assert window.contains(_local(zone, 3, 0))
    assert not window.contains(_local(zone, 23, 59))
    assert window.opens_in(_local(zone, 23, 59)) == 121 * 60
    assert not window.contains(_local(zone, 6, 0))
    assert window.opens_in(_local(zone, 6, 0)) == 20 * 3600


def test_the_same_instant_is_inside_in_one_zone_and_outside_in_another() -> None:
    instant = dt.datetime(2026, 1, 15, 23, 59, tzinfo=dt.UTC)  # 08:59 in Tokyo
    assert TimeWindow.parse("22:00-02:00").contains(instant)
    tokyo = TimeWindow.parse("22:00-02:00 Asia/Tokyo")
    assert not tokyo.contains(instant)
    assert tokyo.opens_in(instant) == (13 * 60 + 1) * 60


@pytest.fixture(params=[("UTC", 0), ("Pacific/Kiritimati", 14 * 3600), ("Etc/GMT+12", -12 * 3600)])
def machine_offset(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[int]:
    """Run the test as if the machine's local time zone were the param's zone."""
    zone, offset = request.param
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    yield offset
    monkeypatch.undo()
    time.tzset()


def test_the_machine_time_zone_does_not_matter(machine_offset: int) -> None:
    in_2026 = time.localtime(_local("UTC", 0, 0).timestamp())
    assert in_2026.tm_gmtoff == machine_offset  # the zone is in effect
    window = TimeWindow.parse("22:00-02:00 Europe/Paris")
    for hour, minute, inside in ((23, 59, True), (1, 0, True), (3, 0, False)):
        clock = ManualClock(_local("Europe/Paris", hour, minute))
        now = dt.datetime.fromtimestamp(clock.time(), dt.UTC)  # as the migration actor reads it
        assert window.contains(now) is inside


# -- end to end ---------------------------------------------------------------------------

_VALUES = {f"k{i:04d}": f"value-{i}".encode() * 8 for i in range(300)}


async def _seed(edges: Edges, workload: str) -> None:
    async with AdminClient(edges.west.url, TOKEN) as admin:
        await admin.create_workload(workload)
    async with EdgeClient(edges.west.url, token=TOKEN) as client:
        await client.batch(workload, list(_VALUES.items()))


async def _on_target(edges: Edges, workload: str) -> dict[str, bytes | None]:
    async with EdgeClient(edges.east.url, token=TOKEN) as client:
        return {key: await client.get(workload, key) for key in _VALUES}


def _plan(zone: str) -> dict[str, object]:
    return {
        "source_edge": "edge-west",
        "target_edge": "edge-east",
        "workloads": ["orders"],
        "strategy": "staged",
        "constraints": {"time_window": f"22:00-02:00 {zone}"},
    }


@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles", "Asia/Kolkata"])
async def test_a_staged_migration_waits_for_its_window_then_completes(
    edges: Edges, tmp_path: Path, zone: str
) -> None:
    clock = ManualClock(_local(zone, 3, 0))  # closed: opens in 19 h
    await _seed(edges, "orders")
    defaults = ServiceDefaults(checkpoint_interval_s=0.5, sync_batch_size=200)
    async with MigrationService(
        edges.gateway, tmp_path / "sup", defaults=defaults, restart=FAST_RESTART, clock=clock
    ) as service:
        plan = await service.plan(_plan(zone))
        assert plan.created_at == clock.time()
        await service.execute(plan.migration_id)
        with anyio.fail_after(20):
            while clock.sleepers < 2:  # the actor sleeps on the clock (and the reconciler)
                await anyio.sleep(0.01)
        status = await service.status(plan.migration_id)
        assert status.state == "sync"
        assert status.detail == "waiting for time window 22:00-02:00 (opens in 19h00m)"
        progress = await service.progress(plan.migration_id)
        assert progress.bytes_done == 0
        async with AdminClient(edges.east.url, TOKEN) as east:
            target = await east.workload("orders")
        assert (target.status, target.lsn) == ("incoming", 0)  # the stage has not started

        clock.set_time(_local(zone, 23, 59))  # inside the window
        done = await service.wait(plan.migration_id, ["completed"], timeout=60)
        assert done.state == "completed", done
        assert done.detail == ""
    assert await _on_target(edges, "orders") == _VALUES


async def test_a_staged_migration_inside_its_window_does_not_wait(
    edges: Edges, tmp_path: Path
) -> None:
    clock = ManualClock(_local("Pacific/Auckland", 1, 0))
    await _seed(edges, "orders")
    async with MigrationService(
        edges.gateway, tmp_path / "sup", restart=FAST_RESTART, clock=clock
    ) as service:
        plan = await service.plan(_plan("Pacific/Auckland"))
        # The clock is never moved: a wait for the window would never end.
        status = await service.execute(plan.migration_id, wait=True, timeout=60)
        assert status.state == "completed", status
    assert await _on_target(edges, "orders") == _VALUES


async def test_a_rollback_under_a_frozen_clock_waits_for_its_own_outcome(
    edges: Edges, tmp_path: Path
) -> None:
    """rollback(checkpoint) of a paused migration waits for the ``paused`` it leads to;
    a clock that does not move between the two must not hide that later ``paused``."""
    clock = ManualClock(_local("UTC", 3, 0))
    await _seed(edges, "orders")
    async with MigrationService(
        edges.gateway, tmp_path / "sup", restart=FAST_RESTART, clock=clock
    ) as service:
        plan = await service.plan(_plan("UTC"))
        await service.execute(plan.migration_id)
        with anyio.fail_after(20):
            while clock.sleepers < 2:  # the actor and the reconciler
                await anyio.sleep(0.01)
        paused = await service.pause(plan.migration_id)
        assert paused.state == "paused"
        checkpoint = (await service.checkpoints(plan.migration_id))[0]
        status = await service.rollback(plan.migration_id, checkpoint.checkpoint_id, timeout=20)
        assert status.state == "paused"
        assert status.detail == f"rolled back to checkpoint {checkpoint.checkpoint_id}"
        assert status.updated_at > paused.updated_at
