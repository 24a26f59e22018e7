"""The embedded engine: shared services, background work, shutdown, misuse."""

from __future__ import annotations

import contextlib
import threading
import uuid
from typing import TYPE_CHECKING

import anyio
import pytest
from rt_support import gate_state

from edge_actors.errors import ConfigError
from edge_actors.runtime import Engine, EngineError, LocalRuntime, default_engine
from edge_actors.workflow import WorkflowBuilder

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def _bump_workflow() -> WorkflowBuilder:
    return WorkflowBuilder().add_node("RtCount", "bump", {"operation": "bump"})


def test_two_runtimes_share_the_default_engine_services() -> None:
    first, _ = LocalRuntime().execute(_bump_workflow().build())
    second, _ = LocalRuntime().execute(_bump_workflow().build())
    assert first["bump"]["service_id"] == second["bump"]["service_id"]
    assert second["bump"]["result"] == first["bump"]["result"] + 1  # type: ignore[operator]
    assert LocalRuntime().engine is LocalRuntime().engine is default_engine()


class Ticker:
    """A service with a background task that keeps counting while it is open."""

    def __init__(self) -> None:
        self.ticks = 0
        self.closed = False


@contextlib.asynccontextmanager
async def ticker() -> AsyncIterator[Ticker]:
    t = Ticker()

    async def tick() -> None:
        while True:
            t.ticks += 1
            await anyio.sleep(0.001)

    async with anyio.create_task_group() as tg:
        tg.start_soon(tick)
        try:
            yield t
        finally:
            tg.cancel_scope.cancel()
            t.closed = True


def test_service_background_task_outlives_execute(engine: Engine) -> None:
    async def make() -> Ticker:
        return await engine.service(Ticker, ticker)

    LocalRuntime(engine).execute(_bump_workflow().build())
    service = engine.call(make)
    seen = service.ticks

    async def wait_for_more() -> int:
        while service.ticks < seen + 5:
            await anyio.sleep(0.001)
        return service.ticks

    assert engine.call(wait_for_more) >= seen + 5
    engine.shutdown()
    assert service.closed


@pytest.mark.anyio
async def test_concurrent_callers_get_one_instance(engine: Engine) -> None:
    made: list[object] = []
    release = threading.Event()

    @contextlib.asynccontextmanager
    async def slow_factory() -> AsyncIterator[Ticker]:
        await anyio.to_thread.run_sync(release.wait)
        t = Ticker()
        made.append(t)
        yield t

    got: list[Ticker] = []

    async def ask() -> None:
        got.append(await engine.service(Ticker, slow_factory))

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(ask)
        with anyio.fail_after(10):  # all three wait while the first creation runs
            while engine.service_waiters(Ticker) < 3:
                await anyio.sleep(0.001)
        release.set()
    assert len(made) == 1
    assert got[0] is got[1] is got[2] is made[0]


class Closable:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log


def closable(name: str, log: list[str]) -> contextlib.AbstractAsyncContextManager[Closable]:
    @contextlib.asynccontextmanager
    async def cm() -> AsyncIterator[Closable]:
        log.append(f"open {name}")
        try:
            yield Closable(name, log)
        finally:
            log.append(f"close {name}")

    return cm()


class First(Closable):
    pass


class Second(Closable):
    pass


def test_shutdown_closes_services_in_reverse_order() -> None:
    engine = Engine()
    log: list[str] = []

    async def create() -> None:
        await engine.service(First, lambda: closable("first", log))  # type: ignore[arg-type, return-value]
        await engine.service(Second, lambda: closable("second", log))  # type: ignore[arg-type, return-value]

    engine.call(create)
    assert log == ["open first", "open second"]
    engine.shutdown()
    assert log == ["open first", "open second", "close second", "close first"]
    assert engine.state == "stopped"
    engine.shutdown()  # idempotent
    with pytest.raises(EngineError, match="stopped"):
        engine.call(create)
    with pytest.raises(EngineError, match="stopped"):
        LocalRuntime(engine).execute(_bump_workflow().build())


def test_failed_service_creation_is_reported_and_retried(engine: Engine) -> None:
    attempts: list[int] = []

    @contextlib.asynccontextmanager
    async def flaky() -> AsyncIterator[Ticker]:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("port 9 is busy")
        yield Ticker()

    async def get() -> Ticker:
        return await engine.service(Ticker, flaky)

    with pytest.raises(EngineError, match="service Ticker could not be started: OSError: port 9"):
        engine.call(get)
    assert isinstance(engine.call(get), Ticker)
    assert len(attempts) == 2


@pytest.mark.anyio
async def test_shutdown_cancels_a_run_in_flight() -> None:
    engine = Engine()
    door = uuid.uuid4().hex
    b = WorkflowBuilder().add_node("RtGate", "slow", {"operation": "wait", "door": door})
    failure: list[BaseException] = []

    async def run() -> None:
        try:
            await LocalRuntime(engine).execute_async(b.build())
        except EngineError as exc:
            failure.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        while not (await gate_state(engine, door))[0]:
            await anyio.sleep(0.005)
        await anyio.to_thread.run_sync(engine.shutdown)
    assert len(failure) == 1
    assert "shut down while the call was running" in str(failure[0])


@pytest.mark.anyio
async def test_blocking_call_inside_a_loop_is_refused(engine: Engine) -> None:
    async def answer() -> int:
        return 42

    with pytest.raises(EngineError, match=r"use await engine\.call_async\(\)"):
        engine.call(answer)
    assert await engine.call_async(answer) == 42


def test_bad_shutdown_timeout() -> None:
    with pytest.raises(ConfigError, match="shutdown_timeout"):
        Engine(shutdown_timeout=0)


def test_default_engine_is_replaced_after_shutdown() -> None:
    first = default_engine()
    LocalRuntime().execute(_bump_workflow().build())
    first.shutdown()
    second = default_engine()
    assert second is not first
    results, _ = LocalRuntime().execute(_bump_workflow().build())
    assert results["bump"]["result"] == 1  # a fresh engine has fresh services


def test_a_service_factory_may_depend_on_another_service(engine: Engine) -> None:
    log: list[str] = []

    @contextlib.asynccontextmanager
    async def outer() -> AsyncIterator[Second]:
        inner = await engine.service(First, lambda: closable("first", log))  # type: ignore[arg-type, return-value]
        async with closable("second", log) as made:
            yield Second(made.name + "+" + inner.name, log)

    async def get() -> Second:
        return await engine.service(Second, outer)

    assert engine.call(get).name == "second+first"
    engine.shutdown()
    # The dependency was opened first, so it is closed last.
    assert log == ["open first", "open second", "close second", "close first"]
