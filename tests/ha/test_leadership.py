"""The lease election against a real PostgreSQL server (``migration/_leadership.py``).

Local timers run on a :class:`ManualClock`, so renewals and the local deadline happen
exactly when a test advances it; only the lease's expiry in the database is real time,
and tests wait for it with a condition (a follower's attempt succeeding), never a sleep.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import pytest

from edge_actors.clock import ManualClock
from edge_actors.errors import ConfigError
from edge_actors.migration._leadership import LeaderElector, LeaseSettings

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

LONG = LeaseSettings(lease_s=60.0, renew_s=1.0, margin_s=0.5)
SHORT = LeaseSettings(lease_s=0.4, renew_s=0.1, margin_s=0.05)


def elector(dsn: str, name: str, settings: LeaseSettings, clock: ManualClock) -> LeaderElector:
    return LeaderElector(
        dsn, holder_id=name, holder_url=f"http://{name}.test", settings=settings, clock=clock
    )


async def until_acquired(replica: LeaderElector) -> None:
    """Poll until the database lets ``replica`` take the lease (its expiry is real time)."""
    with anyio.fail_after(10):
        while not await replica.try_acquire():
            await anyio.sleep(0.02)


async def test_first_replica_leads_and_the_second_follows_it(dsn: str) -> None:
    clock = ManualClock()
    async with elector(dsn, "a", LONG, clock) as a, elector(dsn, "b", LONG, clock) as b:
        assert await a.try_acquire()
        assert a.state.role == "leader"
        assert a.state.epoch == 1
        assert not await b.try_acquire()
        assert b.state.role == "follower"
        assert (b.state.epoch, b.state.leader_id, b.state.leader_url) == (1, "a", "http://a.test")
        assert b.state.lease_age_s is not None
        assert b.state.lease_age_s >= 0
        assert await a.renew() is True
        assert a.renewals == 1
        assert a.lease_age() == 0.0
        clock.advance(0.75)
        assert a.lease_age() == 0.75  # grows on the local clock until the next renewal


async def test_an_expired_lease_passes_to_a_follower_with_a_higher_epoch(dsn: str) -> None:
    clock = ManualClock()
    async with elector(dsn, "a", SHORT, clock) as a, elector(dsn, "b", SHORT, clock) as b:
        assert await a.try_acquire()
        assert not await b.try_acquire()
        await until_acquired(b)  # a never renews: its lease runs out by the database clock
        assert (b.state.role, b.state.epoch, b.state.failovers) == ("leader", 2, 1)
        assert await a.renew() is False  # the old leader learns it lost the lease
        assert not await a.try_acquire()
        assert (a.state.leader_id, a.state.epoch) == ("b", 2)


async def test_resigning_hands_over_without_waiting_for_the_lease(dsn: str) -> None:
    clock = ManualClock()
    async with elector(dsn, "a", LONG, clock) as a, elector(dsn, "b", LONG, clock) as b:
        assert await a.try_acquire()
        await a.resign()
        assert a.state.role == "follower"
        assert await b.try_acquire()
        assert b.state.epoch == 2


async def test_leaving_the_context_resigns(dsn: str) -> None:
    clock = ManualClock()
    async with elector(dsn, "b", LONG, clock) as b:
        async with elector(dsn, "a", LONG, clock) as a:
            assert await a.try_acquire()
        assert await b.try_acquire()


async def test_hold_stops_at_the_local_deadline_when_the_database_is_gone(dsn: str) -> None:
    clock = ManualClock()
    settings = LeaseSettings(lease_s=3.0, renew_s=1.0, margin_s=0.5)
    async with elector(dsn, "a", settings, clock) as a:
        assert await a.try_acquire()
        a.dsn = "postgresql://postgres@127.0.0.1:1/none"  # every reconnect now fails
        await a._close()
        returned = anyio.Event()
        async with anyio.create_task_group() as tg:

            async def hold() -> None:
                await a.hold()
                returned.set()

            tg.start_soon(hold)
            for _ in range(2):  # renewals at t+1 and t+2 fail: the lease is not extended
                await anyio.lowlevel.checkpoint()
                while clock.sleepers < 2:
                    await anyio.sleep(0.001)
                clock.advance(1.0)
            while clock.sleepers < 2:
                await anyio.sleep(0.001)
            assert not returned.is_set()  # t+2 < deadline t+2.5: still leading
            assert a.state.role == "leader"
            clock.advance(0.5)
            with anyio.fail_after(5):
                await returned.wait()
        assert a.state.role == "follower"
        assert a.renewals == 0


async def test_hold_returns_when_another_replica_took_the_lease(dsn: str) -> None:
    clock = ManualClock()
    async with elector(dsn, "a", SHORT, clock) as a, elector(dsn, "b", SHORT, clock) as b:
        assert await a.try_acquire()
        await until_acquired(b)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(a.hold)
                while clock.sleepers < 2:
                    await anyio.sleep(0.001)
                clock.advance(SHORT.renew_s)  # the renewal finds epoch 2: lost at once
        assert a.state.role == "follower"
        assert clock.monotonic() - 1000.0 < SHORT.lease_s - SHORT.margin_s


async def test_campaign_waits_for_the_lease_then_leads(dsn: str) -> None:
    clock = ManualClock()
    async with elector(dsn, "a", LONG, clock) as a, elector(dsn, "b", LONG, clock) as b:
        assert await a.try_acquire()
        epoch = 0
        async with anyio.create_task_group() as tg:

            async def campaign() -> None:
                nonlocal epoch
                epoch = await b.campaign()

            tg.start_soon(campaign)
            while clock.sleepers < 1:  # b read a's lease and sleeps until its next attempt
                await anyio.sleep(0.001)
            assert b.state.role == "follower"
            await a.resign()
            clock.advance(LONG.renew_s)
        assert epoch == 2
        assert b.state.role == "leader"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"lease_s": 0.0}, "lease_s"),
        ({"renew_s": -1.0}, "renew_s"),
        ({"margin_s": 3.0}, "margin_s"),
        ({"renew_s": 2.6}, "renew_s"),
    ],
)
def test_lease_settings_refuse_inconsistent_timing(values: dict[str, float], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        LeaseSettings(**values)


async def test_a_password_given_apart_from_the_url_is_used_for_the_lease(tmp_path: Path) -> None:
    """``--journal-password-file`` hands the elector a password apart from the URL: the
    lease connection must log in with it, like the journal's own pool (it did not)."""
    from edge_actors.migration.journal import open_journal
    from postgres.server import PostgresServer, PostgresUnavailable, postgres_unavailable

    secret = "lease-password-0123456789abcdef"
    server = PostgresServer(data_dir=tmp_path / "pgdata", password=secret)
    try:
        server.start()
    except PostgresUnavailable as exc:
        postgres_unavailable(exc)
    try:
        journal = await open_journal(server.url, data_dir=tmp_path, password=secret)
        await journal.close()
        async with elector(server.url, "no-password", LONG, ManualClock()) as replica:
            assert await replica.try_acquire() is False  # refused login: not the leader
            assert replica.state.role != "leader"
        async with LeaderElector(
            server.url,
            password=secret,
            holder_id="with-password",
            holder_url="http://with-password.test",
            settings=LONG,
            clock=ManualClock(),
        ) as replica:
            assert await replica.try_acquire()
            assert replica.state.role == "leader"
    finally:
        server.stop()
