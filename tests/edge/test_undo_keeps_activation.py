"""An activation cut at its deadline while its durable write is under way is kept, not
undone (two real daemons on loopback).

In the wide-plan benchmark the undo calls of cut activations split in two: 1-5 ms when
the target had not begun its durable writes, 15-41 ms when it had (the undo waited for
that fsync, then made its own). Every hold over its deadline in those runs was the
second kind, and the cutover was undone and retried although the activation was about to
stand. The source's undo of a cut activation now says ``keep_if_active``: a target whose
activation at the undo's epoch is durable, or becomes so (its write in progress is
waited for), keeps it and answers ``active``, and the source flips as if the activation
had answered in time. A write that fails is still undone. The slow disk is the target's
real epoch-file write, held back in its thread (:class:`stalls.SlowEpochFile`).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import anyio
import msgspec
import pytest
from stalls import SlowEpochFile, cutover_request

from edge_actors.edge import EdgeClient, EdgeHTTPError
from edge_actors.edge._routing import Route
from support.state_files import edge_state, unwritable

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Pair  # tests/edge/conftest.py
    from edge_actors.edge import EdgeDaemon
    from edge_actors.edge._models import CutoverAnswer

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"


def _epochs(daemon: EdgeDaemon) -> dict[str, dict[str, object]]:
    return edge_state(daemon.config.data_dir)["epochs"]


def _undo_arrivals(daemon: EdgeDaemon, monkeypatch: pytest.MonkeyPatch) -> anyio.Event:
    """An event set when an undo with ``keep_if_active`` reaches ``daemon``'s check."""
    arrived = anyio.Event()
    real = daemon.router.kept_activation

    async def spied(name: str, epoch: int | None) -> bool:
        arrived.set()
        return await real(name, epoch)

    monkeypatch.setattr(daemon.router, "kept_activation", spied)
    return arrived


