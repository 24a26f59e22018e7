"""``Actor.stop()`` is a control-lane order for the current instance, honoured at once."""

from __future__ import annotations

import anyio
import pytest

from edge_actors.actors import Actor, ActorStartError, ActorStopped, ActorSystem, Terminated

from ._helpers import Echo, Recorder, Watcher, wait_until

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


class WaitsOutAnOutage(Actor[str]):
    """Crashes on ``"crash"``; its restart waits for an outage that never ends (as the
    migration supervisor's restart waits out a lost journal)."""

    def __init__(self, rec: Recorder, restarting: anyio.Event) -> None:
        self.rec = rec
        self.restarting = restarting

    async def on_restart(self, error: BaseException) -> None:
        self.rec.restarts.append(error)
        self.restarting.set()
        await anyio.Event().wait()

    async def on_stop(self) -> None:
        self.rec.stops += 1

    async def receive(self, message: str) -> str:
        if message == "crash":
            raise RuntimeError("lost the journal")
        return message


async def test_a_stop_ends_a_restart_that_waits_and_skips_on_stop() -> None:
    rec = Recorder()
    restarting = anyio.Event()
    notices: list[Terminated] = []
    async with ActorSystem() as system:
        watcher = await system.spawn(lambda: Watcher(notices))
        sup = await system.spawn_supervisor(name="sup")
        ref = await sup.spawn_child(lambda: WaitsOutAnOutage(rec, restarting), name="waiter")
        await system.watch(watcher, ref)
        await ref.tell("crash")
        with anyio.fail_after(30):
            await restarting.wait()
            # A grace far longer than the guard: before the fix, the stop waited it out.
            await system.stop(ref, timeout=3600.0)
        await wait_until(lambda: len(notices) == 1)
    # A normal stop, not a kill at the end of the grace; the restart never finished, so
    # there is no on_stop to run.
    assert notices == [Terminated(ref_name="waiter", reason="normal")]
    assert len(rec.restarts) == 1
    assert rec.stops == 1  # the first instance's, before its restart


async def test_a_supervisor_waiting_for_a_group_restart_stops_when_told() -> None:
    rec = Recorder()
    restarting = anyio.Event()
    notices: list[Terminated] = []
    async with ActorSystem() as system:
        watcher = await system.spawn(lambda: Watcher(notices))
        sup = await system.spawn_supervisor(name="root", strategy="one_for_all")
        await sup.spawn_child(lambda: Echo(Recorder()), name="sibling")
        ref = await sup.spawn_child(lambda: WaitsOutAnOutage(rec, restarting), name="waiter")
        await system.watch(watcher, sup.ref)
        await ref.tell("crash")  # the root restarts both, and waits for the waiter's start
        with anyio.fail_after(30):
            await restarting.wait()
            await system.stop(sup.ref, timeout=3600.0)
        await wait_until(lambda: len(notices) == 1)
    assert notices == [Terminated(ref_name="root", reason="normal")]
    assert len(rec.restarts) == 1


class StartsForever(Actor[str]):
    def __init__(self, starting: anyio.Event) -> None:
        self.starting = starting

    async def on_start(self) -> None:
        self.starting.set()
        await anyio.Event().wait()

    async def receive(self, message: str) -> str:
        return message


async def test_closing_the_system_ends_a_start_that_waits() -> None:
    starting = anyio.Event()
    errors: list[BaseException] = []
    with anyio.fail_after(30):
        async with ActorSystem() as system:

            async def spawn() -> None:
                try:
                    await system.spawn(lambda: StartsForever(starting), name="starter")
                except ActorStartError as exc:
                    errors.append(exc)

            async with anyio.create_task_group() as tg:
                tg.start_soon(spawn)
                await starting.wait()
                ref = system.lookup("starter")
                assert ref is not None
                await system.stop(ref, timeout=3600.0)
    assert len(errors) == 1
    assert isinstance(errors[0].__cause__, ActorStopped), errors
