"""A supervisor killed between journaling a phase and its first checkpoint there.

The run journals ``pre_sync -> sync`` and only then the checkpoint ``entered sync``. A
``kill -9`` of the supervisor (or of the leading replica) in between leaves the journal
one phase ahead of the latest checkpoint. The next supervisor must resume the run from
there, not try to journal the earlier phase again (``sync -> pre_sync`` is illegal, and
the run crashed on it until its restarts were exhausted: the migration ended ``failed``).
The gap is made exactly by removing the checkpoints after ``pre_sync`` from the journal
file, as the kill would have left it.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest

from edge_actors.migration.journal import JOURNAL_FILE

from .ledger import content_digest, make_workload, open_service, plan_for, target_info, until

if TYPE_CHECKING:
    from pathlib import Path

    from .conftest import Edges

pytestmark = pytest.mark.anyio


def _drop_checkpoints_after(data_dir: Path, migration_id: str, phase: str) -> None:
    with sqlite3.connect(data_dir / JOURNAL_FILE) as db:
        rows = db.execute(
            "SELECT seq, data FROM checkpoints WHERE migration_id = ? ORDER BY seq",
            (migration_id,),
        ).fetchall()
        keep = max(seq for seq, data in rows if f'"phase":"{phase}"' in data)
        db.execute(
            "DELETE FROM checkpoints WHERE migration_id = ? AND seq > ?", (migration_id, keep)
        )


async def test_a_journal_one_phase_ahead_of_its_checkpoint_resumes(
    edges: Edges, tmp_path: Path
) -> None:
    data_dir = tmp_path / "journal"
    contents = await make_workload(edges, "lagging-app", 800, 1024, seed=4)
    async with open_service(edges, data_dir) as first:
        plan = await first.plan(plan_for("lagging-app", bandwidth_limit_mbps=4))
        await first.execute(plan.migration_id)
        await until(first, plan.migration_id, bytes_done=100_000)
        assert (await first.status(plan.migration_id)).state == "sync"
    _drop_checkpoints_after(data_dir, plan.migration_id, "pre_sync")
    async with open_service(edges, data_dir) as second:
        assert (await second.checkpoints(plan.migration_id))[-1].phase == "pre_sync"
        status = await second.wait(plan.migration_id, {"completed"}, timeout=60)
        assert (status.state, status.error) == ("completed", None)
        info = await target_info(edges, "lagging-app")
        assert (info.status, info.digest) == ("active", content_digest(contents))
