"""Every example runs for real as its own process and prints what its guide section shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# example (and its arguments) -> regular expressions its output must contain. An example
# whose outcome depends on the time of day runs with --at, on a clock set to that time.
EXPECTED: dict[str, list[str]] = {
    "basic_migration.py": [r"Migration mig-\w+ planned and visible system-wide"],
    "strategy_live.py": [r"execute: success", r"state=completed downtime_ms=\{'critical-app'"],
    "strategy_staged.py --at 23:00": [
        r"execute: success",
        r"state=sync phase=sync detail=waiting for time window 02:00-06:00 \(opens in 3h00m\)",
    ],
    "strategy_staged.py --at 03:00": [r"execute: success", r"state=completed"],
    "strategy_bulk.py": [r"state=completed downtime_ms=\{'batch-processor'"],
    "strategy_incremental.py": [r"state=completed downtime_ms=\{'large-database'"],
    "strategy_emergency.py": [r"evacuate: success", r"state=completed"],
    "progress_monitoring.py": [r"phase=\w+ records_done=\d+"],
    "pause_resume.py": [r"resume: success -> \{'migration_id': 'mig-\w+'"],
    "rollback.py": [
        r"pause: success -> paused",
        r"rollback to mig-\w+-cp\d+: success -> paused",
        r"rollback: success -> rolled_back",
        r"source edge-r1: active with 3000 records; target: None",
    ],
    "bandwidth_management.py": [r"raw=\d+ wire=\d+ compression_ratio=\d\.\d\d"],
    "monitoring_integration.py": [r"plan: mig-\w+", r"source-edge \{'latency': \d+"],
    "cross_workflow.py": [
        r"Planning team created migration: (mig-\w+)",
        r"Operations team sees migration: mig-\w+",
        r"Execution team paused migration: mig-\w+",
    ],
    "resource_planning.py": [r"target-edge: healthy", r"plan: success"],
    "validation.py": [r"digests_match=True endpoints=\[\{'path': '/api/health'.*'status': 200"],
    "original_sdk_usage.py": [
        r"read \d{3} keys of the original SDK's contract: no KeyError, no TypeError"
    ],
    "complete_multi_stage.py": [
        r"Migration completed: \{'migrations': 3, 'by_state': \{'completed': 3\}"
    ],
}


def test_every_example_is_listed() -> None:
    found = {p.name for p in EXAMPLES.glob("*.py")} - {"_common.py", "actor_ping.py"}
    assert found == {command.split()[0] for command in EXPECTED}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name: str, tmp_path: Path) -> None:
    env = {**os.environ, "EDGE_ACTORS_DATA_DIR": str(tmp_path / "data")}
    env.pop("EDGE_ACTORS_TOPOLOGY", None)
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name.split()[0]), *name.split()[1:]],
        cwd=EXAMPLES,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for pattern in EXPECTED[name]:
        assert re.search(pattern, proc.stdout), (pattern, proc.stdout, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
