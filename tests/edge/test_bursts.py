"""BurstLog: one line per window for a repeated failure, counting what it stood for."""

from __future__ import annotations

from structlog.testing import capture_logs

from edge_actors._log import get_logger
from edge_actors.edge._bursts import BurstLog


def test_one_line_per_window_with_the_count() -> None:
    now = [0.0]
    burst = BurstLog(get_logger("test"), "disk_full", window_s=10.0, monotonic=lambda: now[0])
    with capture_logs() as logs:
        written = [burst.note(route="r") for _ in range(500)]
        now[0] = 10.0
        written.append(burst.note(route="r"))
    assert written.count(True) == 2
    assert [(e["event"], e["occurrences"]) for e in logs] == [("disk_full", 1), ("disk_full", 500)]
