"""Per-workload state (routing table, epoch fence) as a snapshot and a log of changes: a
write costs what changed, torn or failed writes read as the state before them, and
compaction keeps the log bounded."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stalls import cutover_request

from edge_actors.edge import EdgeError, EdgeHTTPError
from edge_actors.edge._edge_state import open_edge_state
from edge_actors.edge._routing import Route
from edge_actors.edge._state_file import StateFile, read_state_file
from edge_actors.edge._state_log import StateLog, StateTable, read_state_log
from faults._injectors import SmallDisk, mounted_small_disk
from support.state_files import (
    edge_state,
    kill_writer_after,
    unwritable,
    write_with_power_loss,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import Pair  # tests/edge/conftest.py

pytestmark = pytest.mark.anyio

_DIGEST = "5f" * 16
EDGE_FILES = ["edge.log", "edge.state", "epochs.json", "routing.json"]  # and its markers


class _Entry(msgspec.Struct, frozen=True):
    epoch: int
    pad: str = ""


def _open(path: Path) -> StateTable[_Entry]:
    return StateLog(path, "epoch file", ("workloads",)).table("workloads", _Entry)


def _with(path: Path, **epochs: int) -> StateTable[_Entry]:
    """The table at ``path`` with ``epochs`` set and saved."""
    state = _open(path)
    for key, epoch in epochs.items():
        state.set(key, _Entry(epoch))
    state.log.save_now()
    return state


def _state(path: Path) -> dict[str, object] | None:
    tables = read_state_log(path, ("workloads",), "epoch file")
    return None if tables is None else tables["workloads"]


def _wchar() -> int:
    """Bytes this process has passed to write calls so far (``/proc/self/io``)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/self/io")


def test_an_activation_on_an_edge_that_knows_many_workloads_writes_only_its_change(
    tmp_path: Path,
) -> None:
    # The routing table and the epoch file were rewritten whole on every change: with
    # 2,000 workloads fenced here, one activation wrote ~400 KB and encoded it on the loop.
    routing, fence = open_edge_state(tmp_path)
    for i in range(2_000):
        fence.record(f"w{i:05d}", 3, "active", activated=(100 + i, _DIGEST))
        routing.put(f"w{i:05d}", Route("active", None, f"mig-{i}"))
    fence.record("seed", 1)
    routing.state.save_now()
    before = _wchar()
    fence.record("w00007", 4, "active", activated=(900, _DIGEST))
    routing.put("w00007", Route("moved", "http://edge-east", "mig-next"))
    routing.state.save_now()  # one record: the epoch and the route (as an activation)
    written = _wchar() - before
    assert written < 2_000, f"{written} bytes written for one workload's change"
    state = edge_state(tmp_path)
    assert state["epochs"]["w00007"]["epoch"] == 4
    routes = state["routes"]
    assert routes["w00007"] == {
        "status": "moved",
        "moved_to": "http://edge-east",
        "migration_id": "mig-next",
    }
    assert len(routes) == 2_000
    reloaded, fenced = open_edge_state(tmp_path)
    assert reloaded.get("w00007") == Route("moved", "http://edge-east", "mig-next")
    assert reloaded.get("w01999") == Route("active", None, "mig-1999")
    assert fenced.get("w00007").activated_lsn == 900


async def test_an_activation_is_one_write_for_its_epoch_and_its_route(pair: Pair) -> None:
    # The epoch file and the routing table were two files, each synced: an activation
    # waited for the slower of two syncs. They are two tables of one log now.
    admin = pair.admin_east
    await admin.create_workload("orders", "incoming", migration_id="mig-1", epoch=1)
    log = pair.east.router.fence.state
    assert pair.east.router.routing.state is log
    writes = log.appended + log.compacted
    await admin.activate("orders", min_lsn=0, digest=None, epoch=2)
    assert log.appended + log.compacted == writes + 1
    state = edge_state(pair.east.config.data_dir)
    assert state["routes"]["orders"]["status"] == "active"
    assert state["epochs"]["orders"]["epoch"] == 2


