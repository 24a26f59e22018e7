"""A script that exits with migrations under way drops nothing silently (real subprocesses).

Each test runs a small script as its own Python process with the default temporary data
directory (``TMPDIR`` points into the test's tmp dir, so the directory it used can be
found afterwards): running migrations are waited for with progress on stderr; what did
not end is kept, stderr says where, and a second process continues it from there.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

HEADER = """\
from edge_actors import seed_workload
from edge_actors.runtime.local import LocalRuntime
from edge_actors.workflow.builder import WorkflowBuilder

def one(config):
    workflow = WorkflowBuilder()
    workflow.add_node("EdgeMigrationNode", "n", config)
    results, _ = LocalRuntime().execute(workflow.build())
    return results["n"]
"""

PLAN = """
seed_workload("edge-a", "svc", records=600)
plan = one({"operation": "plan_migration", "source_edge": "edge-a", "target_edge": "edge-b",
            "workloads": ["svc"], "bandwidth_limit_mbps": 0.4, "sync_batch_size": 50})
migration_id = plan["plan"]["migration_id"]
print("planned", migration_id)
"""


def run_script(
    tmp_path: Path, body: str, data_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(HEADER + textwrap.dedent(body))
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    env.pop("EDGE_ACTORS_TOPOLOGY", None)
    env.pop("EDGE_ACTORS_DATA_DIR", None)
    if data_dir is not None:
        env["EDGE_ACTORS_DATA_DIR"] = str(data_dir)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def data_dirs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "tmp").glob("edge-actors-*"))


def test_exit_waits_for_a_running_migration_with_progress(tmp_path: Path) -> None:
    proc = run_script(
        tmp_path,
        PLAN + 'print(one({"operation": "execute_migration", "migration_id": migration_id,'
        ' "wait": False})["state"])\n',
    )
    assert proc.returncode == 0, proc.stderr
    migration_id = proc.stdout.split()[1]
    assert f"waiting for 1 running migration(s) to finish before exit: {migration_id}" in (
        proc.stderr
    )
    assert re.search(rf"{migration_id}: [a-z_]+ \d+% \(\d+/\d+ records, \d+ bytes\)", proc.stderr)
    assert f"{migration_id}: completed" in proc.stderr
    assert "did not finish" not in proc.stderr
    assert data_dirs(tmp_path) == []  # ended: nothing to keep, the temporary dir is gone
    assert "Traceback" not in proc.stderr


def test_a_paused_migration_is_kept_and_a_later_process_resumes_it(tmp_path: Path) -> None:
    proc = run_script(
        tmp_path,
        PLAN
        + 'print(one({"operation": "pause_migration", "migration_id": migration_id})["state"])\n',
    )
    assert proc.returncode == 0, proc.stderr
    migration_id = proc.stdout.split()[1]
    [kept] = data_dirs(tmp_path)
    assert "1 migration(s) did not finish before exit:" in proc.stderr
    assert f"{migration_id}: paused" in proc.stderr
    assert "resume_migration continues it" in proc.stderr
    assert f"EDGE_ACTORS_DATA_DIR={kept}" in proc.stderr
    resumed = run_script(
        tmp_path,
        f"""
        print(one({{"operation": "resume_migration", "migration_id": "{migration_id}"}})["status"])
        """,
        data_dir=kept,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "success"
    # resumed, it runs; exit waits for it to the end
    assert f"{migration_id}: completed" in resumed.stderr
    check = run_script(
        tmp_path,
        f"""
        progress = one({{"operation": "get_progress", "migration_id": "{migration_id}"}})
        print(progress["progress"]["state"], progress["progress"]["records_done"])
        """,
        data_dir=kept,
    )
    assert check.stdout.split() == ["completed", "600"], check.stderr


def test_ctrl_c_stops_the_wait_and_keeps_the_migration(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        HEADER
        + textwrap.dedent(
            """
            seed_workload("edge-a", "svc", records=3000)
            plan = one({"operation": "plan_migration", "source_edge": "edge-a",
                        "target_edge": "edge-b", "workloads": ["svc"],
                        "bandwidth_limit_mbps": 0.05, "sync_batch_size": 20})
            one({"operation": "execute_migration", "migration_id": plan["migration_id"],
                 "wait": False})
            """
        )
    )
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    env.pop("EDGE_ACTORS_TOPOLOGY", None)
    env.pop("EDGE_ACTORS_DATA_DIR", None)
    with subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stderr is not None
        seen = [proc.stderr.readline(), proc.stderr.readline()]  # "waiting for", progress
        assert "waiting for 1 running migration(s)" in seen[0], seen
        assert re.search(r": [a-z_]+ \d+% \(", seen[1]), seen
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == 0
    [kept] = data_dirs(tmp_path)
    assert "1 migration(s) did not finish before exit:" in rest
    assert "it resumes from its last checkpoint" in rest
    assert f"EDGE_ACTORS_DATA_DIR={kept}" in rest
    assert "Traceback" not in rest
