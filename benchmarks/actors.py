"""Benchmark of the actor engine against bare asyncio and pykka (not a test).

Measures in one run, best of ``--repeat`` rounds each:

* tell throughput (messages/s) of an ``edge_actors`` actor, against the ceiling of a bare
  ``asyncio.Queue`` producer/consumer with the same bound, and against a pykka
  ``ThreadingActor``;
* ask round trips/s (one at a time), against a bare request/future round trip through an
  ``asyncio.Queue`` served by another task, and against pykka's ``ask``.

Usage: ``python benchmarks/actors.py [--messages N] [--asks N] [--repeat K] [--no-uvloop]``.
Prints a table, then as its last line one JSON object with the figures and the ratios
(``tell_vs_queue``, ``ask_vs_roundtrip``, ``tell_vs_pykka``, ``ask_vs_pykka``: ours over
theirs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import platform
import time
from typing import TYPE_CHECKING, Any

import pykka
import structlog

from edge_actors.actors import Actor, ActorSystem, run_main, uvloop_available

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

MAILBOX = 1000


class _Counter(Actor[int]):
    def __init__(self) -> None:
        self.count = 0

    async def receive(self, message: int) -> int:
        self.count += 1
        return message


async def ours_tell(n: int) -> float:
    async with ActorSystem(name="bench") as system:
        ref = await system.spawn(_Counter, mailbox_size=MAILBOX)
        tell = ref.tell
        start = time.perf_counter()
        for i in range(n):
            await tell(i)
        await ref.ask(-1, timeout=None)  # FIFO: every tell has been handled
        return n / (time.perf_counter() - start)


async def ours_ask(n: int) -> float:
    async with ActorSystem(name="bench") as system:
        ref = await system.spawn(_Counter, mailbox_size=MAILBOX)
        ask = ref.ask
        start = time.perf_counter()
        for i in range(n):
            await ask(i)
        return n / (time.perf_counter() - start)


async def bare_queue(n: int) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue(MAILBOX)
    count = 0

    async def consumer() -> None:
        nonlocal count
        while True:
            item = await queue.get()
            if item < 0:
                return
            count += 1

    task = asyncio.ensure_future(consumer())
    start = time.perf_counter()
    for i in range(n):
        await queue.put(i)
    await queue.put(-1)
    await task
    assert count == n
    return n / (time.perf_counter() - start)


async def bare_roundtrip(n: int) -> float:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, asyncio.Future[int]] | None] = asyncio.Queue(MAILBOX)

    async def server() -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            message, reply = item
            if not reply.done():
                reply.set_result(message)

    task = asyncio.ensure_future(server())
    start = time.perf_counter()
    for i in range(n):
        reply: asyncio.Future[int] = loop.create_future()
        await queue.put((i, reply))
        await reply
    elapsed = time.perf_counter() - start
    await queue.put(None)
    await task
    return n / elapsed


class _PykkaCounter(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def on_receive(self, message: Any) -> Any:
        self.count += 1
        return message


def pykka_tell(n: int) -> float:
    ref = _PykkaCounter.start()
    try:
        start = time.perf_counter()
        for i in range(n):
            ref.tell(i)
        ref.ask(-1)
        return n / (time.perf_counter() - start)
    finally:
        ref.stop()


def pykka_ask(n: int) -> float:
    ref = _PykkaCounter.start()
    try:
        start = time.perf_counter()
        for i in range(n):
            ref.ask(i)
        return n / (time.perf_counter() - start)
    finally:
        ref.stop()


def _best_async(fn: Callable[[int], Awaitable[float]], n: int, repeat: int, uv: bool) -> float:
    return max(run_main(fn, n, use_uvloop=uv) for _ in range(repeat))


def _best_sync(fn: Callable[[int], float], n: int, repeat: int) -> float:
    return max(fn(n) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000, help="tells per round")
    parser.add_argument("--asks", type=int, default=50_000, help="asks per round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best counts")
    parser.add_argument("--no-uvloop", action="store_true", help="plain asyncio loop")
    args = parser.parse_args()
    # The engine logs spawn/stop events at info; keep them out of the measurement.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    uv = uvloop_available() and not args.no_uvloop
    pykka_n = min(args.messages, 100_000)
    pykka_asks = min(args.asks, 20_000)

    figures = {
        "ours_tell_per_s": _best_async(ours_tell, args.messages, args.repeat, uv),
        "queue_tell_per_s": _best_async(bare_queue, args.messages, args.repeat, uv),
        "pykka_tell_per_s": _best_sync(pykka_tell, pykka_n, args.repeat),
        "ours_ask_per_s": _best_async(ours_ask, args.asks, args.repeat, uv),
        "roundtrip_ask_per_s": _best_async(bare_roundtrip, args.asks, args.repeat, uv),
        "pykka_ask_per_s": _best_sync(pykka_ask, pykka_asks, args.repeat),
    }
    ratios = {
        "tell_vs_queue": figures["ours_tell_per_s"] / figures["queue_tell_per_s"],
        "ask_vs_roundtrip": figures["ours_ask_per_s"] / figures["roundtrip_ask_per_s"],
        "tell_vs_pykka": figures["ours_tell_per_s"] / figures["pykka_tell_per_s"],
        "ask_vs_pykka": figures["ours_ask_per_s"] / figures["pykka_ask_per_s"],
    }
    goals = {"tell_vs_queue": 0.5, "ask_vs_roundtrip": 0.5, "tell_vs_pykka": 5, "ask_vs_pykka": 5}
    loop_name = "uvloop" if uv else "asyncio"
    print(f"edge_actors actor benchmark ({loop_name}, Python {platform.python_version()}, ")
    print(f"  {args.messages} tells, {args.asks} asks, pykka {pykka_n}/{pykka_asks}, ", end="")
    print(f"best of {args.repeat})")
    print(f"{'measure':<28}{'per second':>14}")
    for key, value in figures.items():
        print(f"{key:<28}{value:>14,.0f}")
    print(f"{'ratio (ours / theirs)':<28}{'value':>8}{'goal':>8}  met")
    for key, value in ratios.items():
        met = "yes" if value >= goals[key] else "NO"
        print(f"{key:<28}{value:>8.2f}{'>=' + str(goals[key]):>8}  {met}")
    record: dict[str, Any] = {"loop": loop_name, "messages": args.messages, "asks": args.asks}
    record |= {k: round(v, 1) for k, v in figures.items()}
    record |= {k: round(v, 3) for k, v in ratios.items()}
    print(json.dumps(record))


if __name__ == "__main__":
    main()
