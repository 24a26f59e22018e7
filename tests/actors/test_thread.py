"""Synchronous entry points: LoopThread and run_main."""

from __future__ import annotations

import asyncio
import threading

import pytest

from edge_actors.actors import ActorSystem, LoopThread, run_main, uvloop_available

from ._helpers import Boom, Echo, Ping


def test_loop_thread_drives_a_system_from_sync_code() -> None:
    with LoopThread() as loop, loop.enter(ActorSystem(name="sync")) as system:
        ref = loop.run(system.spawn, Echo)
        assert loop.run(ref.ask, Ping(1)) == 2
        with pytest.raises(RuntimeError, match="boom"):
            loop.run(ref.ask, Boom())
        assert loop.portal is not None
    assert not ref.is_alive


def test_loop_thread_runs_on_another_thread_with_uvloop_when_available() -> None:
    async def loop_info() -> tuple[int, str]:
        return threading.get_ident(), type(asyncio.get_running_loop()).__module__

    with LoopThread() as loop:
        ident, module = loop.run(loop_info)
    assert ident != threading.get_ident()
    assert module.startswith("uvloop") == uvloop_available()


def test_loop_thread_without_uvloop_uses_plain_asyncio() -> None:
    async def module() -> str:
        return type(asyncio.get_running_loop()).__module__

    with LoopThread(use_uvloop=False) as loop:
        assert loop.run(module).startswith("asyncio")


def test_portal_needs_a_running_thread() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = LoopThread().portal


def test_run_main_returns_the_result() -> None:
    async def main(x: int) -> int:
        async with ActorSystem() as system:
            ref = await system.spawn(Echo)
            result: int = await ref.ask(Ping(x))
            return result

    assert run_main(main, 41) == 42
