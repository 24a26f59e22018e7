"""The undo of a cut activation waits for no fsync inside the hold (two real daemons).

When a cutover's activation is cut at its deadline, the source must hear from the target
that it is ``incoming`` and will not activate at the attempt's epoch before it serves
writes again. That call and the source's own bookkeeping used to wait for three fsyncs
on a busy disk (the target's epoch and routing files, then the source's mark), which took
holds 17-50 ms past a 50 ms deadline in the wide-plan benchmark. Now:

* the target answers an undo of an activation that has not begun its durable writes
  (its route is still ``incoming``) once the epoch is burned in memory, then writes the
  epoch file: a later activation at that epoch is refused at once, and none can arrive
  after a restart (its connection died with the process);
* the source releases the held writes first and clears its ``retiring_to`` mark after
  (a crash in between comes back redirecting to an incoming target, never serving a
  second copy), as it already did when the target refused in time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest
from stalls import SlowEpochFile, cutover_request, stalled_target

from edge_actors.edge import EdgeHTTPError
from support.state_files import edge_state

if TYPE_CHECKING:
    from conftest import Pair  # tests/edge/conftest.py
    from edge_actors.edge import EdgeDaemon

pytestmark = pytest.mark.anyio


def _epochs(daemon: EdgeDaemon) -> dict[str, dict[str, object]]:
    return edge_state(daemon.config.data_dir)["epochs"]


async def test_the_target_answers_an_undo_before_its_epoch_file_is_written(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    await pair.admin_east.create_workload("orders", "incoming", migration_id="mig-1")
    disk = SlowEpochFile(pair.east, monkeypatch, b'"undone_epoch":3')
    try:
        with anyio.fail_after(4):  # the epoch file's write is held back for 5 s
            info = await pair.admin_east.set_status("orders", "incoming", epoch=3)
        assert info.status == "incoming"
        assert await anyio.to_thread.run_sync(disk.entered.wait, 4)  # written after it
        with pytest.raises(EdgeHTTPError) as caught:
            await pair.admin_east.activate("orders", min_lsn=0, digest=None, epoch=3)
        assert (caught.value.status, caught.value.code) == (409, "stale_epoch")
        assert (await pair.admin_east.workload("orders")).status == "incoming"
    finally:
        disk.go.set()
    with anyio.fail_after(5):
        while _epochs(pair.east).get("orders", {}).get("undone_epoch") != 3:
            await anyio.sleep(0.01)


async def test_the_target_still_undoes_a_begun_activation_durably_before_answering(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An activation that went ``active`` here is put back to ``incoming`` on disk first."""
    await pair.admin_east.create_workload("orders", "incoming", migration_id="mig-1")
    await pair.admin_east.activate("orders", min_lsn=0, digest=None, epoch=2)
    disk = SlowEpochFile(pair.east, monkeypatch, b'"undone_epoch":3')
    answers: list[str] = []

    async def undo() -> None:
        answers.append((await pair.admin_east.set_status("orders", "incoming", epoch=3)).status)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(undo)
            assert await anyio.to_thread.run_sync(disk.entered.wait, 5)
            assert answers == []  # not answered before the epoch file is durable
            disk.go.set()
    finally:
        disk.go.set()
    assert answers == ["incoming"]
    assert edge_state(pair.east.config.data_dir)["routes"]["orders"]["status"] == "incoming"
    assert _epochs(pair.east)["orders"]["undone_epoch"] == 3


async def test_the_source_releases_writes_before_clearing_its_mark_after_a_cut(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    reached = await stalled_target(pair, monkeypatch)  # LSN 50 on west; east never answers
    disk = SlowEpochFile(pair.west, monkeypatch, b'"retiring_to":null', after=b'"retiring_to":"')
    failed: list[EdgeHTTPError] = []

    async def cutover() -> None:
        try:
            await pair.admin_west.cutover("orders", cutover_request(pair.east, 300.0))
        except EdgeHTTPError as exc:
            failed.append(exc)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(cutover)
            await reached.wait()
            assert await anyio.to_thread.run_sync(disk.entered.wait, 5)  # clearing the mark
            with anyio.fail_after(4):  # served before the mark's write ends (5 s)
                lsn = await pair.client.put("orders", "after", b"x")
            assert lsn == 51
            assert failed == []  # the cutover answers once the mark is cleared on disk
            disk.go.set()
    finally:
        disk.go.set()
    [error] = failed
    assert (error.status, error.code) == (502, "cutover_failed")
    assert "the target is back to incoming" in error.message
    assert (await pair.admin_west.workload("orders")).retiring_to is None
    assert _epochs(pair.west)["orders"].get("retiring_to") is None


async def test_an_undo_with_a_moved_to_url_is_refused_and_burns_nothing(pair: Pair) -> None:
    await pair.admin_east.create_workload("orders", "incoming", migration_id="mig-1")
    with pytest.raises(EdgeHTTPError) as caught:
        await pair.admin_east.set_status("orders", "incoming", "http://elsewhere", epoch=3)
    assert (caught.value.status, caught.value.code) == (400, "invalid_body")
    assert "moved_to" in caught.value.message
    info = await pair.admin_east.activate("orders", min_lsn=0, digest=None, epoch=3)
    assert info.status == "active"  # epoch 3 was not burned
