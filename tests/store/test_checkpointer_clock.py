"""The background checkpointer's interval is decided by the store's injected clock."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.clock import ManualClock
from edge_actors.store import WorkloadStore

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = pytest.mark.anyio


async def _wait_for(predicate: Callable[[], bool], what: str) -> None:
    # Bounded well below the 10 s interval: only the manual clock can make it true.
    with anyio.move_on_after(5):
        while not predicate():
            await anyio.sleep(0.01)
    assert predicate(), what


async def test_the_next_checkpoint_waits_for_the_clock(tmp_path: Path) -> None:
    clock = ManualClock()
    store = await WorkloadStore.open(tmp_path / "w.sqlite", "w", create=True, clock=clock)
    try:
        cp = store._writer.checkpointer
        cp.interval_s = 10.0
        await store.put("a", b"1")
        await _wait_for(lambda: cp.passive_runs == 1, "the first commit is checkpointed")
        first_at = clock.monotonic()
        await store.put("b", b"2")
        await _wait_for(lambda: cp.due_at is not None, "the next checkpoint is deferred")
        assert cp.due_at == first_at + 10.0
        assert cp.passive_runs == 1  # deferred, not run
        clock.advance(10.0)
        await _wait_for(lambda: cp.passive_runs == 2, "due once the clock passed the interval")
        assert cp.due_at is None
    finally:
        await store.close()
