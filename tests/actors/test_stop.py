"""``Actor.stop()`` is a control-lane order for the current instance, honoured at once."""

from __future__ import annotations

import anyio
import pytest

from edge_actors.actors import Actor, ActorStopped, ActorSystem, Terminated

from ._helpers import Recorder, Watcher, wait_until

pytestmark = pytest.mark.anyio


class StopsOnStart(Actor[str]):
    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def on_start(self) -> None:
        self.rec.starts += 1
        self.stop()

    async def on_stop(self) -> None:
        self.rec.stops += 1

    async def receive(self, message: str) -> str:
        self.rec.seen.append(message)
        return message


async def test_stop_in_on_start_is_honoured_before_any_message() -> None:
    rec = Recorder()
    notices: list[Terminated] = []
    async with ActorSystem() as system:
        watcher = await system.spawn(lambda: Watcher(notices))
        ref = await system.spawn(lambda: StopsOnStart(rec), name="quitter")
        await system.watch(watcher, ref)
        await ref.tell("never handled")
        await wait_until(lambda: len(notices) == 1)
        with pytest.raises(ActorStopped):
            await ref.ask("nor this")
        assert system.dead_letters == 2
    assert notices == [Terminated(ref_name="quitter", reason="normal")]
    assert rec.seen == []
    assert rec.starts == 1
    assert rec.stops == 1


class StopThenMaybeCrash(Actor[str]):
    """``"stop"`` stops; ``"stop-crash"`` orders a stop then crashes in the same message."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    async def on_restart(self, error: BaseException) -> None:
        self.rec.restarts.append(error)

    async def receive(self, message: str) -> str:
        self.rec.seen.append(message)
        if message.startswith("stop"):
            self.stop()
        if message == "stop-crash":
            raise RuntimeError("crash after stop")
        return message


async def test_stop_in_receive_skips_queued_messages() -> None:
    rec = Recorder()
    release = anyio.Event()
    notices: list[Terminated] = []
    async with ActorSystem() as system:
        watcher = await system.spawn(lambda: Watcher(notices))
        ref = await system.spawn(lambda: StopThenMaybeCrash(rec))
        await system.watch(watcher, ref)
        await ref.tell("stop")
        await ref.tell("after stop")
        release.set()
        await wait_until(lambda: len(notices) == 1)
    assert rec.seen == ["stop"]
    assert notices[0].reason == "normal"


async def test_a_stop_order_belongs_to_the_instance_that_gave_it() -> None:
    rec = Recorder()
    async with ActorSystem() as system:
        sup = await system.spawn_supervisor()
        ref = await sup.spawn_child(lambda: StopThenMaybeCrash(rec))
        with pytest.raises(RuntimeError, match="crash after stop"):
            await ref.ask("stop-crash")
        # the new instance is not stopped by its predecessor's order
        assert await ref.ask("hello") == "hello"
        assert await ref.ask("hello again") == "hello again"
        assert len(rec.restarts) == 1
        assert ref.is_alive


class StopsOnRestart(StopThenMaybeCrash):
    async def on_restart(self, error: BaseException) -> None:
        await super().on_restart(error)
        self.stop()


async def test_stop_in_on_restart_is_a_normal_exit_before_any_message() -> None:
    rec = Recorder()
    notices: list[Terminated] = []
    async with ActorSystem() as system:
        watcher = await system.spawn(lambda: Watcher(notices))
        sup = await system.spawn_supervisor()
        ref = await sup.spawn_child(lambda: StopsOnRestart(rec), restart="transient")
        await system.watch(watcher, ref)
        await ref.tell("stop-crash")  # crash; the new instance stops itself in on_restart
        await ref.tell("queued behind the crash")
        await wait_until(lambda: len(notices) == 1)
        assert sup.children == []
    assert notices[0].reason == "normal"  # transient: a normal exit is not restarted
    assert rec.seen == ["stop-crash"]
    assert len(rec.restarts) == 1