def test_changes_and_removals_survive_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "epochs.state"
    state = _open(path)
    state.set("a", _Entry(1))
    state.set("b", _Entry(2))
    state.log.save_now()
    state.set("a", _Entry(5))
    assert state.pop("b") == _Entry(2)
    assert state.pop("missing") is None
    state.log.save_now()
    assert (state.log.compacted, state.log.appended) == (1, 1)  # the first write creates both files
    assert sorted(os.listdir(tmp_path)) == ["epochs.log", "epochs.state"]
    reloaded = _open(path)
    assert dict(reloaded.items()) == {"a": _Entry(5)}
    assert _state(path) == {"a": {"epoch": 5, "pad": ""}}


def test_appends_leave_the_snapshot_and_the_directory_alone(tmp_path: Path) -> None:
    path = tmp_path / "epochs.state"
    state = _with(path, a=1)
    snapshot = path.read_bytes()
    inodes = (path.stat().st_ino, state.log.log_path.stat().st_ino)
    directory = tmp_path.stat().st_mtime_ns
    for epoch in range(2, 40):
        state.set("a", _Entry(epoch))
        state.log.save_now()
    assert path.read_bytes() == snapshot
    assert (path.stat().st_ino, state.log.log_path.stat().st_ino) == inodes
    assert tmp_path.stat().st_mtime_ns == directory
    assert state.log.appended == 38
    assert _state(path) == {"a": {"epoch": 39, "pad": ""}}


def test_a_full_log_is_compacted_into_the_snapshot_and_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "epochs.state"
    state = _with(path, keep=0)
    size = state.log.log_path.stat().st_size
    epoch = 0
    while state.log.compacted < 3:
        epoch += 1
        state.set("hot", _Entry(epoch, "p" * 1_000))
        state.log.save_now()
    assert state.log.log_path.stat().st_size == size  # the state is small: the same log
    hot = {"epoch": epoch, "pad": "p" * 1_000}
    assert _state(path) == {"keep": {"epoch": 0, "pad": ""}, "hot": hot}
    # The log still holds records of the snapshots before, further on: never taken.
    state.set("hot", _Entry(-1))
    state.log.save_now()
    assert _state(path) == {"keep": {"epoch": 0, "pad": ""}, "hot": {"epoch": -1, "pad": ""}}
    assert dict(_open(path).items()) == {"keep": _Entry(0), "hot": _Entry(-1)}


def test_a_growing_state_gets_a_larger_log(tmp_path: Path) -> None:
    path = tmp_path / "epochs.state"
    state = _open(path)
    for i in range(400):
        state.set(f"w{i:04d}", _Entry(i, "p" * 200))
        state.log.save_now()
    # sized at the last compaction: twice the snapshot it wrote, or a little more
    snapshot = len(msgspec.json.encode(read_state_file(path, object, "epoch file")))
    assert 64 * 1024 < 2 * snapshot <= state.log.log_path.stat().st_size <= 4 * snapshot
    assert len(dict(_open(path).items())) == 400


def _torn_append(path: Path, key: str, value: _Entry, cut: int) -> bool:
    """Append ``key = value`` as a writer that loses power after ``cut`` bytes of its
    record (a new writer, as a restarted edge); whether the record was whole all the same."""
    writer = _open(path)
    writer.set(key, value)
    return write_with_power_loss(writer.log.save_now, cut)


def test_a_torn_append_reads_as_the_state_before_it(tmp_path: Path) -> None:
    path = tmp_path / "epochs.state"
    state = _with(path, a=1)
    state.set("a", _Entry(2))
    state.log.save_now()
    for cut in (0, 4, 23, 24, 30, 40):
        assert not _torn_append(path, "a", _Entry(3), cut)
        assert _state(path) == {"a": {"epoch": 2, "pad": ""}}
    assert _torn_append(path, "a", _Entry(3), 1_000)
    assert _state(path) == {"a": {"epoch": 3, "pad": ""}}


