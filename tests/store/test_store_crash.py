"""Crash durability: every write acknowledged before a SIGKILL is found after reopening."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors.store import WorkloadStore

if TYPE_CHECKING:
    from pathlib import Path

# The child writes forever with 16 concurrent writers and prints "ACK <key> <lsn>
# <restarts>" for every put as soon as it has been acknowledged, until the test kills it.
# With "frequent" checkpoints the background checkpointer runs (and restarts the WAL)
# many times a second, so the kill lands among checkpoints.
_CHILD = """
import sys
from pathlib import Path

import anyio

from edge_actors.store import WorkloadStore


async def main(path: str, durability: str, checkpoints: str) -> None:
    store = await WorkloadStore.open(Path(path), "crash", create=True, durability=durability)
    cp = store._writer.checkpointer
    if checkpoints == "frequent":
        cp.interval_s, cp.restart_bytes, cp.hard_cap = 0.005, 64 * 1024, 512 * 1024

    async def writer(w: int) -> None:
        i = 0
        while True:
            key = f"w{w}-{i}"
            lsn = await store.put(key, (key * 20).encode())
            sys.stdout.write(f"ACK {key} {lsn} {cp.locked_runs}\\n")
            sys.stdout.flush()
            i += 1

    async with anyio.create_task_group() as tg:
        for w in range(16):
            tg.start_soon(writer, w)


anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[3])
"""


@pytest.mark.parametrize("checkpoints", ["default", "frequent"])
@pytest.mark.parametrize("durability", ["normal", "full"])
def test_acknowledged_writes_survive_sigkill(
    tmp_path: Path, durability: str, checkpoints: str
) -> None:
    path = tmp_path / "crash.sqlite"
    acked: dict[str, int] = {}
    restarts = 0
    with subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path), durability, checkpoints],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("ACK "):
                _, key, lsn, restarts_s = line.split()
                acked[key] = int(lsn)
                restarts = int(restarts_s)
                if len(acked) >= 1500 and (checkpoints == "default" or restarts >= 2):
                    break
        child.send_signal(signal.SIGKILL)  # mid-way: writers are still running
        child.wait()
        # Acks already in the pipe were acknowledged before the kill too.
        for line in child.stdout:
            if line.startswith("ACK "):
                _, key, lsn, _ = line.split()
                acked[key] = int(lsn)
    assert child.returncode == -signal.SIGKILL
    assert len(acked) >= 1500
    assert checkpoints == "default" or restarts >= 2
    assert len(set(acked.values())) == len(acked)

    async def verify() -> None:
        async with await WorkloadStore.open(path, "crash") as store:
            assert store.lsn >= max(acked.values())
            for key, lsn in acked.items():
                assert await store.get(key) == ((key * 20).encode(), lsn), key
            stats = await store.stats()
            assert stats == await store.compute_stats()
            assert stats.records == stats.lsn  # unique keys: one live record per LSN

    anyio.run(verify)
