"""A full disk under an edge's data directory: 507 ``insufficient_storage``, never 500.

A real daemon whose data directory is a small tmpfs (mounting needs root: skipped with
the reason otherwise) takes writes until the disk is full. Every write past full must be
refused with 507 and the code ``insufficient_storage``, the log must hold a bounded number
of lines (no traceback per write), and writes must succeed again once a file is deleted.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest

from edge_actors.edge import AdminClient, EdgeClient, EdgeHTTPError

from ._harness import TOKEN, WORKLOAD, Daemon, disk_unavailable, run_trial

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.anyio

VALUE = bytes(range(256)) * 32  # 8 KiB


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs mounted on ``tmp_path/edge`` (unmounted afterwards)."""
    mount = tmp_path / "edge"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_full_disk_is_507_with_bounded_log_and_recovers(
    tmp_path: Path, small_disk: Path
) -> None:
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * (2 << 20))  # freed later: "an operator deletes a file"
    edge = Daemon(tmp_path, "edge", data_dir=small_disk / "data")
    await edge.start()
    try:
        async with AdminClient(edge.url, TOKEN) as admin:
            await admin.create_workload(WORKLOAD)
        acked: dict[str, bytes] = {}
        statuses: list[tuple[int, str]] = []
        async with EdgeClient(edge.url, token=TOKEN) as client:
            for i in range(2000):  # 16 MB into 8 MiB: the disk fills well before the end
                key = f"k{i:05d}"
                try:
                    await client.put(WORKLOAD, key, VALUE)
                except EdgeHTTPError as exc:
                    statuses.append((exc.status, exc.code))
                    if len(statuses) >= 100:
                        break
                else:
                    assert not statuses, "a write succeeded between refusals on a full disk"
                    acked[key] = VALUE
            assert acked, "no write fitted on the disk at all"
            assert len(statuses) == 100, "the disk never filled"
            assert set(statuses) == {(507, "insufficient_storage")}
            log = edge.log_text()
            assert "Traceback" not in log
            assert log.count("disk_full") <= 2, log[-2000:]
            assert log.count("request_failed") == 0

            ballast.unlink()
            await client.put(WORKLOAD, "after", b"space freed")
            assert await client.get(WORKLOAD, "after") == b"space freed"
            for key in list(acked)[-20:]:
                assert await client.get(WORKLOAD, key) == VALUE
    finally:
        await edge.kill()


async def test_target_disk_full_during_sync_is_waited_out_and_loses_nothing(
    tmp_path: Path,
) -> None:
    reason = disk_unavailable(tmp_path)
    if reason is not None:
        pytest.skip(reason)
    # 3,000 records of 1 KiB at 16 Mbps: about 1.5 s of sync, while the disk fills at once
    # (checked below: the stream was refused) and stays full for 4 s.
    outcome = await run_trial(
        tmp_path, "disk_full", "target", "sync", seed=5, settle_s=40.0, bandwidth_mbps=16.0
    )
    assert outcome.fault_landed
    assert outcome.ok, outcome.problems()
    supervisor_log = (tmp_path / "supervisor.stderr").read_text(errors="replace")
    assert "refused the stream: insufficient_storage" in supervisor_log, supervisor_log[-2000:]
    # The refused stream (507 insufficient_storage) is waited out with backoff until the
    # ballast is deleted, then the copy goes on: not a crash that exhausts the restarts
    # and rolls back (it did while the failure reached the run wrapped in task groups).
    assert outcome.state == "completed", outcome.error
