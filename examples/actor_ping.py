"""A supervised actor: ask it, crash it, watch it come back (run: python examples/actor_ping.py).

Shows the engine's core contract in a few lines: ``ask`` returns ``receive``'s value, an
exception crashes the actor and reaches the asker, the supervisor restarts it behind the
same ref, and queued messages survive the restart.
"""

from __future__ import annotations

import logging

import msgspec
import structlog

from edge_actors.actors import Actor, ActorSystem, run_main


class Ping(msgspec.Struct, tag=True):
    n: int


class Crash(msgspec.Struct, tag=True):
    why: str


class Pinger(Actor[Ping | Crash]):
    """Answers Ping(n) with n + 1; Crash makes it fail."""

    def __init__(self) -> None:
        self.handled = 0

    async def receive(self, message: Ping | Crash) -> object:
        if isinstance(message, Crash):
            raise RuntimeError(message.why)
        self.handled += 1
        return message.n + 1

    async def on_restart(self, error: BaseException) -> None:
        print(f"restarted after: {error!r}")


async def main() -> None:
    async with ActorSystem(name="example") as system:
        supervisor = await system.spawn_supervisor(name="root", max_restarts=3, within_s=5.0)
        ref = await supervisor.spawn_child(Pinger, name="pinger")
        print(f"ask Ping(41) -> {await ref.ask(Ping(41))}")
        try:
            await ref.ask(Crash("on purpose"))
        except RuntimeError as exc:
            print(f"ask Crash -> RuntimeError({exc})")
        print(f"ask Ping(1) -> {await ref.ask(Ping(1))} (same ref, alive={ref.is_alive})")
    print(f"stopped cleanly, dead letters: {system.dead_letters}")


if __name__ == "__main__":
    # Keep the engine's info-level events out of the example's output.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    run_main(main)
