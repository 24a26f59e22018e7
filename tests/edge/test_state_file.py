"""State files (epoch fence, routing table): durable writes that wait together commit once."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import msgspec
import pytest

from edge_actors.edge._routing import StateFile

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


async def _queue_writes_behind_lock(state: StateFile, values: list[int]) -> None:
    """Take every snapshot while the file's lock is held (as a write in progress holds
    it), then let the waiting writes run."""
    state._lock.acquire()  # a write in progress, as far as the waiting ones can tell
    released = False
    try:
        async with anyio.create_task_group() as writes:
            for value in values:
                writes.start_soon(state.write_async, {"value": value})
            while state._seq < len(values):  # every snapshot taken
                await anyio.lowlevel.checkpoint()
            state._lock.release()
            released = True
    finally:
        if not released:
            state._lock.release()


async def test_writes_waiting_for_the_lock_are_committed_by_one_replacement(
    tmp_path: Path,
) -> None:
    # Five activations' writes queue behind one in progress; whichever gets the lock
    # first writes the newest snapshot and the others find theirs on disk. Repeated: with
    # one replacement per write, the newest would have to win the lock every time.
    for attempt in range(10):
        path = tmp_path / f"state-{attempt}.json"
        state = StateFile(path)
        await _queue_writes_behind_lock(state, [1, 2, 3, 4, 5])
        assert state.replaced == 1, f"attempt {attempt}: {state.replaced} replacements"
        assert msgspec.json.decode(path.read_bytes()) == {"value": 5}
        assert not path.with_suffix(".json.tmp").exists()


async def test_a_write_after_the_group_replaces_the_file_again(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = StateFile(path)
    await _queue_writes_behind_lock(state, [1, 2])
    await state.write_async({"value": 3})
    state.write({"value": 4})
    assert state.replaced == 3
    assert msgspec.json.decode(path.read_bytes()) == {"value": 4}


async def test_a_failed_group_write_leaves_the_waiting_writes_to_commit_themselves(
    tmp_path: Path,
) -> None:
    # The file cannot be replaced (its directory is gone): every write of the group
    # fails, each on its own attempt; once writable again, the next write commits the
    # newest state and the file never holds an older one.
    folder = tmp_path / "state"
    folder.mkdir()
    path = folder / "state.json"
    state = StateFile(path)
    await state.write_async({"value": 0})
    path.unlink()
    folder.rmdir()
    failures = 0

    async def write(value: int) -> None:
        nonlocal failures
        try:
            await state.write_async({"value": value})
        except FileNotFoundError:
            failures += 1

    async with anyio.create_task_group() as writes:
        for value in (1, 2, 3):
            writes.start_soon(write, value)
    assert failures == 3
    assert state.replaced == 1
    folder.mkdir()
    await state.write_async({"value": 4})
    assert state.replaced == 2
    assert msgspec.json.decode(path.read_bytes()) == {"value": 4}