def test_a_failed_write_keeps_its_changes_for_the_next_one(tmp_path: Path) -> None:
    path = tmp_path / "epochs.state"
    state = _with(path, a=1, b=1)
    state.set("a", _Entry(2))
    state.set("b", _Entry(2))
    with unwritable(path), pytest.raises(OSError, match=r"epochs\.log"):
        state.log.save_now()
    assert _state(path) == {"a": {"epoch": 1, "pad": ""}, "b": {"epoch": 1, "pad": ""}}
    state.set("b", _Entry(1))  # the owner puts back what it reported as failed
    state.log.save_now()
    assert _state(path) == {"a": {"epoch": 2, "pad": ""}, "b": {"epoch": 1, "pad": ""}}


def test_an_append_whose_sync_fails_never_reads_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "epochs.state"
    state = _with(path, a=1)
    state.set("a", _Entry(2))
    state.log.save_now()

    def failing_sync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    state.set("a", _Entry(3))
    monkeypatch.setattr(os, "fdatasync", failing_sync)
    with pytest.raises(OSError, match="Input/output error"):
        state.log.save_now()
    monkeypatch.undo()
    assert _state(path) == {"a": {"epoch": 2, "pad": ""}}
    state.set("a", _Entry(4))
    state.log.save_now()
    assert _state(path) == {"a": {"epoch": 4, "pad": ""}}


def test_a_log_removed_under_the_writer_is_compacted_into_a_new_one(tmp_path: Path) -> None:
    path = tmp_path / "epochs.state"
    state = _with(path, a=1)
    state.log.log_path.unlink()
    state.set("b", _Entry(2))
    state.log.save_now()
    assert state.log.log_path.exists()
    assert _state(path) == {"a": {"epoch": 1, "pad": ""}, "b": {"epoch": 2, "pad": ""}}


async def test_a_state_write_that_fails_is_a_typed_503_and_changes_nothing(
    pair: Pair, tmp_path: Path
) -> None:
    # It was a 500 ``internal_error`` whose cause only the edge's log told.
    admin = pair.admin_west
    await admin.create_workload("orders", epoch=1)
    with unwritable(tmp_path / "edge-west" / "edge.state"):
        with pytest.raises(EdgeHTTPError) as caught:
            await admin.set_status("orders", "moved", pair.east.url, epoch=2)
        cutover = cutover_request(pair.east, None)
        with pytest.raises(EdgeHTTPError) as at_bind:  # its first write binds the route
            await admin.cutover("orders", cutover)
    for error in (caught.value, at_bind.value):
        assert (error.status, error.code) == (503, "state_not_durable")
        assert "edge state could not be written (Is a directory" in error.message
    assert (await admin.workload("orders")).status == "active"
    assert pair.west.router.route_of("orders") == Route("active")  # unbound, as before
    assert edge_state(tmp_path / "edge-west")["routes"] == {}


def test_the_files_of_session_17_are_imported_once_and_replaced(tmp_path: Path) -> None:
    # ``routing.state`` and ``epochs.state``: each table whole in a state file's slots.
    StateFile(tmp_path / "routing.state", "routing table").write(
        {"version": 1, "routes": {"orders": {"status": "incoming", "migration_id": "m1"}}}
    )
    StateFile(tmp_path / "epochs.state", "epoch file").write(
        {"version": 1, "workloads": {"orders": {"epoch": 4, "undone_epoch": 2}}}
    )
    routing, fence = open_edge_state(tmp_path)
    assert routing.get("orders") == Route("incoming", None, "m1")
    assert (fence.get("orders").epoch, fence.get("orders").undone_epoch) == (4, 2)
    assert sorted(os.listdir(tmp_path)) == EDGE_FILES
    routing.put("orders", Route("active", None, "m1"))
    routing.state.save_now()
    again, fence_again = open_edge_state(tmp_path)
    assert again.get("orders") == Route("active", None, "m1")
    assert fence_again.get("orders").epoch == 4


