"""State files (epoch fence, routing table): durable in place, torn writes read as the
state before them, and writes that wait together commit once."""

from __future__ import annotations

import os
import textwrap
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_actors.edge import EdgeError
from edge_actors.edge._state_file import StateFile, read_state_file
from faults._injectors import SmallDisk, mounted_small_disk
from support.state_files import kill_writer_after, unwritable, write_with_power_loss

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.anyio

_SLOT = 4096


def _value(path: Path) -> object:
    return read_state_file(path, object, "state")


def _slots(path: Path) -> tuple[bytes, bytes]:
    data = path.read_bytes()
    half = len(data) // 2
    return data[:half], data[half:]


def test_a_write_stays_in_place_and_leaves_the_directory_alone(tmp_path: Path) -> None:
    # Replacing the file by a rename changed the directory on every write, durable only
    # after a directory sync that was never done. Now only the first write creates it.
    path = tmp_path / "routing.state"
    state = StateFile(path, "routing table")
    state.write({"value": 1})
    inode = path.stat().st_ino
    listing = sorted(os.listdir(tmp_path))
    directory = tmp_path.stat().st_mtime_ns
    for value in range(2, 12):
        state.write({"value": value})
    assert path.stat().st_ino == inode
    assert sorted(os.listdir(tmp_path)) == listing == ["routing.state"]
    assert tmp_path.stat().st_mtime_ns == directory
    assert path.stat().st_size == 2 * _SLOT
    assert _value(path) == {"value": 11}
    assert state.replaced == 11


def test_the_two_slots_hold_the_newest_state_and_the_one_before(tmp_path: Path) -> None:
    path = tmp_path / "epochs.state"
    state = StateFile(path, "epoch file")
    for value in (1, 2, 3):
        state.write({"value": value})
    first, second = _slots(path)
    assert b'{"value":3}' in second  # generation 3: slot 1
    assert b'{"value":2}' in first


def _torn_write(path: Path, value: object, cut: int) -> bool:
    """Write ``value`` as a writer that loses power after ``cut`` bytes of its record
    (a new writer, which loads the file first, as a restarted edge does); whether the
    write was whole all the same (the record was no longer, or it grew the file, which
    goes through a replacement: whole or not at all)."""
    writer = StateFile(path, "epoch file")
    writer.load(object)
    return write_with_power_loss(lambda: writer.write(value), cut)


def test_a_torn_write_reads_as_the_state_before_it(tmp_path: Path) -> None:
    # A power loss inside the write leaves the slot being written with part of its new
    # record: its checksum fails, so the other slot (the newest whole state) is read.
    path = tmp_path / "epochs.state"
    state = StateFile(path, "epoch file")
    state.write({"value": 1})
    state.write({"value": 2})
    for cut in (0, 4, 19, 20, 25):
        assert not _torn_write(path, {"value": 3}, cut)
        assert _value(path) == {"value": 2}
    assert _torn_write(path, {"value": 3}, 100)  # the whole record: written
    assert _value(path) == {"value": 3}


def test_a_damaged_newest_slot_reads_as_the_state_before_it(tmp_path: Path) -> None:
    path = tmp_path / "epochs.state"
    state = StateFile(path, "epoch file")
    state.write({"value": 1})
    state.write({"value": 2})  # slot 0
    with path.open("r+b") as handle:
        handle.seek(30)
        handle.write(b"garbage")
    assert _value(path) == {"value": 1}


def test_a_file_with_no_whole_state_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "routing.state"
    StateFile(path, "routing table").write({"value": 1})
    path.write_bytes(bytes(2 * _SLOT))
    with pytest.raises(EdgeError, match=r"routing table '.*routing\.state' is unreadable: neither"):
        StateFile(path, "routing table").load(object)
    path.write_bytes(b"{}")
    with pytest.raises(EdgeError, match=r"2 bytes, not two slots"):
        read_state_file(path, object, "routing table")


def test_a_failed_write_keeps_the_good_copy_and_the_next_one_lands(tmp_path: Path) -> None:
    path = tmp_path / "routing.state"
    state = StateFile(path, "routing table")
    state.write({"value": 1})
    state.write({"value": 2})
    with unwritable(path), pytest.raises(OSError, match=r"routing\.state"):
        state.write({"value": 3})
    assert _value(path) == {"value": 2}
    state.write({"value": 4})  # into the slot the failed write was for, not over 2's
    first, second = _slots(path)
    assert b'{"value":2}' in first
    assert b'{"value":4}' in second
    assert _value(path) == {"value": 4}


