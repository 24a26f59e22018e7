"""Holds first: a background copy leaving an edge pauses while a cutover holds writes there.

Real daemons on loopback: a cutover of ``orders`` west -> east whose activation the
target keeps waiting (so the hold stays active), and a background transfer of ``bulk``
from west started meanwhile. The copy pauses at its first chunk boundary and goes on when
the hold ends, or when the hold outlives its bound; the cutover's own final delta never
waits. On the target, applies of background streams wait the same way while urgent work
(an activation, an urgent stream) runs there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import pytest
from stalls import TOKEN, cutover_request
from waiting import until

from edge_actors.clock import ManualClock
from edge_actors.edge import AdminClient, EdgeClient, EdgeConfig, EdgeDaemon, EdgeHTTPError
from edge_actors.transfer import TransferProgress, TransferSpec

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Pair  # tests/edge/conftest.py
    from edge_actors.edge import WorkloadInfo

pytestmark = pytest.mark.anyio

BULK = 400  # records of 1 KiB in ``bulk``: several chunks of 50


def _yields(daemon: EdgeDaemon) -> tuple[float, float]:
    """``(pauses, seconds paused)`` of ``daemon``'s background copies."""
    reg, labels = daemon.metrics.registry, {"edge": daemon.name}
    pauses = reg.get_sample_value("edge_transfer_yield_pauses_total", labels) or 0.0
    seconds = reg.get_sample_value("edge_transfer_yield_seconds_total", labels) or 0.0
    return pauses, seconds


def _hold_activation(
    east: EdgeDaemon, monkeypatch: pytest.MonkeyPatch
) -> tuple[anyio.Event, anyio.Event]:
    """The target's activation waits for ``go`` (returned second) after setting ``reached``."""
    reached, go = anyio.Event(), anyio.Event()
    real = east.router.activate

    async def waiting(
        name: str, min_lsn: int, digest: str | None, epoch: int | None = None, **delta: Any
    ) -> WorkloadInfo:
        reached.set()
        await go.wait()
        return await real(name, min_lsn, digest, epoch, **delta)

    monkeypatch.setattr(east.router, "activate", waiting)
    return reached, go


async def _seed(west_url: str, admin_west: AdminClient, admin_east: AdminClient) -> None:
    """``orders`` (50 records) and ``bulk`` (:data:`BULK` records) on west, incoming on east."""
    for name in ("orders", "bulk"):
        await admin_west.create_workload(name)
        await admin_east.create_workload(name, "incoming")
    async with EdgeClient(west_url, token=TOKEN) as client:
        await client.batch("orders", [(f"r{i:04d}", b"v") for i in range(50)])
        await client.batch("bulk", [(f"b{i:05d}", bytes([i % 251]) * 1024) for i in range(BULK)])


def _bulk_spec(east: EdgeDaemon) -> TransferSpec:
    return TransferSpec(
        transfer_id="bulk-copy",
        migration_id="mig-bulk",
        workload="bulk",
        target_name=east.name,
        target_url=east.url,
        target_token=TOKEN,
        batch_size=50,
    )


async def _copy_bulk(west: EdgeDaemon, east: EdgeDaemon, out: list[TransferProgress]) -> None:
    entry = west.transfers.start(_bulk_spec(east))
    out.append(await west.transfers.run(entry, west.registry.get("bulk")))


