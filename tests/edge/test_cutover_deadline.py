"""The cutover's deadline: a target that stalls cannot hold writes past the budget."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from stalls import cutover_request, cutover_with_held_writes, stalled_target

from edge_actors.edge import EdgeHTTPError

if TYPE_CHECKING:
    from conftest import Pair  # tests/edge/conftest.py
    from edge_actors.edge import EdgeDaemon

pytestmark = pytest.mark.anyio

DEADLINE_MS = 300.0
SLACK_MS = 1000.0  # the bound: a hold ends within the budget plus 1 s


def _record_releases(
    daemon: EdgeDaemon, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, float]]:
    """Record ``(reason, held_ms)`` of every release on ``daemon`` (its clock's measure)."""
    releases: list[tuple[str, float]] = []
    real = daemon.router.holds.release

    def release(name: str, moved_to: str | None, *, reason: str = "request") -> tuple[int, float]:
        held_writes, held_ms = real(name, moved_to, reason=reason)
        releases.append((reason, held_ms))
        return held_writes, held_ms

    monkeypatch.setattr(daemon.router.holds, "release", release)
    return releases


async def test_stalled_activation_is_undone_within_the_deadline(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    west, east, admin_west, admin_east, client = pair
    reached = await stalled_target(pair, monkeypatch)  # LSN 50
    releases = _record_releases(west, monkeypatch)
    # Released within the deadline: a positive bounded wait, then the edge's measure.
    outcome = await cutover_with_held_writes(
        west, east, reached, DEADLINE_MS, timeout_s=(DEADLINE_MS + SLACK_MS) / 1000 * 3 + 10
    )
    errors, acked = outcome.failed, outcome.acked
    assert outcome.refused == []
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
    answer = await admin_west.cutover("orders", cutover_request(east, 30_000.0))
    assert (answer.hold_lsn, answer.target_lsn) == (50, 50)
    assert (await admin_west.workload("orders")).status == "moved"
    assert (await admin_east.workload("orders")).status == "active"


async def test_a_deadline_must_be_positive(pair: Pair) -> None:
    await pair.admin_west.create_workload("orders")
    with pytest.raises(EdgeHTTPError) as caught:
        await pair.admin_west.cutover("orders", cutover_request(pair.east, 0.0))
    assert caught.value.status == 400
    assert "deadline_ms" in caught.value.message