def test_per_table_logs_and_old_json_files_are_imported(tmp_path: Path) -> None:
    # A table with its own log (a build between sessions 17 and 18) and a ``.json`` file
    # from before session 17.
    old = StateLog(tmp_path / "routing.state", "routing table", ("routes",))
    routes = old.table("routes", Route)
    routes.set("a", Route("incoming", None, "m1"))
    old.save_now()
    routes.set("a", Route("moved", "http://east", "m1"))
    routes.set("b", Route("incoming", None, "m2"))
    old.save_now()
    assert old.appended == 1
    (tmp_path / "epochs.json").write_bytes(b'{"version":1,"workloads":{"a":{"epoch":7}}}')
    routing, fence = open_edge_state(tmp_path)
    assert routing.get("a") == Route("moved", "http://east", "m1")
    assert routing.get("b") == Route("incoming", None, "m2")
    assert fence.get("a").epoch == 7
    assert sorted(os.listdir(tmp_path)) == EDGE_FILES


def test_old_files_left_beside_an_imported_state_are_replaced_unread(tmp_path: Path) -> None:
    # A crash between the import's write and the old files' removal.
    routing, _ = open_edge_state(tmp_path)
    routing.put("a", Route("incoming", None, "m1"))
    routing.state.save_now()
    (tmp_path / "routing.json").write_bytes(b"{not json")
    again, _ = open_edge_state(tmp_path)
    assert again.get("a") == Route("incoming", None, "m1")
    assert sorted(os.listdir(tmp_path)) == EDGE_FILES
    assert b"edge.state" in (tmp_path / "routing.json").read_bytes()  # now its marker


def test_unreadable_old_files_are_refused_by_name_and_kept(tmp_path: Path) -> None:
    (tmp_path / "epochs.json").write_bytes(b"{not json")
    with pytest.raises(EdgeError, match=r"epoch file '.*epochs\.json' is unreadable"):
        open_edge_state(tmp_path)
    assert (tmp_path / "epochs.json").read_bytes() == b"{not json"


def test_unreadable_state_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "epochs.state"
    StateFile(path, "epoch file").write({"version": 1, "routes": {}})
    with pytest.raises(EdgeError, match=r"'.*epochs\.state' is unreadable: no 'workloads'"):
        _open(path)
    StateFile(path, "epoch file").write({"version": 1, "workloads": {"a": {"epoch": "x"}}})
    with pytest.raises(
        EdgeError, match=r"epoch file '.*epochs\.state' is unreadable: workloads 'a'"
    ):
        _open(path)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=4_096))
def test_any_bytes_in_the_log_read_as_the_snapshot_or_a_named_refusal(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("state") / "epochs.state"
    state = _with(path, a=1)
    state.log.log_path.write_bytes(data)
    refusal: EdgeError | None = None
    try:
        state = _state(path)
    except EdgeError as exc:  # anything else fails the test
        refusal = exc
    if refusal is not None:
        assert "epochs.log" in str(refusal)
    else:
        assert state == {"a": {"epoch": 1, "pad": ""}}


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(0, 9), st.integers(0, 3_000)),
        st.tuples(st.just("pop"), st.integers(0, 9), st.just(0)),
        st.tuples(st.just("save"), st.just(0), st.just(0)),
        st.tuples(st.just("torn"), st.integers(0, 9), st.integers(0, 200)),
    ),
    max_size=60,
)


@settings(max_examples=80, deadline=None)
@given(ops=_OPS)
def test_after_any_changes_and_torn_writes_a_reader_sees_the_last_saved_state(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, int, int]]
) -> None:
    # Sets, removals, saves (values up to 3 KB fill the 64 KiB log: some compact) and
    # writes torn by a power loss, after which a restarted writer carries on from disk.
    path = tmp_path_factory.mktemp("state") / "epochs.state"
    state = _open(path)
    saved: dict[str, _Entry] = {}
    for number, (op, key, size) in enumerate(ops):
        name = f"w{key}"
        if op == "set":
            state.set(name, _Entry(number, "p" * size))
        elif op == "pop":
            state.pop(name)
        elif op == "save":
            state.log.save_now()
            saved = dict(state.items())
        elif path.exists():
            value = _Entry(-number)
            whole = _torn_append(path, name, value, size)
            state = _open(path)  # the restarted edge: unsaved changes are gone
            changed = {**saved, name: value}
            # torn: the state before it, unless the bytes already there complete the record
            assert (
                dict(state.items()) == changed if whole else dict(state.items()) in (saved, changed)
            )
            saved = dict(state.items())
        if path.exists():
            assert dict(_open(path).items()) == saved
        else:
            assert saved == {}


