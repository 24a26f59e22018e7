"""A supervisor killed at cutover still compares both digests at the cutover LSN.

Finding 3 of issue 10: after a supervisor restart at cutover the target had taken new
writes, so its live digest was no longer the one at the cutover LSN; validation skipped
the comparison and reported ``validated=true`` with ``target_digest=null``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from edge_actors.edge import AdminClient, EdgeClient, WorkloadInfo
from edge_actors.edge._test_hooks import PauseHook
from edge_actors.migration.journal import Journal

from .conftest import TOKEN, Edges
from .ledger import make_workload, plan_for

pytestmark = pytest.mark.anyio

HOST = Path(__file__).with_name("supervisor_host.py")


async def _wait_for(path: Path) -> None:
    """Wait until the daemon's pause hook has created ``path`` (another task's file)."""
    with anyio.fail_after(60):
        while not await anyio.Path(path).exists():
            await anyio.sleep(0.02)


async def test_kill_9_supervisor_at_cutover_then_validation_compares_digests(
    edges: Edges, tmp_path: Path
) -> None:
    await make_workload(edges, "ledger", 400)
    go = tmp_path / "go"
    edges.west.cutovers._pause = PauseHook("source_flipped", go)  # the source waits there
    topology = json.dumps(
        {
            "edge-west": {"url": edges.west.url, "token": TOKEN},
            "edge-east": {"url": edges.east.url, "token": TOKEN},
        }
    )
    data_dir = str(tmp_path / "host")
    first = await anyio.open_process(
        [sys.executable, str(HOST), data_dir, topology, json.dumps(plan_for("ledger"))],
        stderr=subprocess.DEVNULL,
    )
    await _wait_for(Path(f"{go}.reached"))  # flipped on the source; the call not answered
    first.kill()
    await first.wait()
    assert first.returncode == -9
    journal = Journal(data_dir)
    [entry] = journal.load()
    journal.close()
    assert entry.status.state == "cutover"
    flipped = await _info(edges.west.url)
    cutover_lsn = flipped.lsn
    assert flipped.activated_lsn == cutover_lsn
    async with EdgeClient(edges.west.url, token=TOKEN) as client:  # follows the 307 to the target
        for i in range(5):
            await client.put("ledger", f"after-{i}", b"new")
    assert (await _info(edges.east.url)).lsn > cutover_lsn  # the target moved on
    await anyio.Path(go).touch()

    second = await anyio.open_process(
        [sys.executable, str(HOST), data_dir, topology], stderr=subprocess.DEVNULL
    )
    with anyio.fail_after(60):
        await second.wait()
    assert second.stdout is not None
    out = (await second.stdout.receive()).decode().strip().splitlines()[-1]
    assert json.loads(out) == {entry.plan.migration_id: "completed"}
    journal = Journal(data_dir)
    [done] = journal.load()
    journal.close()
    assert done.checkpoint is not None
    wc = done.checkpoint.workloads["ledger"]
    source = await _info(edges.west.url)  # its data released; its cutover record kept
    assert wc.validated
    assert wc.cutover_lsn == cutover_lsn == source.activated_lsn
    assert wc.target_digest is not None
    assert wc.target_digest == source.activated_digest  # compared at the cutover LSN


async def _info(url: str) -> WorkloadInfo:
    async with AdminClient(url, TOKEN) as admin:
        return await admin.workload("ledger")
