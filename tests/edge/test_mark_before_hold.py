"""A cutover's source makes its ``retiring_to`` mark durable before it holds writes.

The mark (``edge/_fence.py``) must be on disk before the target is asked to activate, so
that a source killed after that comes back redirecting instead of serving a second copy.
Writing it inside the hold put one fsync (3-4 ms median here, more under a copy's I/O)
into every hold. It is now written before the hold, *unarmed*: writes that pass the gate
meanwhile still apply on the source (the target cannot be active yet); it is armed just
before the activation call, and a cutover undone before that clears it after the
release. Two real daemons on loopback; the pause hook stops the source right after the
mark is durable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import msgspec
import pytest
from stalls import cutover_request

from edge_actors.edge import EdgeHTTPError
from edge_actors.edge._test_hooks import PauseHook
from support.state_files import edge_state, unwritable

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Pair  # tests/edge/conftest.py
    from edge_actors.edge import EdgeDaemon
    from edge_actors.edge._models import CutoverAnswer, CutoverRequest

pytestmark = pytest.mark.anyio


def _request(east: EdgeDaemon, epoch: int, deadline_ms: float | None = None) -> CutoverRequest:
    return msgspec.structs.replace(cutover_request(east, deadline_ms), epoch=epoch)


def _fence_on_disk(daemon: EdgeDaemon) -> dict[str, dict[str, object]]:
    return edge_state(daemon.config.data_dir)["epochs"]


async def _seed(pair: Pair) -> None:
    await pair.admin_west.create_workload("orders", epoch=1)
    await pair.admin_east.create_workload("orders", "incoming", epoch=1)
    await pair.client.batch("orders", [(f"r{i:03d}", b"v") for i in range(50)])  # LSN 50


async def test_the_mark_is_durable_before_the_hold_and_writes_go_on_meanwhile(
    pair: Pair, tmp_path: Path
) -> None:
    await _seed(pair)
    go = tmp_path / "go"
    pair.west.cutovers._pause = PauseHook("retiring_marked", go)
    answers: list[CutoverAnswer] = []

    async def cut_over() -> None:
        answers.append(await pair.admin_west.cutover("orders", _request(pair.east, epoch=2)))

    async with anyio.create_task_group() as tg:
        tg.start_soon(cut_over)
        with anyio.fail_after(10):
            while not (tmp_path / "go.reached").exists():  # the hook creates it
                await anyio.sleep(0.005)
        assert _fence_on_disk(pair.west)["orders"]["retiring_to"] == pair.east.url
        source = await pair.admin_west.workload("orders")
        assert (source.status, source.held) == ("active", False)
        with anyio.fail_after(5):  # neither held nor redirected: applied by the source
            assert await pair.client.put("orders", "during", b"x") == 51
        go.touch()
    (answer,) = answers
    assert (answer.hold_lsn, answer.target_lsn, answer.held_writes) == (51, 51, 0)
    assert await pair.client.get("orders", "during") == b"x"  # on the target now
    target = await pair.admin_east.workload("orders")
    assert (target.status, target.lsn, target.digest) == ("active", 51, answer.digest)
    on_disk = _fence_on_disk(pair.west)["orders"]
    # The flip's write cleared the mark and kept the source's digest at the hold LSN.
    assert on_disk.get("retiring_to") is None
    assert (on_disk["activated_lsn"], on_disk["activated_digest"]) == (51, answer.digest)


async def test_a_mark_that_cannot_be_written_holds_nothing_and_the_source_serves(
    pair: Pair, tmp_path: Path
) -> None:
    await _seed(pair)
    await pair.admin_west.hold("orders", epoch=2)  # epoch 2 on disk: the cutover writes
    await pair.admin_west.release("orders", epoch=2)  # nothing to admit it
    # bound to the cutover's migration already: the mark is the cutover's first write
    await pair.admin_west.set_status("orders", "active", epoch=2, migration_id="mig-1")
    with (
        unwritable(tmp_path / "edge-west" / "edge.state"),  # a real OS error for the mark
        pytest.raises(EdgeHTTPError) as caught,
    ):
        await pair.admin_west.cutover("orders", _request(pair.east, epoch=2))
    assert (caught.value.status, caught.value.code) == (502, "cutover_failed")
    assert "at step 'mark'" in caught.value.message
    assert "nothing was held" in caught.value.message
    assert pair.west.router.fence.get("orders").retiring_to is None
    assert await pair.client.put("orders", "after", b"x") == 51  # served, not redirected
    target = await pair.admin_east.workload("orders")
    assert (target.status, target.epoch) == ("incoming", 1)  # never asked
    answer = await pair.admin_west.cutover("orders", _request(pair.east, epoch=3))
    assert (answer.hold_lsn, answer.target_lsn) == (51, 51)


async def test_a_cutover_undone_before_its_activation_clears_the_mark(pair: Pair) -> None:
    await _seed(pair)
    pair.west.cutovers.times.record("activate", 1.0)  # measured: will not fit 300 ms
    with pytest.raises(EdgeHTTPError) as caught:
        await pair.admin_west.cutover("orders", _request(pair.east, epoch=2, deadline_ms=300.0))
    assert "undone before the final delta" in caught.value.message
    assert pair.west.router.fence.get("orders").retiring_to is None
    assert _fence_on_disk(pair.west)["orders"].get("retiring_to") is None
    source = await pair.admin_west.workload("orders")
    assert (source.status, source.held, source.retiring_to) == ("active", False, None)
    assert await pair.client.put("orders", "after", b"x") == 51  # served here
    target = await pair.admin_east.workload("orders")
    assert (target.status, target.epoch) == ("incoming", 1)  # never asked


async def test_a_cutover_is_refused_while_an_interrupted_ones_mark_is_set(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An earlier cutover's undo could not reach the target: its mark stays armed and the
    # source redirects. A new cutover must not take that mark as its own unarmed one
    # (writes would then apply here beside a target that may be active), nor run at all
    # beside it: while one runs, its own mark lets reads be served here.
    await _seed(pair)
    await pair.west.router.fence.retire("orders", pair.east.url)  # what such an undo leaves
    bound_before = pair.west.router.routing.get("orders")
    called: list[str] = []

    async def announce(*args: object, **kwargs: object) -> None:
        called.append("announce")
        raise AssertionError("the target was called")

    monkeypatch.setattr("edge_actors.edge._cutover.announce", announce)
    with pytest.raises(EdgeHTTPError) as caught:
        await pair.admin_west.cutover("orders", _request(pair.east, epoch=2))
    assert called == []  # refused before anything ran
    assert pair.west.router.routing.get("orders") == bound_before  # not rebound
    assert not pair.west.router.cutover_running("orders")
    assert (caught.value.status, caught.value.code) == (502, "cutover_failed")
    assert "at step 'mark'" in caught.value.message
    assert "interrupted cutover" in caught.value.message
    source = await pair.admin_west.workload("orders")
    assert (source.status, source.held, source.lsn) == ("active", False, 50)
    assert source.retiring_to == pair.east.url  # still redirecting, until settled
    assert _fence_on_disk(pair.west)["orders"]["retiring_to"] == pair.east.url
    target = await pair.admin_east.workload("orders")
    assert (target.status, target.epoch) == ("incoming", 1)  # never asked