async def test_saves_waiting_for_the_lock_are_committed_by_one_append(tmp_path: Path) -> None:
    state = _open(tmp_path / "epochs.state")
    state.set("a", _Entry(0))
    await state.save()
    state.log._lock.acquire()  # a write in progress, as far as the waiting ones can tell
    released = False
    try:
        async with anyio.create_task_group() as saves:
            for epoch in range(1, 6):
                state.set(f"w{epoch}", _Entry(epoch))
                saves.start_soon(state.save)
            await anyio.sleep(0.05)  # each save is waiting for the lock in its thread
            state.log._lock.release()
            released = True
    finally:
        if not released:
            state.log._lock.release()
    assert state.log.appended == 1
    assert len(dict(_open(tmp_path / "epochs.state").items())) == 6


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 1 MiB tmpfs (skipped where mounting is not permitted)."""
    with mounted_small_disk(tmp_path) as disk:
        yield disk


def test_a_full_disk_takes_appends_and_refuses_growth_cleanly(full_disk: SmallDisk) -> None:
    # An activation's append needs no new block: it goes on when the disk is full.
    path = full_disk.path / "epochs.state"
    state = _with(path, a=0)
    assert full_disk.fill() > 0
    for epoch in range(1, 30):
        state.set("a", _Entry(epoch))
        state.log.save_now()
    assert _state(path) == {"a": {"epoch": 29, "pad": ""}}
    failure: OSError | None = None
    for i in range(100):  # until a compaction must grow the snapshot
        state.set(f"big{i}", _Entry(i, "p" * 2_000))
        try:
            state.log.save_now()
        except OSError as exc:
            failure = exc
            break
    assert failure is not None
    assert "No space left" in str(failure)
    on_disk_now = _state(path)
    assert on_disk_now is not None
    assert on_disk_now["a"] == {"epoch": 29, "pad": ""}
    full_disk.free()
    state.log.save_now()
    assert _state(path) == {key: msgspec.to_builtins(value) for key, value in state.items()}


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import msgspec
    from edge_actors.edge._state_log import StateLog

    class Entry(msgspec.Struct):
        epoch: int
        pad: str = ""

    table = StateLog(Path(sys.argv[1]), "epoch file", ("workloads",)).table("workloads", Entry)
    n = max((e.epoch for _, e in table.items()), default=0)
    while True:
        n += 1
        table.set(f"w{n % 50}", Entry(n, "p" * (n % 700)))
        if n % 7 == 0:
            table.pop(f"w{(n + 25) % 50}")
        table.log.save_now()
        print(n, flush=True)
    """
)


def _written_by_writer(n: int) -> dict[str, object]:
    """What :data:`_WRITER` holds after its change ``n`` (its changes depend on ``n`` alone,
    so a restarted writer carries on the same sequence)."""
    state: dict[str, object] = {}
    for k in range(1, n + 1):
        state[f"w{k % 50}"] = {"epoch": k, "pad": "p" * (k % 700)}
        if k % 7 == 0:
            state.pop(f"w{(k + 25) % 50}", None)
    return state


def test_a_writer_killed_at_any_point_keeps_every_change_it_acknowledged(
    tmp_path: Path,
) -> None:
    # Compactions come every few hundred writes here (values up to 700 bytes), so the
    # kills land in appends and in compactions. The last change always sets the entry
    # with the highest epoch: that epoch says how far the disk got.
    path = tmp_path / "epochs.state"
    for kill_after in (1, 9, 60, 400, 1_500):
        acknowledged = kill_writer_after(_WRITER, path, kill_after)
        state = _state(path)
        assert state is not None
        newest = max(entry["epoch"] for entry in state.values())  # type: ignore[index]
        assert newest >= acknowledged
        assert state == _written_by_writer(newest)
