"""A real daemon with 2,000 workloads under ``ulimit -n 1024`` (issue 12).

Before the shared budget, each store held a thread and up to 13 descriptors: at 200
workloads reads answered 500 ("unable to open database file"), at 1,000 the daemon
exited at start. Here the daemon is a subprocess whose ``RLIMIT_NOFILE`` is 1,024; it
must start, answer a PUT and a GET for every workload, and keep a bounded thread count
(measured on the real process with psutil).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import anyio
import psutil
import pytest

from edge_actors.edge import AdminClient, EdgeClient
from edge_actors.store import StoreRegistry

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(300)]

TOKEN = "scale-test-token-0123456789abcdefghij"
WORKLOADS = 2000
MAX_THREADS = 64
_LAUNCH = (
    "import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024)); "
    "from edge_actors.cli import main; sys.exit(main())"
)


async def _create_workloads(data_dir: Path, n: int) -> list[str]:
    names = [f"w{i:05}" for i in range(n)]
    async with await StoreRegistry.open(data_dir) as registry:
        for name in names:
            await registry.create(name)
    return names


async def _ready_url(stdout: anyio.abc.ByteReceiveStream) -> str:
    buffer = b""
    with anyio.fail_after(60):
        while b"\n" not in buffer:
            buffer += await stdout.receive()
    line = buffer.split(b"\n", 1)[0].decode()
    assert " listening on " in line, line
    return line.rsplit(" ", 1)[1]


async def test_2000_workloads_under_1024_fds(tmp_path: Path) -> None:
    data_dir = tmp_path / "edge-big"
    names = await _create_workloads(data_dir, WORKLOADS)
    command = [sys.executable, "-c", _LAUNCH, "daemon", "--name", "edge-big", "--port", "0"]
    command += ["--data-dir", str(data_dir), "--max-bytes", "1GB", "--max-workloads", "5000"]
    stderr_path = tmp_path / "daemon.stderr"
    with stderr_path.open("ab") as stderr:
        async with await anyio.open_process(
            command, stderr=stderr, env={"EDGE_ACTORS_CLUSTER_TOKEN": TOKEN, "PATH": ""}
        ) as process:
            try:
                assert process.stdout is not None
                url = await _ready_url(process.stdout)
                proc = psutil.Process(process.pid)
                assert proc.rlimit(psutil.RLIMIT_NOFILE) == (1024, 1024)
                peak_threads = proc.num_threads()
                peak_fds = proc.num_fds()
                failures: list[str] = []

                async def serve(worker: int, client: EdgeClient) -> None:
                    nonlocal peak_threads, peak_fds
                    for i in range(worker, WORKLOADS, 32):
                        name = names[i]
                        try:
                            await client.put(name, "k", name.encode())
                            if await client.get(name, "k") != name.encode():
                                failures.append(f"{name}: wrong value")
                        except Exception as exc:  # collected and asserted below
                            failures.append(f"{name}: {exc!r}")
                        if i % 64 == 0:
                            peak_threads = max(peak_threads, proc.num_threads())
                            peak_fds = max(peak_fds, proc.num_fds())

                async with EdgeClient(url, token=TOKEN) as client, anyio.create_task_group() as tg:
                    for worker in range(32):
                        tg.start_soon(serve, worker, client)
                assert failures == [], failures[:5]
                async with AdminClient(url, TOKEN) as admin:
                    capacity = await admin.capacity()
                assert capacity.used_workloads == WORKLOADS
                assert capacity.used_bytes == sum(1 + len(name) for name in names)
                assert peak_threads <= MAX_THREADS, peak_threads
                assert peak_fds < 1024, peak_fds
                process.terminate()
                with anyio.fail_after(60):
                    assert await process.wait() == 0
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
