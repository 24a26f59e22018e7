"""WorkloadStore.writes_settled: background jobs yield to the foreground writes in flight."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

import edge_actors.store._writer as writer_module
from edge_actors.store import StoreError

if TYPE_CHECKING:
    from edge_actors.store import WorkloadStore

pytestmark = pytest.mark.anyio


async def _until(condition: object) -> None:
    """Let other tasks run until ``condition()`` holds (bounded by the test's timeout)."""
    assert callable(condition)
    while not condition():
        await anyio.lowlevel.checkpoint()


async def test_no_write_in_flight_returns_at_once(store: WorkloadStore) -> None:
    assert store.foreground_writes == 0
    with anyio.fail_after(5):
        await store.writes_settled()
    await store.put("a", b"1")
    assert store.foreground_writes == 0
    await store.writes_settled()


async def test_waits_until_the_writes_in_flight_have_committed(store: WorkloadStore) -> None:
    answered: list[int] = []

    async def put(i: int) -> None:
        answered.append(await store.put(f"k{i}", b"v"))

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(put, i)
        await _until(lambda: store.foreground_writes == 20)
        assert store.lsn == 0  # none has committed yet
        with anyio.fail_after(10):
            await store.writes_settled()
        # every write that was in flight at the call is committed and answered
        assert store.lsn == 20
        assert store.foreground_writes == 0
        assert sorted(answered) == list(range(1, 21))


async def test_a_steady_stream_of_writes_does_not_starve_the_caller(
    store: WorkloadStore,
) -> None:
    stop = anyio.Event()
    written = 0

    async def writer(index: int) -> None:
        nonlocal written
        while not stop.is_set():
            await store.put(f"w{index}", b"x" * 100)
            written += 1

    async with anyio.create_task_group() as tg:
        for index in range(4):
            tg.start_soon(writer, index)
        await _until(lambda: written >= 8 and store.foreground_writes > 0)
        before = store.lsn
        for _ in range(5):  # returns each time although writes never stop
            with anyio.fail_after(10):
                await store.writes_settled()
        assert store.lsn > before
        stop.set()


async def test_a_failed_commit_still_wakes_the_waiter(
    store: WorkloadStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(self: object, groups: object) -> list[int]:
        raise StoreError("disk I/O error (injected)")

    monkeypatch.setattr(writer_module.WriteSide, "write", fail)
    failures: list[Exception] = []

    async def put(i: int) -> None:
        try:
            await store.put(f"k{i}", b"v")
        except StoreError as exc:
            failures.append(exc)

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(put, i)
        await _until(lambda: store.foreground_writes == 5)
        with anyio.fail_after(10):
            await store.writes_settled()
        assert store.foreground_writes == 0
    assert len(failures) == 5
    assert store.lsn == 0
