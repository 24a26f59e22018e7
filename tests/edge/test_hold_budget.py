"""The whole hold fits the cutover's deadline: a step that will not fit is undone early.

The deadline (``CutoverRequest.deadline_ms``) covers every step from the hold to the
release, the undo included: a stalled activation (the target's ``activating`` pause hook)
is cut before the deadline with room for the undo's call, and a final delta too slow for
an activation to follow (a throttled link) is cut without waiting for its transfer to
wind down. The hold is read from the source's own record (``held_ms`` of its release).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import anyio
import pytest
from structlog.testing import capture_logs

from edge_actors.edge import AdminClient, EdgeClient, EdgeHTTPError
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


async def test_a_stalled_activation_is_cut_and_undone_within_the_deadline(
    pair: Pair, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    west, east, admin_west, admin_east, client = pair
    for name in ("warm", "orders"):
        await admin_west.create_workload(name)
        await admin_east.create_workload(name, "incoming")
    await client.batch("orders", [(f"r{i:04d}", b"v") for i in range(50)])  # LSN 50
    await client.put("warm", "k", b"v")
    # A cutover that completes first: the source measures its calls to the target.
    await admin_west.cutover("warm", _request(east, epoch=1))
    go = tmp_path / "go"
    east.cutovers._pause = PauseHook("activating", go)  # the target takes it, stalls
    releases = _record_releases(west, monkeypatch)
    acked: list[int] = []
    errors: list[EdgeHTTPError] = []
    with capture_logs() as logs:
        await _cut_stalled(admin_west, east, west, tmp_path, acked, errors)
    [failed] = [e for e in logs if e["event"] == "cutover_failed"]
    [error] = errors
    assert (error.status, error.code) == (502, "cutover_failed")
    assert "'activate'" in error.message
    assert "cut to keep the hold within the cutover's deadline" in error.message
    assert "the target is back to incoming" in error.message
    # The source's own record of the hold: the undo began before the deadline, keeping
    # the reserve it measured for the undo's call (not at the deadline, then the call).
    [(reason, held_ms)] = releases
    assert reason == "cutover_failed"
    assert failed["held_ms"] == pytest.approx(held_ms, abs=0.001)
    assert 0 < failed["reserve_ms"] < DEADLINE_MS / 2
    assert failed["undo_began_ms"] < DEADLINE_MS
    assert held_ms < DEADLINE_MS + SLACK_MS
    assert error.held_ms == pytest.approx(held_ms, abs=0.001)
    assert sorted(acked) == [51, 52, 53]  # the held writes ran here, in order
    source = await admin_west.workload("orders")
    assert (source.status, source.held, source.retiring_to) == ("active", False, None)
    assert (await admin_east.workload("orders")).status == "incoming"
    (tmp_path / "go").touch()  # the stalled activation may act now: its epoch is burned


async def _cut_stalled(
    admin_west: AdminClient,
    east: EdgeDaemon,
    west: EdgeDaemon,
    tmp_path: Path,
    acked: list[int],
    errors: list[EdgeHTTPError],
) -> None:
    """Run the cutover of ``orders`` against the stalled target, with 3 held writes."""
    async with EdgeClient(west.url, token=TOKEN) as writer, anyio.create_task_group() as tg:

        async def cutover() -> None:
            try:
                await admin_west.cutover("orders", _request(east, epoch=2))
            except EdgeHTTPError as exc:
                errors.append(exc)

        async def write(i: int) -> None:
            acked.append(await writer.put("orders", f"held{i}", b"h"))

        tg.start_soon(cutover)
        reached = tmp_path / "go.reached"
        with anyio.fail_after(10):
            while not reached.exists():  # the hook creates it
                await anyio.sleep(0.005)
        for i in range(3):  # arrive during the hold: queued, not refused
            tg.start_soon(write, i)
        with anyio.fail_after(10):
            while not errors:
                await anyio.sleep(0.005)


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
