"""Benchmark: what routing commands cost the other requests of an edge, under disk load.

Every routing command (create, hold, release, status, drop, cutover) writes the edge's
routes and epochs durably (``edge.state`` / ``edge.log``). A write synced on the
daemon's event loop stalls every request of the edge for one ``fdatasync``: ~0.1 ms on an
idle disk, 6-13 ms beside a writer of 10 MB files (a copy arriving). In a wide plan the
target creates copies while other workloads' cutovers hold writes on the same loops.

Placement: one ``edge-actors daemon`` subprocess on 127.0.0.1 and, with ``--busy``
(default), a disk-load subprocess writing and syncing 10 MB files into the same file
system all along; this process drives both, none pinned. Two phases of ``--seconds``
each, on the same daemon:

- ``quiet``: one client writes to workload ``probe``, one write after another with a
  1 ms pause (the baseline);
- ``commands``: the same writer, and ``--concurrency`` admin clients each cycling
  through other workloads: create (with an epoch), hold, release to ``moved``
  (bound to a migration), status back to ``active``, drop (forgotten): six durable
  route or epoch writes per cycle.

Figures per phase: writes, their latency p50 / p99 / max, and in ``commands`` the
commands done and their p50. The ratios put the ``commands`` phase's p99 and max over the
``quiet`` phase's, measured in the same run: about 1 when commands cost the writer
nothing.

    python benchmarks/admin_stalls.py --seconds 10 --concurrency 2 --runs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from live_migration import TOKEN, _start_daemon, _stop_daemon  # sibling benchmark

from edge_actors.edge import AdminClient, EdgeClient

if TYPE_CHECKING:
    from collections.abc import Awaitable

_DISK_LOAD = """
import os, sys
block = os.urandom(1 << 20)
n = 0
while True:
    path = os.path.join(sys.argv[1], f"load{n % 4}.bin")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for _ in range(10):
        os.write(fd, block)
    os.fsync(fd)
    os.close(fd)
    n += 1
"""


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _writer(url: str, done: anyio.Event) -> list[float]:
    """Write to ``probe`` one write after another until ``done``; each latency (ms)."""
    latencies: list[float] = []
    async with EdgeClient(url, token=TOKEN) as client:
        n = 0
        while not done.is_set():
            started = time.perf_counter()
            await client.put("probe", f"k{n % 100}", b"v" * 100)
            latencies.append((time.perf_counter() - started) * 1000)
            n += 1
            await anyio.sleep(0.001)
    return latencies


async def _commands(url: str, worker: int, done: anyio.Event, east_url: str) -> list[float]:
    """Cycle routing commands through workloads of this worker until ``done``; each
    command's latency (ms)."""
    latencies: list[float] = []

    async def timed(call: Awaitable[object]) -> None:
        started = time.perf_counter()
        await call
        latencies.append((time.perf_counter() - started) * 1000)

    async with AdminClient(url, TOKEN) as admin:
        cycle = 0
        while not done.is_set():
            name = f"c{worker}-{cycle % 50:02d}"
            epoch = cycle + 1
            await timed(admin.create_workload(name, epoch=epoch))
            await timed(admin.hold(name, epoch=epoch))
            await timed(admin.release(name, east_url, epoch=epoch, migration_id=f"m{cycle}"))
            await timed(admin.set_status(name, "active", epoch=epoch))
            await timed(admin.drop_workload(name, forget=True, epoch=epoch))
            cycle += 1
    return latencies


async def _phase(url: str, seconds: float, concurrency: int) -> dict[str, float]:
    done = anyio.Event()
    writes: list[float] = []
    commands: list[float] = []

    async def write() -> None:
        writes.extend(await _writer(url, done))

    async def command(worker: int) -> None:
        commands.extend(await _commands(url, worker, done, "http://127.0.0.1:9"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(write)
        for worker in range(concurrency):
            tg.start_soon(command, worker)
        await anyio.sleep(seconds)
        done.set()
    figures = {
        "writes": float(len(writes)),
        "write_p50_ms": statistics.median(writes),
        "write_p99_ms": _quantile(writes, 0.99),
        "write_max_ms": max(writes),
    }
    if commands:
        figures["commands"] = float(len(commands))
        figures["command_p50_ms"] = statistics.median(commands)
    return figures


async def run_once(seconds: float, concurrency: int, busy: bool) -> dict[str, Any]:
    """One run: both phases on one daemon (see the module doc)."""
    with tempfile.TemporaryDirectory(prefix="admin-stalls-") as tmp:
        load = None
        if busy:
            load_dir = Path(tmp) / "load"
            load_dir.mkdir()
            load = await anyio.open_process(
                [sys.executable, "-c", _DISK_LOAD, str(load_dir)], stdout=subprocess.DEVNULL
            )
        proc, url = await _start_daemon("edge-west", Path(tmp))
        try:
            async with AdminClient(url, TOKEN) as admin:
                await admin.create_workload("probe")
            quiet = await _phase(url, seconds, 0)
            commands = await _phase(url, seconds, concurrency)
        finally:
            await _stop_daemon(proc)
            if load is not None:
                load.kill()
                await load.wait()
    return {
        "quiet": quiet,
        "commands": commands,
        "p99_vs_quiet": commands["write_p99_ms"] / quiet["write_p99_ms"],
        "max_vs_quiet": commands["write_max_ms"] / quiet["write_max_ms"],
    }


def table(runs: list[dict[str, Any]]) -> str:
    """One row per run and phase."""
    lines = [
        f"{'run':>3} {'phase':>9} {'writes':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'commands':>9} {'cmd p50 ms':>10}",
        "-" * 67,
    ]
    for i, run in enumerate(runs, 1):
        for phase in ("quiet", "commands"):
            f = run[phase]
            lines.append(
                f"{i:>3} {phase:>9} {f['writes']:>7.0f} {f['write_p50_ms']:>7.2f} "
                f"{f['write_p99_ms']:>7.2f} {f['write_max_ms']:>7.2f} "
                f"{f.get('commands', 0):>9.0f} {f.get('command_p50_ms', 0):>10.2f}"
            )
        lines.append(
            f"{'':>3} {'ratio':>9} {'':>7} {'':>7} {run['p99_vs_quiet']:>7.2f} "
            f"{run['max_vs_quiet']:>7.2f}"
        )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase (10)")
    parser.add_argument("--concurrency", type=int, default=2, help="admin clients (2)")
    parser.add_argument("--runs", type=int, default=3, help="(3)")
    parser.add_argument("--no-busy", action="store_true", help="no disk load beside")
    args = parser.parse_args()
    if args.seconds <= 0 or args.concurrency < 1 or args.runs < 1:
        parser.error("--seconds > 0, --concurrency >= 1 and --runs >= 1 expected")
    runs = [
        await run_once(args.seconds, args.concurrency, not args.no_busy) for _ in range(args.runs)
    ]
    print(table(runs))
    summary: dict[str, Any] = {
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "busy": not args.no_busy,
        "runs": len(runs),
    }
    for key in ("p99_vs_quiet", "max_vs_quiet"):
        values = [run[key] for run in runs]
        summary[key] = statistics.median(values)
        summary[f"{key}_range"] = [min(values), max(values)]
    for phase in ("quiet", "commands"):
        for key in ("write_p99_ms", "write_max_ms"):
            summary[f"{phase}_{key}"] = statistics.median(run[phase][key] for run in runs)
    summary["command_p50_ms"] = statistics.median(run["commands"]["command_p50_ms"] for run in runs)
    print(json.dumps(summary))


if __name__ == "__main__":
    anyio.run(main)