async def test_a_background_copy_pauses_during_a_hold_and_resumes_after_it(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    west, east, admin_west, admin_east, _ = pair
    await _seed(west.url, admin_west, admin_east)
    reached, go = _hold_activation(east, monkeypatch)
    copied: list[TransferProgress] = []
    answers: list[object] = []
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:

            async def cut_over() -> None:
                # The final delta ships all 50 records during the hold: it never waits.
                answers.append(await admin_west.cutover("orders", cutover_request(east)))

            tg.start_soon(cut_over)
            await reached.wait()  # the final delta went through; the hold is active
            assert west.urgent.active == 1
            assert west.router.gate("orders").held
            tg.start_soon(_copy_bulk, west, east, copied)
            await until(lambda: _yields(west)[0] == 1, "the copy pauses for the hold")
            # Paused before its first page: nothing of bulk reached the target.
            assert (await admin_east.workload("bulk")).lsn == 0
            go.set()
    assert len(answers) == 1
    [final] = copied
    assert (final.state, final.acked_lsn, final.records) == ("done", BULK, BULK)
    assert west.urgent.active == 0
    pauses, seconds = _yields(west)
    assert pauses == 1
    assert seconds > 0
    source, target = await admin_west.workload("bulk"), await admin_east.workload("bulk")
    assert source.digest == target.digest
    metrics = await admin_west.metrics_text()
    assert 'edge_transfer_yield_pauses_total{edge="edge-west"} 1.0' in metrics


async def test_a_hold_that_never_ends_stalls_copies_only_until_its_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock()

    def config(name: str) -> EdgeConfig:
        return EdgeConfig(
            name=name,
            data_dir=str(tmp_path / name),
            cluster_token=TOKEN,
            hold_timeout_s=30.0,
            shutdown_timeout_s=2.0,
        )

    async with (
        EdgeDaemon(config("edge-west"), clock=clock) as west,
        EdgeDaemon(config("edge-east"), clock=clock) as east,
        AdminClient(west.url, TOKEN) as admin_west,
        AdminClient(east.url, TOKEN) as admin_east,
    ):
        await _seed(west.url, admin_west, admin_east)
        reached, go = _hold_activation(east, monkeypatch)
        copied: list[TransferProgress] = []
        failed: list[EdgeHTTPError] = []
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:

                async def cut_over() -> None:
                    # No deadline: the urgent work is bounded by the hold's lease (5 s).
                    req = msgspec.structs.replace(cutover_request(east), lease_s=5.0)
                    try:
                        await admin_west.cutover("orders", req)
                    except EdgeHTTPError as exc:
                        failed.append(exc)

                tg.start_soon(cut_over)
                await reached.wait()
                tg.start_soon(_copy_bulk, west, east, copied)
                await until(lambda: _yields(west)[0] == 1, "the copy pauses for the hold")
                # The lease and the copy's bounded wait sleep on the clock.
                await until(lambda: clock.sleepers == 2, "the lease and the pause are timed")
                clock.advance(4.9)
                assert clock.sleepers == 2  # neither is due
                assert not copied
                clock.advance(0.1)
                # The cutover is still stuck in its activation, yet the copy goes on ...
                await until(lambda: _yields(east)[0] == 1, "the copy reaches the target")
                # ... to the target, whose activation is stuck too (bounded by the
                # source's 10 s call timeout): its applies wait for that bound.
                await until(lambda: clock.sleepers == 1, "the target's pause is timed")
                clock.advance(5.0)
                await until(lambda: bool(copied), "the copy ends past both bounds")
                assert (west.urgent.active, east.urgent.active) == (1, 1)
                go.set()
        [final] = copied
        assert (final.state, final.acked_lsn) == ("done", BULK)
        assert _yields(west) == (1.0, 5.0)
        assert _yields(east) == (1.0, 5.0)
        # The lease released the hold meanwhile: the cutover was undone at its flip.
        [error] = failed
        assert error.code == "cutover_failed"
        assert west.urgent.active == 0


async def test_on_the_target_background_applies_wait_and_an_urgent_stream_does_not(
    pair: Pair,
) -> None:
    west, east, admin_west, admin_east, _ = pair
    await _seed(west.url, admin_west, admin_east)
    copied: list[TransferProgress] = []
    with anyio.fail_after(30):
        # Urgent work on the target (as its activation of a cutover is).
        with east.urgent.running(east.clock.monotonic() + 30.0) as end:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_copy_bulk, west, east, copied)
                await until(lambda: _yields(east)[0] == 1, "the target's apply waits")
                assert (await admin_east.workload("bulk")).lsn == 0
                # A cutover's final delta is urgent: it streams through meanwhile.
                spec = msgspec.structs.replace(
                    _bulk_spec(east), transfer_id="final", workload="orders"
                )
                entry = west.transfers.start(spec)
                final = await west.transfers.run(entry, west.registry.get("orders"), urgent=True)
                assert (final.state, final.acked_lsn) == ("done", 50)
                assert _yields(east)[0] == 1  # the urgent stream never waited
                assert (await admin_east.workload("bulk")).lsn == 0
                end()
        [done] = copied
        assert (done.state, done.acked_lsn) == ("done", BULK)
    assert _yields(west) == (0.0, 0.0)  # nothing was urgent on the source
    assert _yields(east)[1] > 0
