"""Small actors shared by the actor-engine tests."""

from __future__ import annotations

from typing import Any

import anyio
import msgspec

from edge_actors.actors import Actor, Refusal, Terminated


class Ping(msgspec.Struct, tag=True):
    n: int


class Boom(msgspec.Struct, tag=True):
    text: str = "boom"


class Hold(msgspec.Struct, tag=True):
    """Block in receive until the event is set (a real wait on another task)."""

    event: Any


class Stop(msgspec.Struct, tag=True):
    pass


class NotAllowed(Refusal):
    pass


Msg = Ping | Boom | Hold | Stop


class Recorder:
    """State kept outside actor instances so it survives restarts."""

    def __init__(self) -> None:
        self.seen: list[object] = []
        self.starts = 0
        self.restarts: list[BaseException] = []
        self.stops = 0


class Echo(Actor[Msg]):
    """Replies n + 1; Boom crashes; Hold waits; Stop stops itself normally."""

    def __init__(self, rec: Recorder | None = None) -> None:
        self.rec = rec or Recorder()

    async def on_start(self) -> None:
        self.rec.starts += 1

    async def on_restart(self, error: BaseException) -> None:
        self.rec.restarts.append(error)

    async def on_stop(self) -> None:
        self.rec.stops += 1

    async def receive(self, message: Msg) -> object:
        self.rec.seen.append(message)
        if isinstance(message, Ping):
            if message.n < 0:
                raise NotAllowed(f"negative {message.n}")
            return message.n + 1
        if isinstance(message, Boom):
            raise RuntimeError(message.text)
        if isinstance(message, Hold):
            await message.event.wait()
            return "held"
        self.stop()
        return "stopping"


async def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    """Poll real state until ``predicate()`` is true (fails after ``timeout``)."""
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.001)


class Watcher(Actor[Terminated]):
    """Collects the Terminated notices it receives."""

    def __init__(self, out: list[Terminated]) -> None:
        self.out = out

    async def receive(self, message: Terminated) -> None:
        self.out.append(message)
