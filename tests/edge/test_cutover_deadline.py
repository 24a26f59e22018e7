"""The cutover's deadline: a target that stalls cannot hold writes past the budget."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.edge import EdgeClient, EdgeHTTPError
from edge_actors.edge._models import CutoverRequest

if TYPE_CHECKING:
    from conftest import Pair  # tests/edge/conftest.py
    from edge_actors.edge import EdgeDaemon, WorkloadInfo

pytestmark = pytest.mark.anyio

TOKEN = "test-cluster-token-0123456789abcdefghij"
DEADLINE_MS = 300.0
SLACK_MS = 1000.0  # the bound: a hold ends within the budget plus 1 s


def _request(east: EdgeDaemon, deadline_ms: float | None) -> CutoverRequest:
    return CutoverRequest(
        target_name=east.name,
        target_url=east.url,
        target_token=TOKEN,
        migration_id="mig-1",
        transfer_id="mig-1-final",
        batch_size=50,
        deadline_ms=deadline_ms,
    )


def _record_releases(
    daemon: EdgeDaemon, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, float]]:
    """Record ``(reason, held_ms)`` of every release on ``daemon`` (its clock's measure)."""
    releases: list[tuple[str, float]] = []
    real = daemon.router.release

    def release(name: str, moved_to: str | None, *, reason: str = "request") -> tuple[int, float]:
        held_writes, held_ms = real(name, moved_to, reason=reason)
        releases.append((reason, held_ms))
        return held_writes, held_ms

    monkeypatch.setattr(daemon.router, "release", release)
    return releases


def _stall_activation(
    daemon: EdgeDaemon, monkeypatch: pytest.MonkeyPatch, reached: anyio.Event
) -> None:
    """The target takes the activation call and never answers it (a stopped process)."""

    async def stalled(
        name: str, min_lsn: int, digest: str | None, epoch: int | None = None
    ) -> WorkloadInfo:
        reached.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    monkeypatch.setattr(daemon.router, "activate", stalled)


async def test_stalled_activation_is_undone_within_the_deadline(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    west, east, admin_west, admin_east, client = pair
    await admin_west.create_workload("orders")
    await admin_east.create_workload("orders", "incoming")
    await client.batch("orders", [(f"r{i:04d}", b"v") for i in range(50)])  # LSN 50
    releases = _record_releases(west, monkeypatch)
    reached = anyio.Event()
    _stall_activation(east, monkeypatch, reached)
    acked: list[int] = []
    errors: list[EdgeHTTPError] = []
    async with EdgeClient(west.url, token=TOKEN) as writer, anyio.create_task_group() as tg:

        async def cutover() -> None:
            try:
                await admin_west.cutover("orders", _request(east, DEADLINE_MS))
            except EdgeHTTPError as exc:
                errors.append(exc)

        async def write(i: int) -> None:
            acked.append(await writer.put("orders", f"held{i}", b"h"))

        tg.start_soon(cutover)
        with anyio.fail_after(10):
            await reached.wait()
        for i in range(3):  # arrive during the hold: queued, not refused
            tg.start_soon(write, i)
        with anyio.fail_after(10):
            while west.router.gate("orders").queued < 3 and west.router.gate("orders").held:
                await anyio.sleep(0.005)
        # Released within the deadline: a positive bounded wait, then the edge's measure.
        with anyio.fail_after((DEADLINE_MS + SLACK_MS) / 1000 * 3):
            while not errors:
                await anyio.sleep(0.01)
    [error] = errors
    assert (error.status, error.code) == (502, "cutover_failed")
    assert "'activate'" in error.message
    assert "deadline" in error.message
    [(reason, held_ms)] = releases
    assert reason == "cutover_failed"
    assert 0 < held_ms < DEADLINE_MS + SLACK_MS  # undone early: test_hold_budget.py
    assert error.held_ms == pytest.approx(held_ms, abs=0.001)  # the answer carries it
    # The held writes ran on the source, in order; the target is back to incoming.
    assert sorted(acked) == [51, 52, 53]
    source = await admin_west.workload("orders")
    assert (source.status, source.held, source.cutover) == ("active", False, False)
    assert source.retiring_to is None
    assert (await admin_east.workload("orders")).status == "incoming"
    assert await client.put("orders", "later", b"x") == 54


async def test_a_cutover_inside_its_deadline_completes(pair: Pair) -> None:
    _, east, admin_west, admin_east, client = pair
    await admin_west.create_workload("orders")
    await admin_east.create_workload("orders", "incoming")
    await client.batch("orders", [(f"r{i:04d}", b"v") for i in range(50)])
    answer = await admin_west.cutover("orders", _request(east, 30_000.0))
    assert (answer.hold_lsn, answer.target_lsn) == (50, 50)
    assert (await admin_west.workload("orders")).status == "moved"
    assert (await admin_east.workload("orders")).status == "active"


async def test_a_deadline_must_be_positive(pair: Pair) -> None:
    await pair.admin_west.create_workload("orders")
    with pytest.raises(EdgeHTTPError) as caught:
        await pair.admin_west.cutover("orders", _request(pair.east, 0.0))
    assert caught.value.status == 400
    assert "deadline_ms" in caught.value.message
