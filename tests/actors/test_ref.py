"""ActorRef: tell ordering, backpressure, tell_nowait, ask outcomes."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from edge_actors.actors import (
    Actor,
    ActorKilled,
    ActorStopped,
    ActorSystem,
    AskSelfError,
    MailboxFull,
)

from ._helpers import Boom, Echo, Hold, Ping, Recorder, wait_until

pytestmark = pytest.mark.anyio


class Collector(Actor[int]):
    def __init__(self, out: list[int]) -> None:
        self.out = out

    async def receive(self, message: int) -> None:
        self.out.append(message)


async def test_readme_tour() -> None:
    async with ActorSystem() as system:
        ref = await system.spawn(Echo, name="echo")
        assert await ref.ask(Ping(41), timeout=1.0) == 42
        assert ref.name == "echo"
        assert ref.is_alive
        assert system.lookup("echo") == ref


async def test_tell_keeps_order_of_100k_messages() -> None:
    out: list[int] = []
    async with ActorSystem() as system:
        ref = await system.spawn(lambda: Collector(out), mailbox_size=64)
        for i in range(100_000):
            await ref.tell(i)
        await wait_until(lambda: len(out) == 100_000)
    assert out == list(range(100_000))


async def test_blocked_tell_resumes_when_room_frees_and_drops_nothing() -> None:
    rec = Recorder()
    release = anyio.Event()
    async with ActorSystem() as system:
        ref = await system.spawn(lambda: Echo(rec), mailbox_size=2)
        await ref.tell(Hold(release))
        await wait_until(lambda: len(rec.seen) == 1)  # the actor is busy in Hold
        await ref.tell(Ping(1))
        await ref.tell(Ping(2))  # mailbox now full
        sent = anyio.Event()

        async def blocked_sender() -> None:
            await ref.tell(Ping(3))
            sent.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(blocked_sender)
            await anyio.sleep(0.01)
            assert not sent.is_set()  # backpressure: the tell waits
            with pytest.raises(MailboxFull):
                ref.tell_nowait(Ping(99))
            release.set()
            await sent.wait()
        await wait_until(lambda: len(rec.seen) == 4)
    assert rec.seen[1:] == [Ping(1), Ping(2), Ping(3)]


async def test_tell_nowait_raises_mailbox_full_at_once() -> None:
    rec = Recorder()
    release = anyio.Event()
    async with ActorSystem() as system:
        ref = await system.spawn(lambda: Echo(rec), mailbox_size=1)
        ref.tell_nowait(Hold(release))
        await wait_until(lambda: len(rec.seen) == 1)
        ref.tell_nowait(Ping(1))
        with pytest.raises(MailboxFull, match="full"):
            ref.tell_nowait(Ping(2))
        release.set()
        await wait_until(lambda: len(rec.seen) == 2)
    assert rec.seen[1] == Ping(1)


async def test_ask_reply_and_handler_exception() -> None:
    async with ActorSystem() as system:
        ref = await system.spawn(Echo, restart="permanent")
        assert await ref.ask(Ping(1)) == 2
        with pytest.raises(RuntimeError, match="kaput"):
            await ref.ask(Boom("kaput"))
        # restarted (permanent, no supervisor): same ref answers again
        assert await ref.ask(Ping(5)) == 6


async def test_refusal_is_replied_but_does_not_crash() -> None:
    rec = Recorder()
    async with ActorSystem() as system:
        ref = await system.spawn(lambda: Echo(rec))
        from ._helpers import NotAllowed

        with pytest.raises(NotAllowed, match="negative -1"):
            await ref.ask(Ping(-1))
        assert await ref.ask(Ping(1)) == 2
        assert rec.starts == 1
        assert rec.restarts == []


async def test_ask_timeout_leaks_nothing() -> None:
    rec = Recorder()
    release = anyio.Event()
    async with ActorSystem() as system:
        ref = await system.spawn(lambda: Echo(rec))
        with pytest.raises(TimeoutError):
            await ref.ask(Hold(release), timeout=0.05)
        release.set()  # the late reply goes nowhere harmful
        assert await ref.ask(Ping(1)) == 2
        assert ref.is_alive


async def test_ask_stopped_actor_raises_actor_stopped() -> None:
    async with ActorSystem() as system:
        ref = await system.spawn(Echo)
        await system.stop(ref)
        assert not ref.is_alive
        with pytest.raises(ActorStopped):
            await ref.ask(Ping(1))
        assert system.dead_letters == 1


async def test_ask_fails_when_actor_stops_before_replying() -> None:
    release = anyio.Event()
    async with ActorSystem() as system:
        ref = await system.spawn(Echo)
        async with anyio.create_task_group() as tg:
            results: list[BaseException] = []

            async def asker() -> None:
                try:
                    await ref.ask(Ping(7), timeout=None)
                except ActorStopped as exc:
                    results.append(exc)

            await ref.tell(Hold(release))
            tg.start_soon(asker)
            await anyio.sleep(0.01)
            await system.stop(ref, timeout=0.05)  # Hold never ends: cancelled
        assert len(results) == 1


async def test_ask_interrupted_by_kill_gets_actor_killed() -> None:
    release = anyio.Event()
    async with ActorSystem() as system:
        ref = await system.spawn(Echo)
        async with anyio.create_task_group() as tg:
            errors: list[BaseException] = []

            async def asker() -> None:
                try:
                    await ref.ask(Hold(release))
                except ActorKilled as exc:
                    errors.append(exc)

            tg.start_soon(asker)
            await anyio.sleep(0.01)
            await system.kill(ref)
        assert len(errors) == 1
        await wait_until(lambda: not ref.is_alive)  # temporary: not restarted


class SelfAsker(Actor[str]):
    async def receive(self, message: str) -> object:
        if message == "self":
            try:
                await self.ref.ask("other")
            except AskSelfError as exc:
                return exc
        return "other-reply"


async def test_ask_self_fails_immediately() -> None:
    async with ActorSystem() as system:
        ref = await system.spawn(SelfAsker)
        result = await ref.ask("self", timeout=2.0)
        assert isinstance(result, AskSelfError)


async def test_cancelled_ask_does_not_break_actor() -> None:
    release = anyio.Event()
    async with ActorSystem() as system:
        ref = await system.spawn(Echo)
        with anyio.move_on_after(0.02):
            await ref.ask(Hold(release), timeout=None)
        release.set()
        assert await ref.ask(Ping(2)) == 3


async def test_messages_to_stopped_actor_are_dead_letters() -> None:
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        async with ActorSystem() as system:
            ref = await system.spawn(Echo, name="gone")
            await system.stop(ref)
            await ref.tell(Ping(1))
            ref.tell_nowait(Ping(2))
            assert system.dead_letters == 2
    events = [e for e in logs if e["event"] == "actor.dead_letter"]
    assert len(events) == 2
    assert all(e["actor"] == "gone" for e in events)


async def test_pending_messages_become_dead_letters_on_stop() -> None:
    release = anyio.Event()
    rec = Recorder()
    async with ActorSystem() as system:
        ref = await system.spawn(lambda: Echo(rec))
        await ref.tell(Hold(release))
        await wait_until(lambda: len(rec.seen) == 1)
        await ref.tell(Ping(1))
        await ref.tell(Ping(2))
        await system.stop(ref, timeout=0.05)
        assert system.dead_letters == 2


async def test_no_task_left_after_shutdown() -> None:
    before = asyncio.all_tasks()
    async with ActorSystem() as system:
        for _ in range(10):
            await system.spawn(Echo)
        blocked = await system.spawn(Echo)
        await blocked.tell(Hold(anyio.Event()))  # never released: cancelled at shutdown
    assert asyncio.all_tasks() - before == set()


async def test_a_kill_is_logged_as_killed_not_as_a_crash() -> None:
    """A kill is ordered from outside: info ``actor.killed``, not a warning ``actor.crashed``."""
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        async with ActorSystem() as system:
            ref = await system.spawn(Echo)
            assert await ref.ask(Ping(1)) == 2
            await system.kill(ref)
            await wait_until(lambda: not ref.is_alive)
    killed = [e for e in logs if e["event"] == "actor.killed"]
    assert [e["log_level"] for e in killed] == ["info"]
    assert [e for e in logs if e["event"] == "actor.crashed"] == []
