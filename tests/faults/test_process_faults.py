"""Real faults against real daemons during a live migration, with a writer throughout.

Each trial (see :mod:`._harness`) runs source, target and supervisor daemons as
subprocesses, aims one fault at a phase by polling the supervisor's status API, and then
checks issue 10's invariants: every acknowledged write readable with its value from the
owner, exactly one active copy, no hold left, every daemon serving, and the migration
settled within the bound. Only trials that pass on today's code run here; the whole
matrix (including the open failures) is ``benchmarks/faults.py`` (``docs/reliability.md``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ._harness import Fault, Role, partition_unavailable, run_trial

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.mark.parametrize(
    ("fault", "role", "phase"),
    [
        ("kill9", "supervisor", "sync"),
        ("term", "target", "sync"),
        ("stop", "target", "sync"),
    ],
)
async def test_fault_during_sync_keeps_every_acknowledged_write(
    tmp_path: Path, fault: Fault, role: Role, phase: str
) -> None:
    outcome = await run_trial(tmp_path, fault, role, phase, seed=7, settle_s=40.0)
    assert outcome.fault_landed, f"the migration left {phase} before the fault"
    assert outcome.acked > 0
    assert outcome.ok, outcome.problems()
    assert outcome.state == "completed", outcome.error


async def test_partition_of_the_target_during_sync(tmp_path: Path) -> None:
    reason = partition_unavailable()
    if reason is not None:
        pytest.skip(reason)
    outcome = await run_trial(
        tmp_path, "partition", "target", "sync", seed=11, settle_s=40.0, stop_s=5.0
    )
    assert outcome.fault_landed
    assert outcome.ok, outcome.problems()
    assert outcome.state == "completed", outcome.error
