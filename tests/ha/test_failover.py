"""Failover of supervisor replicas, with real processes and a real PostgreSQL journal.

Two edges, two supervisor replicas (``--journal postgresql://...``), a writer running;
the leader is killed with ``kill -9`` in a phase of a live migration (see
:mod:`._failover`). The survivor takes over within 5 s, the migration completes, no
acknowledged write is lost, exactly one copy is active and the history names both
leaders. CI runs two phases (sync, and inside the cutover through the pause hook);
``benchmarks/failover.py`` runs every phase, many times.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ._failover import run_failover

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.mark.parametrize("phase", ["sync", "cutover"])
async def test_killing_the_leader_hands_the_migration_to_the_follower(
    tmp_path: Path, postgres_url: str, phase: str
) -> None:
    outcome = await run_failover(tmp_path, postgres_url, phase, seed=3)
    print(outcome)  # shown with -s or when the test fails
    assert outcome.killed_in == phase, f"the migration left {phase} before the kill"
    assert outcome.takeover_s is not None
    assert outcome.takeover_s < 5.0
    assert outcome.acked > 0
    assert outcome.problems() == []
    assert outcome.leaders == ["sup-a (epoch 1)", "sup-b (epoch 2)"]
