"""A cutover whose undo cannot reach the target: its held writes never run here.

The activation may have acted on the target (it stalled past the deadline), so after a
failed undo the source keeps its ``retiring_to`` mark and must redirect. Its held writes
are released while the cutover is still winding down; they must be redirected too, not
applied on the source behind the target's back (that made the source's LSN pass the hold
LSN the target was activated at: two diverging copies).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from stalls import cutover_with_held_writes, stalled_target

from edge_actors.edge._refusals import ServerBusy

if TYPE_CHECKING:
    from conftest import Pair  # tests/edge/conftest.py
    from edge_actors.edge import EdgeDaemon
    from edge_actors.edge._models import WorkloadStatus

pytestmark = pytest.mark.anyio

DEADLINE_MS = 200.0
HELD = 3


def _refuse_undo(east: EdgeDaemon, monkeypatch: pytest.MonkeyPatch) -> None:
    """The target refuses the undo's set-incoming (503): the source cannot reach it."""

    async def refuse(
        name: str, status: WorkloadStatus, moved_to: str | None, epoch: int | None, **_: object
    ) -> None:
        raise ServerBusy("the target cannot take the undo now (test)")

    monkeypatch.setattr(east.router, "set_route_fenced", refuse)


async def test_held_writes_are_not_applied_here_when_the_undo_fails(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    west, east, admin_west, _, _ = pair
    reached = await stalled_target(pair, monkeypatch)
    hold_lsn = (await admin_west.workload("orders")).lsn
    _refuse_undo(east, monkeypatch)
    outcome = await cutover_with_held_writes(west, east, reached, DEADLINE_MS, writes=HELD)
    [error] = outcome.failed
    assert (error.status, error.code) == (502, "cutover_failed")
    assert "setting the target back to incoming failed" in error.message
    # The source still marks the workload retiring to the target and serves nothing:
    # no held write ran here (none acknowledged by it), its copy is frozen at the hold.
    source = await admin_west.workload("orders")
    assert (source.status, source.retiring_to) == ("active", east.url.rstrip("/"))
    assert source.lsn == hold_lsn
    assert outcome.acked == []
    assert len(outcome.refused) == HELD
