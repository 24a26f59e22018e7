"""Ask timers: one lane per distinct timeout, pruned when empty, exact deadlines."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from edge_actors.actors import ActorSystem
from edge_actors.actors._timers import AskTimers

from ._helpers import Echo, Hold, Ping, Recorder, wait_until

pytestmark = pytest.mark.anyio


async def test_backpressured_asks_share_one_lane() -> None:
    rec = Recorder()
    release = anyio.Event()
    async with ActorSystem() as system:
        ref = await system.spawn(lambda: Echo(rec), mailbox_size=1)
        await ref.tell(Hold(release))
        await wait_until(lambda: len(rec.seen) == 1)
        results: list[int] = []

        async def ask(i: int) -> None:
            results.append(await ref.ask(Ping(i), timeout=30.0))

        async with anyio.create_task_group() as tg:
            for i in range(3000):
                tg.start_soon(ask, i)
            await wait_until(lambda: len(ref._cell.mailbox.putters) == 2999)
            release.set()
        assert sorted(results) == list(range(1, 3001))
        # each ask that waited for room keeps its timeout's lane (not one per remainder)
        assert system._timers.lanes <= 1


async def test_lanes_are_pruned_once_their_asks_are_settled() -> None:
    rec = Recorder()
    release = anyio.Event()
    async with ActorSystem() as system:
        ref = await system.spawn(lambda: Echo(rec))
        for timeout in (0.01, 0.02, 0.03):
            with pytest.raises(TimeoutError):
                await ref.ask(Hold(release), timeout=timeout)
        release.set()
        assert await ref.ask(Ping(1), timeout=0.04) == 2  # settled before its deadline
        await wait_until(lambda: system._timers.lanes == 0)


async def test_an_earlier_deadline_behind_a_later_one_still_expires_first() -> None:
    timers = AskTimers()
    loop = asyncio.get_running_loop()
    later: asyncio.Future[None] = loop.create_future()
    earlier: asyncio.Future[None] = loop.create_future()
    try:
        timers.expire_after(later, 30.0, "a")
        # an ask made 29.99 s ago with the same timeout that waited for room until now
        timers.expire_at(earlier, loop.time() + 0.01, 30.0, "b")
        assert timers.lanes == 1
        with anyio.fail_after(10), pytest.raises(TimeoutError, match=r"'b'.*30\.0s"):
            await earlier
        assert not later.done()
    finally:
        timers.close()
    assert timers.lanes == 0
