"""Stray cancellation: a CancelledError no cancel scope of the actor caused is a crash."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from edge_actors.actors import (
    Actor,
    ActorStartError,
    ActorSystem,
    StrayCancellation,
    Terminated,
)

from ._helpers import Recorder, Watcher, wait_until

pytestmark = pytest.mark.anyio


async def _await_cancelled_future() -> None:
    """Await a future that someone else cancelled: raises CancelledError, nobody asked us."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.cancel()
    await future


class Stray(Actor[str]):
    """``"stray"`` awaits a cancelled future; anything else is echoed."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def on_start(self) -> None:
        self.rec.starts += 1

    async def on_restart(self, error: BaseException) -> None:
        self.rec.restarts.append(error)

    async def receive(self, message: str) -> str:
        if message == "stray":
            await _await_cancelled_future()
        return message


async def test_stray_cancellation_crashes_and_restarts_a_permanent_child() -> None:
    rec = Recorder()
    reached_end = False
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor()
        ref = await sup.spawn_child(lambda: Stray(rec), name="stray")
        with pytest.raises(StrayCancellation) as caught:
            await ref.ask("stray")
        assert isinstance(caught.value.__cause__, asyncio.CancelledError)
        assert await ref.ask("again") == "again"  # restarted, same ref
        assert len(rec.restarts) == 1
        assert isinstance(rec.restarts[0], StrayCancellation)
        assert sup.is_alive
        reached_end = True
    assert reached_end  # the host's code was not cancelled with the system


async def test_stray_cancellation_of_a_tell_is_a_crash_seen_by_watchers() -> None:
    rec = Recorder()
    notices: list[Terminated] = []
    with capture_logs() as logs:
        async with ActorSystem() as system:
            watcher = await system.spawn(lambda: Watcher(notices))
            ref = await system.spawn(lambda: Stray(rec), name="t")  # temporary: no restart
            await system.watch(watcher, ref)
            await ref.tell("stray")
            await wait_until(lambda: len(notices) == 1)
            other = await system.spawn(lambda: Stray(Recorder()))
            assert await other.ask("still running") == "still running"
    assert notices[0].ref_name == "t"
    assert notices[0].reason.startswith("crashed: StrayCancellation")
    assert any(e["event"] == "actor.crashed" for e in logs)


class StrayOnStart(Actor[str]):
    async def on_start(self) -> None:
        await _await_cancelled_future()

    async def receive(self, message: str) -> str:
        return message


async def test_stray_cancellation_in_on_start_fails_the_spawn() -> None:
    reached_end = False
    async with ActorSystem() as system:
        with pytest.raises(ActorStartError) as caught:
            await system.spawn(StrayOnStart, name="s")
        assert isinstance(caught.value.__cause__, StrayCancellation)
        assert system.lookup("s") is None
        reached_end = True
    assert reached_end


class StrayOnStop(Actor[str]):
    async def on_stop(self) -> None:
        await _await_cancelled_future()

    async def receive(self, message: str) -> str:
        return message


async def test_stray_cancellation_in_on_stop_is_logged_and_the_stop_completes() -> None:
    reached_end = False
    with capture_logs() as logs:
        async with ActorSystem() as system:
            ref = await system.spawn(StrayOnStop)
            await system.stop(ref)
            assert not ref.is_alive
            reached_end = True
    assert reached_end
    failed = [e for e in logs if e["event"] == "actor.on_stop_failed"]
    assert len(failed) == 1
    assert "StrayCancellation" in failed[0]["error"]
