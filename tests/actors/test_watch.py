"""Watch notices and the spawn/lookup/naming contracts of ActorSystem."""

from __future__ import annotations

import pytest

from edge_actors.actors import (
    Actor,
    ActorStartError,
    ActorSystem,
    DuplicateActorName,
    SystemClosed,
    Terminated,
)
from edge_actors.errors import ConfigError, EdgeActorsError

from ._helpers import Boom, Echo, Recorder, Watcher, wait_until

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("how", "reason"),
    [("stop", "normal"), ("kill", "killed"), ("crash", "crashed: RuntimeError('boom')")],
)
async def test_watch_reports_reason(how: str, reason: str) -> None:
    notices: list[Terminated] = []
    async with ActorSystem() as system:
        watcher = await system.spawn(lambda: Watcher(notices))
        target = await system.spawn(Echo, name="target")
        await system.watch(watcher, target)
        if how == "stop":
            await system.stop(target)
        elif how == "kill":
            await system.kill(target)
        else:
            await target.tell(Boom())
        await wait_until(lambda: len(notices) == 1)
    assert notices == [Terminated(ref_name="target", reason=reason)]


async def test_watch_of_a_dead_actor_notifies_at_once() -> None:
    notices: list[Terminated] = []
    async with ActorSystem() as system:
        watcher = await system.spawn(lambda: Watcher(notices))
        target = await system.spawn(Echo, name="t")
        await system.stop(target)
        await system.watch(watcher, target)
        await wait_until(lambda: len(notices) == 1)
    assert notices[0].reason == "normal"


async def test_restart_is_not_a_termination() -> None:
    notices: list[Terminated] = []
    rec = Recorder()
    async with ActorSystem() as system:
        watcher = await system.spawn(lambda: Watcher(notices))
        sup = await system.spawn_supervisor()
        target = await sup.spawn_child(lambda: Echo(rec))
        await system.watch(watcher, target)
        await target.tell(Boom())
        await wait_until(lambda: len(rec.restarts) == 1)
        await system.unwatch(watcher, target)
        await system.stop(target)
    assert notices == []


async def test_duplicate_name_is_refused() -> None:
    async with ActorSystem() as system:
        await system.spawn(Echo, name="one")
        with pytest.raises(DuplicateActorName, match="'one'"):
            await system.spawn(Echo, name="one")
        assert system.names() == ["one"]


async def test_name_is_free_again_after_stop() -> None:
    async with ActorSystem() as system:
        ref = await system.spawn(Echo, name="again")
        await system.stop(ref)
        assert system.lookup("again") is None
        await system.spawn(Echo, name="again")


class FailsToStart(Actor[object]):
    async def on_start(self) -> None:
        raise OSError("no disk")

    async def receive(self, message: object) -> None:
        return None


async def test_failing_on_start_raises_start_error() -> None:
    async with ActorSystem() as system:
        with pytest.raises(ActorStartError) as info:
            await system.spawn(FailsToStart, name="bad")
        assert isinstance(info.value.__cause__, OSError)
        assert system.lookup("bad") is None
        assert isinstance(info.value, EdgeActorsError)


async def test_bad_mailbox_size_and_closed_system() -> None:
    system = ActorSystem()
    with pytest.raises(SystemClosed):
        await system.spawn(Echo)
    async with system:
        with pytest.raises(ConfigError, match="mailbox_size"):
            await system.spawn(Echo, mailbox_size=0)
    with pytest.raises(SystemClosed):
        await system.spawn(Echo)


class NoReceive(Actor[object]):  # deliberately incomplete: no receive
    pass


async def test_actor_without_receive_cannot_start() -> None:
    async with ActorSystem() as system:
        with pytest.raises(ActorStartError, match="receive"):
            await system.spawn(NoReceive, name="incomplete")  # type: ignore[abstract]
        assert system.lookup("incomplete") is None


async def test_open_actor_system_is_an_async_context_manager() -> None:
    from edge_actors.actors import open_actor_system

    rec = Recorder()
    async with open_actor_system(name="opened") as system:
        assert isinstance(system, ActorSystem)
        assert system.name == "opened"
        ref = await system.spawn(lambda: Echo(rec))
        await ref.tell(Boom())  # a crash stops a temporary actor; the system goes on
        await wait_until(lambda: not ref.is_alive)
        kept = system
    assert rec.stops == 1
    with pytest.raises(SystemClosed):
        await kept.spawn(Echo)