def test_a_write_whose_sync_fails_never_reads_as_the_new_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The record reached the page cache but its sync failed (an I/O error): the change
    # was reported as failed, so a restart must not find it.
    path = tmp_path / "routing.state"
    state = StateFile(path, "routing table")
    state.write({"value": 1})
    state.write({"value": 2})

    def failing_sync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing_sync)
    with pytest.raises(OSError, match="Input/output error"):
        state.write({"value": 3})
    monkeypatch.undo()
    assert _value(path) == {"value": 2}
    state.write({"value": 4})
    assert _value(path) == {"value": 4}
    assert b'{"value":2}' in _slots(path)[0]  # the good copy was kept


def test_a_state_that_outgrows_its_slots_grows_the_file(tmp_path: Path) -> None:
    path = tmp_path / "epochs.state"
    state = StateFile(path, "epoch file")
    state.write({"value": 1})
    big = {"value": "x" * 10_000}
    state.write(big)
    assert path.stat().st_size == 2 * 16_384
    assert _value(path) == big
    inode = path.stat().st_ino
    state.write({"value": 3})  # smaller again: in place, in the grown slots
    assert (path.stat().st_ino, path.stat().st_size) == (inode, 2 * 16_384)
    reloaded = StateFile(path, "epoch file")
    assert reloaded.load(object) == {"value": 3}
    reloaded.write({"value": 4})
    assert path.stat().st_ino == inode
    assert _value(path) == {"value": 4}


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 1 MiB tmpfs (skipped where mounting is not permitted)."""
    with mounted_small_disk(tmp_path) as disk:
        yield disk


def test_a_full_disk_takes_writes_in_place_and_refuses_growth_cleanly(
    full_disk: SmallDisk,
) -> None:
    # An activation's durable write needs no new block: it goes on when the disk is full.
    path = full_disk.path / "epochs.state"
    state = StateFile(path, "epoch file")
    state.write({"value": 0})
    assert full_disk.fill() > 0
    for value in range(1, 6):
        state.write({"value": value})
    assert _value(path) == {"value": 5}
    with pytest.raises(OSError, match="No space left"):  # growing needs new blocks
        state.write({"value": "x" * 10_000})
    assert _value(path) == {"value": 5}
    assert sorted(p.name for p in full_disk.path.iterdir()) == ["ballast", "epochs.state"]
    full_disk.free()
    state.write({"value": "x" * 10_000})
    assert _value(path) == {"value": "x" * 10_000}


def test_a_file_removed_under_the_writer_is_created_again(tmp_path: Path) -> None:
    path = tmp_path / "routing.state"
    state = StateFile(path, "routing table")
    state.write({"value": 1})
    path.unlink()
    state.write({"value": 2})
    assert _value(path) == {"value": 2}


def test_an_old_json_file_is_read_and_rewritten_in_place_format(tmp_path: Path) -> None:
    legacy = tmp_path / "epochs.json"
    legacy.write_bytes(b'{"version":1,"workloads":{"orders":{"epoch":4}}}')
    path = tmp_path / "epochs.state"
    state = StateFile(path, "epoch file")
    assert state.load(object) == {"version": 1, "workloads": {"orders": {"epoch": 4}}}
    assert not legacy.exists()
    assert _value(path) == {"version": 1, "workloads": {"orders": {"epoch": 4}}}
    state.write({"value": 2})
    assert StateFile(path, "epoch file").load(object) == {"value": 2}


def test_an_unreadable_old_json_file_is_refused_and_kept(tmp_path: Path) -> None:
    legacy = tmp_path / "routing.json"
    legacy.write_bytes(b"{not json")
    with pytest.raises(EdgeError, match=r"routing table '.*routing\.json' is unreadable"):
        StateFile(tmp_path / "routing.state", "routing table").load(object)
    assert legacy.read_bytes() == b"{not json"


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 5_000), st.one_of(st.none(), st.integers(0, 5_100))),
        min_size=1,
        max_size=12,
    )
)
def test_after_any_torn_write_the_last_whole_write_is_read(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[int, int | None]]
) -> None:
    # Each step writes a state of some size; a step with a cut is a write torn by a power
    # loss after that many bytes: the file then reads as the last whole write (or as the
    # new state when the slot's old bytes happen to complete it), and a new writer (the
    # restarted edge) carries on from it.
    path = tmp_path_factory.mktemp("state") / "epochs.state"
    last: object = None
    for number, (size, cut) in enumerate(steps):
        value = {"n": number, "pad": "p" * size}
        if cut is None or not path.exists():
            state = StateFile(path, "epoch file")
            state.load(object)
            state.write(value)
            last = value
        elif _torn_write(path, value, cut):
            last = value
        else:
            # the slot's old bytes may complete the torn record (the same tail): then it
            # reads as the new state, whole, and never as anything else
            read = StateFile(path, "epoch file").load(object)
            assert read in (last, value)
            last = read
        assert StateFile(path, "epoch file").load(object) == last
    assert _value(path) == last


@settings(max_examples=200, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=3 * _SLOT),
        # a real file with some of its bytes changed
        st.lists(st.tuples(st.integers(0, 2 * _SLOT - 1), st.integers(0, 255)), max_size=8),
    )
)
def test_any_bytes_read_as_a_state_or_a_named_refusal(
    tmp_path_factory: pytest.TempPathFactory, data: bytes | list[tuple[int, int]]
) -> None:
    path = tmp_path_factory.mktemp("state") / "routing.state"
    if isinstance(data, list):
        state = StateFile(path, "routing table")
        state.write({"value": 1})
        state.write({"value": 2})
        image = bytearray(path.read_bytes())
        for offset, byte in data:
            image[offset] = byte
        path.write_bytes(bytes(image))
    else:
        path.write_bytes(data)
    refusal: EdgeError | None = None
    try:
        value = read_state_file(path, object, "routing table")
    except EdgeError as exc:  # anything else fails the test
        refusal = exc
    if refusal is not None:
        assert "routing table" in str(refusal)
        assert "routing.state" in str(refusal)
    elif isinstance(data, list):  # a damaged real file: one of its two states, or none
        assert value in ({"value": 1}, {"value": 2})


async def test_writes_waiting_for_the_lock_are_committed_by_one_write(tmp_path: Path) -> None:
    # Five activations' writes queue behind one in progress; whichever gets the lock
    # first writes the newest snapshot and the others find theirs on disk. Repeated: with
    # one write each, the newest would have to win the lock every time.
    for attempt in range(10):
        path = tmp_path / f"state-{attempt}.state"
        state = StateFile(path, "state")
        state.write({"value": 0})
        await _queue_writes_behind_lock(state, [1, 2, 3, 4, 5])
        assert state.replaced == 2, f"attempt {attempt}: {state.replaced} writes"
        assert _value(path) == {"value": 5}


async def test_a_failed_group_write_leaves_the_waiting_writes_to_commit_themselves(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.state"
    state = StateFile(path, "state")
    await state.write_async({"value": 0})
    failures = 0

    async def write(value: int) -> None:
        nonlocal failures
        try:
            await state.write_async({"value": value})
        except IsADirectoryError:
            failures += 1

    with unwritable(path):
        async with anyio.create_task_group() as writes:
            for value in (1, 2, 3):
                writes.start_soon(write, value)
    assert failures == 3
    assert state.replaced == 1
    await state.write_async({"value": 4})
    assert state.replaced == 2
    assert _value(path) == {"value": 4}


async def _queue_writes_behind_lock(state: StateFile, values: list[int]) -> None:
    """Take every snapshot while the file's lock is held (as a write in progress holds
    it), then let the waiting writes run."""
    state._lock.acquire()  # a write in progress, as far as the waiting ones can tell
    released = False
    seq = state._seq
    try:
        async with anyio.create_task_group() as writes:
            for value in values:
                writes.start_soon(state.write_async, {"value": value})
            while state._seq < seq + len(values):  # every snapshot taken
                await anyio.lowlevel.checkpoint()
            state._lock.release()
            released = True
    finally:
        if not released:
            state._lock.release()


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from edge_actors.edge._state_file import StateFile

    state = StateFile(Path(sys.argv[1]), "epoch file")
    state.load(object)
    generation = 0
    while True:
        generation += 1
        state.write({"generation": generation, "pad": "p" * (generation % 3000)})
        print(generation, flush=True)
    """
)


def test_a_writer_killed_at_any_point_leaves_a_whole_state_at_least_as_new_as_it_said(
    tmp_path: Path,
) -> None:
    path = tmp_path / "epochs.state"
    for kill_after in (1, 7, 40, 300):
        acknowledged = kill_writer_after(_WRITER, path, kill_after)
        value = StateFile(path, "epoch file").load(dict[str, object])
        assert value is not None
        assert isinstance(value["generation"], int)
        assert value["generation"] >= acknowledged
        assert value["pad"] == "p" * (value["generation"] % 3000)
