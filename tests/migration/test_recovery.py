"""SIGKILL of the process hosting the supervisor mid-sync; a restart completes the migration."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from edge_actors.edge import AdminClient
from edge_actors.migration.journal import Journal

from .conftest import TOKEN, Edges, lost_writes, seed, writing

pytestmark = pytest.mark.anyio

HOST = Path(__file__).with_name("supervisor_host.py")


async def test_kill_9_supervisor_process_then_resume(edges: Edges, tmp_path: Path) -> None:
    async with AdminClient(edges.west.url, TOKEN) as admin:
        await admin.create_workload("postgres-primary")
    await seed(edges.west.url, "postgres-primary", 1500, 1024)
    topology = json.dumps(
        {
            "edge-west": {"url": edges.west.url, "token": TOKEN},
            "edge-east": {"url": edges.east.url, "token": TOKEN},
        }
    )
    plan = json.dumps(
        {
            "source_edge": "edge-west",
            "target_edge": "edge-east",
            "workloads": ["postgres-primary"],
            "bandwidth_limit_mbps": 3,
            "constraints": {"max_downtime": "300ms"},
        }
    )
    data_dir = str(tmp_path / "host")
    async with writing(edges.west.url, "postgres-primary", rate=100) as writer:
        first = await anyio.open_process(
            [sys.executable, str(HOST), data_dir, topology, plan], stderr=subprocess.DEVNULL
        )
        async with AdminClient(edges.east.url, TOKEN) as east:
            with anyio.fail_after(30):
                while True:
                    try:
                        if (await east.workload("postgres-primary")).records > 300:
                            break
                    except Exception:  # not created yet
                        pass
                    await anyio.sleep(0.05)
        first.kill()  # SIGKILL mid-sync
        await first.wait()
        assert first.returncode == -9
        journal = Journal(data_dir)
        [entry] = journal.load()
        journal.close()
        assert entry.status.state == "sync"
        mid = entry.plan.migration_id
        second = await anyio.open_process(
            [sys.executable, str(HOST), data_dir, topology], stderr=subprocess.DEVNULL
        )
        with anyio.fail_after(60):
            await second.wait()
        assert second.stdout is not None
        out = (await second.stdout.receive()).decode().strip().splitlines()[-1]
        assert json.loads(out) == {mid: "completed"}
        await writer.wait_for_writes(20)  # it keeps writing, now against the target
    assert writer.failures == []
    assert await lost_writes(edges.east.url, "postgres-primary", writer.acked) == []
    journal = Journal(data_dir)
    events = [e.detail for e in journal.history(mid)]
    journal.close()
    assert any("recovered from the journal" in d for d in events)
