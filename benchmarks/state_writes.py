"""Benchmark: an activation's durable state write on an edge that knows many workloads.

A cutover's target writes its epoch fence and its routing table before it answers, inside
the source's hold (``WorkloadRouter.set_route_fenced``). An edge that has taken in many
workloads by migration keeps an epoch entry and a route for each. This measures what
that write costs as the count grows: for each ``--sizes`` count, the edge's state (its
``RoutingTable`` and ``EpochFence``, ``open_edge_state``) in a fresh directory on this
machine's disk is filled with that many fenced workloads (as after that many
activations), then ``--writes`` more activations are recorded one after another, each as
the router does it (epoch and route changed in memory, then written in a worker thread).

Measured per count: the activation write's time (p50 / p90 / max), the longest time one
took on the event loop (the part that blocks every other request of the edge), and the
bytes written per activation (``/proc/self/io`` ``wchar``). With ``--busy``, a thread
writes and syncs 10 MB files beside them all along (as copies arriving do). The ratios
compare the largest count with the smallest, measured in the same run.

    python benchmarks/state_writes.py --sizes 100,1000,10000 --writes 200 --busy
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

from edge_actors.edge._edge_state import open_edge_state
from edge_actors.edge._routing import Route, RoutingTable

if TYPE_CHECKING:
    from edge_actors.edge._fence import EpochFence

_DIGEST = "5f" * 16


def _wchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise RuntimeError("no wchar in /proc/self/io")


_busy_bytes = 0


def _busy_writer(directory: Path, stop: threading.Event) -> None:
    """Write and sync 10 MB files until ``stop``, as arriving copies load the disk."""
    global _busy_bytes
    block = os.urandom(1 << 20)
    n = 0
    while not stop.is_set():
        path = directory / f"busy-{n % 4}.bin"
        with path.open("wb", buffering=0) as handle:
            for _ in range(10):
                handle.write(block)
                _busy_bytes += len(block)
            handle.flush()
            os.fsync(handle.fileno())
        n += 1


_TICK_S = 0.0005


async def _activate(fence: EpochFence, routing: RoutingTable, name: str, epoch: int) -> float:
    """One activation's state change and durable write, as ``set_route_fenced`` does it;
    returns the longest the event loop was held meanwhile, in seconds (a task that asks
    to wake every 0.5 ms: how much later than that it woke)."""
    lag = 0.0
    done = anyio.Event()

    async def ticker() -> None:
        nonlocal lag
        while not done.is_set():
            start = time.perf_counter()
            await anyio.sleep(_TICK_S)
            lag = max(lag, time.perf_counter() - start - _TICK_S)

    async def write() -> None:
        fence.record(name, epoch, "active", activated=(epoch * 10, _DIGEST))
        routing.put(name, Route("active", None, f"m-{epoch}"))
        async with anyio.create_task_group() as writes:  # as the router: each log once
            for log in {fence.state, routing.state}:
                writes.start_soon(log.save)
        done.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(ticker)
        await anyio.lowlevel.checkpoint()  # the ticker is waiting before the write begins
        tasks.start_soon(write)
    return lag


async def measure(count: int, writes: int, root: Path) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix=f"state-{count}-", dir=root))
    routing, fence = open_edge_state(directory)
    for i in range(count):
        name = f"workload-{i:06d}"
        fence.record(name, 3, "active", activated=(1000 + i, _DIGEST))
        routing.put(name, Route("active", None, f"m-seed-{i}"))
    await fence.save()
    await routing.save()
    times: list[float] = []
    loop: list[float] = []
    before, busy_before = _wchar(), _busy_bytes
    for k in range(writes):
        name = f"workload-{k % max(count, 1):06d}" if count else f"fresh-{k}"
        start = time.perf_counter()
        loop.append(await _activate(fence, routing, name, 4 + k))
        times.append(time.perf_counter() - start)
    written = (_wchar() - before - (_busy_bytes - busy_before)) / writes
    times.sort()
    return {
        "workloads": count,
        "p50_ms": statistics.median(times) * 1000,
        "p90_ms": times[int(0.9 * (len(times) - 1))] * 1000,
        "max_ms": times[-1] * 1000,
        "loop_max_ms": max(loop) * 1000,
        "loop_p90_ms": sorted(loop)[int(0.9 * (len(loop) - 1))] * 1000,
        "bytes_per_write": written,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="workload counts")
    parser.add_argument("--writes", type=int, default=200, help="activations per count")
    parser.add_argument("--busy", action="store_true", help="a 10 MB file writer beside")
    parser.add_argument("--dir", type=Path, default=None, help="where (default: a temp dir)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="state-writes-", dir=args.dir) as tmp:
        root = Path(tmp)
        stop = threading.Event()
        busy = threading.Thread(target=_busy_writer, args=(root, stop), daemon=True)
        if args.busy:
            busy.start()
        try:
            rows = [await measure(n, args.writes, root) for n in sizes]
        finally:
            stop.set()
            if args.busy:
                busy.join()
    print(
        f"{'workloads':>10} {'p50 ms':>8} {'p90 ms':>8} {'max ms':>8} {'loop p90 ms':>12} "
        f"{'loop max ms':>12} {'bytes/write':>12}"
    )
    for row in rows:
        print(
            f"{row['workloads']:>10} {row['p50_ms']:>8.2f} {row['p90_ms']:>8.2f} "
            f"{row['max_ms']:>8.2f} {row['loop_p90_ms']:>12.2f} {row['loop_max_ms']:>12.2f} "
            f"{row['bytes_per_write']:>12.0f}"
        )
    small, large = rows[0], rows[-1]
    figures: dict[str, Any] = {"busy": args.busy, "writes": args.writes, "rows": rows}
    figures["p90_ratio"] = large["p90_ms"] / small["p90_ms"]
    figures["loop_p90_ratio"] = large["loop_p90_ms"] / small["loop_p90_ms"]
    figures["bytes_ratio"] = large["bytes_per_write"] / small["bytes_per_write"]
    print(json.dumps(figures))


if __name__ == "__main__":
    anyio.run(main)
