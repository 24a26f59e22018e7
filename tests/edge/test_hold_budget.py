"""The whole hold fits the cutover's deadline: a step that will not fit is undone early.

The deadline (``CutoverRequest.deadline_ms``) covers every step from the hold to the
release: after the source measured an activation slower than the budget (the target's
``activating`` pause hook held it), a cutover is undone before the target is asked; a
final delta too slow for an activation to follow (a throttled link) is cut without
waiting for its transfer to wind down. The hold is read from the source's own record
(``held_ms`` of its release).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import anyio
import pytest
from structlog.testing import capture_logs

from edge_actors.edge import EdgeHTTPError
from edge_actors.edge._models import CutoverRequest
from edge_actors.edge._test_hooks import PauseHook

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Pair  # tests/edge/conftest.py
    from edge_actors.edge import EdgeDaemon

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"
DEADLINE_MS = 300.0
SLACK_MS = 1000.0  # an undo call slower than its reserve: bounded by its timeout


def _request(east: EdgeDaemon, *, epoch: int, from_lsn: int = 0) -> CutoverRequest:
    return CutoverRequest(
        target_name=east.name,
        target_url=east.url,
        target_token=TOKEN,
        migration_id="mig-1",
        transfer_id=f"mig-1-final-{epoch}",
        from_lsn=from_lsn,
        batch_size=50,
        epoch=epoch,
        deadline_ms=DEADLINE_MS,
    )


def _record_releases(
    daemon: EdgeDaemon, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, float]]:
    """Record ``(reason, held_ms)`` of every release of a hold on ``daemon``."""
    releases: list[tuple[str, float]] = []
    real = daemon.router.holds.release

    def release(name: str, moved_to: str | None, *, reason: str) -> tuple[int, float]:
        held_writes, held_ms = real(name, moved_to, reason=reason)
        releases.append((reason, held_ms))
        return held_writes, held_ms

    monkeypatch.setattr(daemon.router.holds, "release", release)
    return releases


async def test_an_activation_that_will_not_fit_is_not_started(
    pair: Pair, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The source measured an activation slower than the budget (the target's
    # ``activating`` pause held it): the next cutovers are undone before the target is
    # asked, within the deadline; after two such refusals one probes and cuts over.
    west, east, admin_west, admin_east, client = pair
    for name in ("warm", "orders"):
        await admin_west.create_workload(name)
        await admin_east.create_workload(name, "incoming")
    await client.put("warm", "k", b"v")
    await client.batch("orders", [(f"r{i:04d}", b"v") for i in range(50)])  # LSN 50
    go = tmp_path / "go"
    east.cutovers._pause = PauseHook("activating", go)
    warm = CutoverRequest(
        target_name=east.name, target_url=east.url, target_token=TOKEN,
        migration_id="mig-1", transfer_id="warm", epoch=1,
    )  # fmt: skip
    async with anyio.create_task_group() as tg:
        tg.start_soon(admin_west.cutover, "warm", warm)  # no deadline: it waits
        reached = tmp_path / "go.reached"
        with anyio.fail_after(10):
            while not reached.exists():  # the hook creates it
                await anyio.sleep(0.005)
        await anyio.sleep(DEADLINE_MS / 1000)  # a slow target: the activation takes this
        go.touch()
    east.cutovers._pause = PauseHook()
    releases = _record_releases(west, monkeypatch)
    refusals: list[EdgeHTTPError] = []
    for epoch in (2, 3):
        with pytest.raises(EdgeHTTPError) as caught:
            await admin_west.cutover("orders", _request(east, epoch=epoch))
        refusals.append(caught.value)
    for error in refusals:
        assert (error.status, error.code) == (502, "cutover_failed")
        assert "undone before the final delta, within the cutover's deadline" in error.message
        assert "probing" not in error.message
        assert "the target is back to incoming" not in error.message  # it was not asked
    assert [reason for reason, _ in releases] == ["cutover_failed"] * 2
    assert all(0 < held_ms < DEADLINE_MS for _, held_ms in releases)  # the source's record
    target = await admin_east.workload("orders")
    assert (target.status, target.epoch) == ("incoming", 0)  # no call reached it
    assert await client.put("orders", "between", b"x") == 51  # served by the source
    answer = await admin_west.cutover("orders", _request(east, epoch=4))
    assert answer.hold_lsn == 51  # the probe ran the activation, which went fast
    assert (await admin_east.workload("orders")).status == "active"


async def test_a_final_delta_too_slow_to_fit_is_cut_without_waiting_for_it(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    west, east, admin_west, admin_east, client = pair
    for name in ("warm", "orders"):
        await admin_west.create_workload(name)
        await admin_east.create_workload(name, "incoming")
    await client.put("warm", "k", b"v")
    await admin_west.cutover("warm", _request(east, epoch=1))  # measures the steps
    rng = random.Random(7)  # incompressible values
    for start in range(0, 400, 100):  # 400 records, ~800 kB: seconds at 1 Mbit/s
        batch = [(f"r{i:04d}", rng.randbytes(2000)) for i in range(start, start + 100)]
        await client.batch("orders", batch)
    await admin_west.set_link_rate(east.name, 1_000_000.0)
    releases = _record_releases(west, monkeypatch)
    with capture_logs() as logs, pytest.raises(EdgeHTTPError) as caught:
        await admin_west.cutover("orders", _request(east, epoch=2))
    [failed] = [e for e in logs if e["event"] == "cutover_failed"]
    error = caught.value
    assert (error.status, error.code) == (502, "cutover_failed")
    assert "'final_delta'" in error.message
    assert "the final delta was cut" in error.message
    [(reason, held_ms)] = releases
    assert reason == "cutover_failed"
    # Cut before the deadline, leaving room for an activation; released at the cut (no
    # call to the target to undo), not after the transfer wound down.
    assert failed["undo_began_ms"] < DEADLINE_MS
    assert held_ms < DEADLINE_MS + SLACK_MS
    assert error.held_ms == pytest.approx(held_ms, abs=0.001)
    source = await admin_west.workload("orders")
    assert (source.status, source.held) == ("active", False)
    assert await client.put("orders", "later", b"x") == 401
    assert (await admin_east.workload("orders")).status == "incoming"
