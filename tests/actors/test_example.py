"""The README's main job: examples/actor_ping.py runs and tells its story."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "actor_ping.py"


def test_actor_ping_example_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines == [
        "ask Ping(41) -> 42",
        "ask Crash -> RuntimeError(on purpose)",
        "restarted after: RuntimeError('on purpose')",
        "ask Ping(1) -> 2 (same ref, alive=True)",
        "stopped cleanly, dead letters: 0",
    ]