async def _incoming_with_slow_activation(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> SlowEpochFile:
    """``orders`` incoming on east, whose activation at epoch 2 holds its epoch-file
    write back until ``disk.go``."""
    await pair.admin_east.create_workload("orders", "incoming", migration_id="mig-1", epoch=1)
    return SlowEpochFile(pair.east, monkeypatch, b'"epoch":2')


async def _slow_activation_write(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> tuple[SlowEpochFile, anyio.Event]:
    """``orders`` with 50 records on west, incoming on east, whose activation at epoch 2
    holds its epoch-file write back (until ``disk.go``); the event is set when an undo
    that may keep reaches east."""
    await pair.admin_west.create_workload("orders", epoch=1)
    await pair.client.batch("orders", [(f"r{i:03d}", b"v") for i in range(50)])
    disk = await _incoming_with_slow_activation(pair, monkeypatch)
    arrived = _undo_arrivals(pair.east, monkeypatch)
    return disk, arrived


async def test_an_undo_that_may_keep_finds_a_durable_activation_and_keeps_it(
    pair: Pair,
) -> None:
    admin = pair.admin_east
    await admin.create_workload("orders", "incoming", migration_id="mig-1", epoch=1)
    await admin.activate("orders", min_lsn=0, digest=None, epoch=2)
    kept = await admin.set_status("orders", "incoming", epoch=2, keep_if_active=True)
    assert (kept.status, kept.epoch) == ("active", 2)
    assert _epochs(pair.east)["orders"]["undone_epoch"] == 0  # nothing burned
    # Without the flag, or at a newer epoch, it is undone as before.
    assert (await admin.set_status("orders", "incoming", epoch=3, keep_if_active=True)).status == (
        "incoming"
    )
    assert _epochs(pair.east)["orders"]["undone_epoch"] == 3


async def test_an_undo_that_may_keep_waits_for_the_activation_write_under_way(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = pair.admin_east
    disk = await _incoming_with_slow_activation(pair, monkeypatch)
    arrived = _undo_arrivals(pair.east, monkeypatch)
    answers: dict[str, str] = {}

    async def activate() -> None:
        info = await admin.activate("orders", min_lsn=0, digest=None, epoch=2)
        answers["activate"] = info.status

    async def undo() -> None:
        info = await admin.set_status("orders", "incoming", epoch=2, keep_if_active=True)
        answers["undo"] = info.status

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(activate)
            assert await anyio.to_thread.run_sync(disk.entered.wait, 5)  # writing
            tg.start_soon(undo)
            with anyio.fail_after(5):
                await arrived.wait()
            assert answers == {}  # both wait for the one write
            disk.go.set()
    finally:
        disk.go.set()
    assert answers == {"activate": "active", "undo": "active"}
    on_disk = _epochs(pair.east)["orders"]
    assert (on_disk["epoch"], on_disk["undone_epoch"]) == (2, 0)


async def test_an_activation_whose_write_failed_is_undone_even_when_it_may_be_kept(
    pair: Pair, tmp_path: Path
) -> None:
    admin = pair.admin_east
    await admin.create_workload("orders", "incoming", migration_id="mig-1", epoch=1)
    with (
        unwritable(tmp_path / "edge-east" / "edge.state"),  # a real OS error
        pytest.raises(EdgeHTTPError),
    ):
        await admin.activate("orders", min_lsn=0, digest=None, epoch=2)
    # The failed write left the route incoming in memory, so the undo only burns the
    # epoch (at once in memory; the epoch file is written in the background).
    assert pair.east.router.route_of("orders") == Route("incoming", None, "mig-1")
    info = await admin.set_status("orders", "incoming", epoch=2, keep_if_active=True)
    assert info.status == "incoming"
    assert pair.east.router.fence.get("orders").undone_epoch == 2
    with anyio.fail_after(5):
        while _epochs(pair.east)["orders"]["undone_epoch"] != 2:
            await anyio.sleep(0.01)


async def test_a_cutover_whose_activation_was_cut_during_its_write_flips_instead_of_undoing(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk, arrived = await _slow_activation_write(pair, monkeypatch)
    request = msgspec.structs.replace(cutover_request(pair.east, 300.0), epoch=2)
    answers: list[CutoverAnswer] = []

    async def cut_over() -> None:
        answers.append(await pair.admin_west.cutover("orders", request))

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(cut_over)
            with anyio.fail_after(5):  # the source cut the activation and asks to undo it
                await arrived.wait()
            disk.go.set()  # the target's write ends: its activation stands
    finally:
        disk.go.set()
    (answer,) = answers  # not a 502: kept and flipped
    assert (answer.hold_lsn, answer.target_lsn) == (50, 50)
    # the answer says why the hold ran late: the activation until its cut, then the call
    # that found it durable
    assert list(answer.steps_ms) == ["hold", "final_delta", "activate", "kept", "flip"]
    assert answer.steps_ms["activate"] + answer.steps_ms["kept"] <= answer.held_ms
    target = await pair.admin_east.workload("orders")
    assert (target.status, target.epoch, target.lsn) == ("active", 2, 50)
    source = await pair.admin_west.workload("orders")
    assert (source.status, source.held, source.retiring_to) == ("moved", False, None)
    assert _epochs(pair.east)["orders"]["undone_epoch"] == 0
    assert await pair.client.put("orders", "after", b"x") == 51  # served by the target


async def test_a_cut_activation_that_answers_before_its_undo_call_flips_at_its_answer(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The late holds of the wide-plan benchmark were all kept activations: cut, then kept
    # by the undo call 5-47 ms later, while the activation's own answer was on its way.
    # The cut activation's answer and the undo call now race: whichever says first that
    # the target is active ends the hold. Here the undo call is held at the target until
    # the cutover has answered; before, the cutover waited for it.
    await pair.admin_west.create_workload("orders", epoch=1)
    await pair.client.batch("orders", [(f"r{i:03d}", b"v") for i in range(50)])
    disk = await _incoming_with_slow_activation(pair, monkeypatch)
    arrived, release = anyio.Event(), anyio.Event()
    real = pair.east.router.kept_activation

    async def held_undo(name: str, epoch: int | None) -> bool:
        arrived.set()
        await release.wait()
        return await real(name, epoch)

    monkeypatch.setattr(pair.east.router, "kept_activation", held_undo)
    request = msgspec.structs.replace(cutover_request(pair.east, 300.0), epoch=2)
    answers: list[CutoverAnswer] = []

    async def cut_over() -> None:
        answers.append(await pair.admin_west.cutover("orders", request))

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(cut_over)
            with anyio.fail_after(5):  # the activation was cut; its undo call is held
                await arrived.wait()
            disk.go.set()  # the activation's write ends: it answers active
            with anyio.fail_after(10):  # the cutover flips on that answer
                while not answers:
                    await anyio.sleep(0.005)
            release.set()
    finally:
        disk.go.set()
        release.set()
    (answer,) = answers
    assert (answer.hold_lsn, answer.target_lsn) == (50, 50)
    assert list(answer.steps_ms) == ["hold", "final_delta", "activate", "kept", "flip"]
    target = await pair.admin_east.workload("orders")
    assert (target.status, target.epoch, target.lsn) == ("active", 2, 50)
    source = await pair.admin_west.workload("orders")
    assert (source.status, source.held, source.retiring_to) == ("moved", False, None)
    assert _epochs(pair.east)["orders"]["undone_epoch"] == 0
    assert await pair.client.put("orders", "after", b"x") == 51  # served by the target


async def test_a_kept_activation_whose_flip_fails_is_undone_for_real(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The hold's lease runs out while the undo call waits for the target's write: the
    # activation is kept, the flip then finds the hold lost, and the cutover must undo
    # the kept activation for real (one active copy, the source's), not report it undone.
    disk, arrived = await _slow_activation_write(pair, monkeypatch)
    request = msgspec.structs.replace(cutover_request(pair.east, 1000.0), epoch=2, lease_s=1.1)
    errors: list[EdgeHTTPError] = []

    async def cut_over() -> None:
        with pytest.raises(EdgeHTTPError) as caught:
            await pair.admin_west.cutover("orders", request)
        errors.append(caught.value)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(cut_over)
            with anyio.fail_after(5):
                await arrived.wait()  # cut; the undo waits for the target's write
                while pair.west.router.gate("orders").held:  # the lease runs out
                    await anyio.sleep(0.005)
            disk.go.set()  # the write ends: the activation is kept, then the flip fails
    finally:
        disk.go.set()
    (error,) = errors
    assert (error.status, error.code) == (502, "cutover_failed")
    assert "the hold was lost" in error.message
    target = await pair.admin_east.workload("orders")
    assert target.status == "incoming"
    assert _epochs(pair.east)["orders"]["undone_epoch"] == 2
    source = await pair.admin_west.workload("orders")
    assert (source.status, source.held, source.retiring_to) == ("active", False, None)
    assert await pair.client.put("orders", "after", b"x") == 51  # the source's, alone


async def test_a_target_serves_nothing_until_its_activation_is_durable(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A write that reached the target while its activation was being made durable (a
    # hold's lease ran out, writes redirected) was acknowledged; had the activation then
    # failed, the owner (the source) would not have it. It waits until then (it used to
    # be refused, which a writer during a handover saw as an error).
    admin = pair.admin_east
    disk = await _incoming_with_slow_activation(pair, monkeypatch)
    target = EdgeClient(pair.east.url, token=TOKEN)
    lsns: list[int] = []
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(admin.activate, "orders", min_lsn=0, digest=None, epoch=2))
            assert await anyio.to_thread.run_sync(disk.entered.wait, 5)  # writing
            tg.start_soon(partial(_put_into, target, lsns, "early"))
            with anyio.fail_after(5):  # the write reached the target (beside the activation)
                while pair.east.metrics.load.inflight < 2:
                    await anyio.sleep(0.005)
            assert lsns == []  # not acknowledged while the activation is not durable
            disk.go.set()
        assert lsns == [1]
        assert await target.put("orders", "after", b"x") == 2  # active and durable now
    finally:
        disk.go.set()
        await target.aclose()


async def test_a_request_waiting_for_an_activation_that_fails_is_refused(
    pair: Pair, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    admin = pair.admin_east
    disk = await _incoming_with_slow_activation(pair, monkeypatch)
    target = EdgeClient(pair.east.url, token=TOKEN)
    refused: list[EdgeHTTPError] = []

    async def put_early() -> None:
        with pytest.raises(EdgeHTTPError) as caught:
            await target.put("orders", "early", b"x")
        refused.append(caught.value)

    async def activate() -> None:
        with pytest.raises(EdgeHTTPError):
            await admin.activate("orders", min_lsn=0, digest=None, epoch=2)

    try:
        # the activation's route write fails: a real OS error
        with unwritable(tmp_path / "edge-east" / "edge.state"):
            async with anyio.create_task_group() as tg:
                tg.start_soon(activate)
                assert await anyio.to_thread.run_sync(disk.entered.wait, 5)
                tg.start_soon(put_early)
                with anyio.fail_after(5):
                    while pair.east.metrics.load.inflight < 2:
                        await anyio.sleep(0.005)
                disk.go.set()
        assert [error.code for error in refused] == ["workload_incoming"]
        assert await pair.east.registry.get("orders").get("early") is None
    finally:
        disk.go.set()
        await target.aclose()


async def test_an_unbound_activation_whose_write_fails_leaves_the_copy_incoming(
    pair: Pair, tmp_path: Path
) -> None:
    # Unbound, the active route is no table entry at all: the failed write must still
    # put the incoming entry back (a store with no entry is served as active).
    admin = pair.admin_east
    await admin.create_workload("orders", "incoming", epoch=1)
    with (
        unwritable(tmp_path / "edge-east" / "edge.state"),  # a real OS error
        pytest.raises(EdgeHTTPError),
    ):
        await admin.activate("orders", min_lsn=0, digest=None, epoch=2)
    assert pair.east.router.route_of("orders") == Route("incoming")
    async with EdgeClient(pair.east.url, token=TOKEN) as target:
        with pytest.raises(EdgeHTTPError) as caught:
            await target.put("orders", "k", b"x")
    assert caught.value.code == "workload_incoming"


async def _put_into(client: EdgeClient, lsns: list[int], key: str) -> None:
    lsns.append(await client.put("orders", key, b"x"))
