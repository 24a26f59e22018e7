"""Benchmark: how long other writers wait while a large store is dropped.

Usage: ``python benchmarks/drop_stall.py [--mb M] [--runs R] [--durability full|normal]
[--dir D] [--tail-s T]``

A real :class:`StoreRegistry` in a temporary directory (under ``--dir``: put it on the
file system you care about) holds a store of ``M`` MB (1 KiB values) and a small store
that a writer puts to every millisecond. The large store is closed, synced and dropped
from the page cache (as a store long on disk is). Once the writer has run 1 s, it is
dropped (``StoreRegistry.drop``, as a migration's cleanup does); the writer's longest
latency from the drop's start to ``--tail-s`` (6) seconds after its end is the
**stall**: the file system may commit the freed blocks after the drop has returned (ext4
commits its journal every 5 s, or at the next fsync), and whoever waits then waits for
them. Each run does it twice,
in alternating order: with the registry's removal a slice at a time
(``store/_removal.py``) and, as the baseline, with the whole file freed at once (the
same call with one slice: a plain unlink). Prints a table, then one JSON line with the
medians and ``stall_vs_unlink`` (median of the per-run ratios of the longest writes).

The writer's store is ``full`` by default: each commit syncs, as the edge's durable
steps do (a cutover's route and epoch writes, ``full`` stores, WAL checkpoints). With
``--durability normal`` its commits do not sync and neither removal delays them.

    python benchmarks/drop_stall.py --mb 1000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from edge_actors.store import StoreRegistry, remove_file
from edge_actors.store import _registry as registry_module

_RECORD = 1024
_BATCH = 1000
_MODES = ("slices", "unlink")


async def _fill(registry: StoreRegistry, name: str, mb: int) -> None:
    store = await registry.create(name)
    records = mb * 10**6 // _RECORD
    block = os.urandom(_RECORD * 64)
    for start in range(0, records, _BATCH):
        ops: list[tuple[str, bytes | None]] = []
        for i in range(start, min(records, start + _BATCH)):
            at = (i * 97) % 63 * _RECORD
            ops.append((f"r{i:09d}", block[at : at + _RECORD]))
        await store.write_batch(ops)
    # A store dropped by a migration's cleanup has long been on disk: its blocks are
    # allocated and its pages out of the cache, so the drop frees and discards them.
    await store.close()
    await anyio.to_thread.run_sync(_settle, store.path)


def _settle(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


async def _one(root: Path, mode: str, args: argparse.Namespace) -> dict[str, float]:
    """Fill, then drop the large store under the writer; return the figures."""
    step = None if mode == "slices" else 1 << 62
    original = registry_module.remove_file
    if step is not None:
        registry_module.remove_file = partial(remove_file, step_bytes=step)  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            registry = await StoreRegistry.open(Path(tmp), durability=args.durability)
            try:
                await _fill(registry, "large", args.mb)
                small = await registry.create("small")
                samples: list[tuple[float, float]] = []
                stop = anyio.Event()

                async def writer() -> None:
                    n = 0
                    while not stop.is_set():
                        started = time.perf_counter()
                        await small.put(f"k{n % 1000}", os.urandom(100))
                        samples.append((started, time.perf_counter() - started))
                        n += 1
                        with anyio.move_on_after(0.001):
                            await stop.wait()

                async with anyio.create_task_group() as tg:
                    tg.start_soon(writer)
                    await anyio.sleep(1.0)
                    t0 = time.perf_counter()
                    await registry.drop("large")
                    t1 = time.perf_counter()
                    await anyio.sleep(args.tail_s)
                    stop.set()
            finally:
                await registry.close()
    finally:
        registry_module.remove_file = original  # type: ignore[assignment]
    before = [lat for at, lat in samples if t0 - 0.7 <= at < t0]
    during = [lat for at, lat in samples if t0 <= at <= t1 + args.tail_s]
    during.sort()
    return {
        "drop_ms": (t1 - t0) * 1000,
        "stall_ms": during[-1] * 1000,
        "p99_ms": during[int(len(during) * 0.99)] * 1000,
        "ambient_max_ms": max(before) * 1000,
        "writes": len(during),
    }


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f} [{min(values):.1f}-{max(values):.1f}]"


async def main(args: argparse.Namespace) -> None:
    root = Path(args.dir)
    runs: list[dict[str, Any]] = []
    for run in range(args.runs):
        row: dict[str, Any] = {"run": run}
        for mode in _MODES if run % 2 == 0 else _MODES[::-1]:
            row[mode] = await _one(root, mode, args)
        row["stall_vs_unlink"] = row["slices"]["stall_ms"] / row["unlink"]["stall_ms"]
        print(json.dumps(row), flush=True)
        runs.append(row)
    print(f"\n{args.mb} MB store dropped under a writer (1 put/ms), {args.runs} runs, "
          f"durability {args.durability}, in {root}")  # fmt: skip
    print(f"{'figure (ms)':<22} {'slices':>24} {'unlink (baseline)':>24}")
    summary: dict[str, Any] = {"mb": args.mb, "runs": args.runs, "durability": args.durability}
    for key in ("drop_ms", "stall_ms", "p99_ms", "ambient_max_ms"):
        cells = []
        for mode in _MODES:
            values = [r[mode][key] for r in runs]
            summary[f"{mode}_{key}"] = statistics.median(values)
            cells.append(_fmt(values))
        print(f"{key:<22} {cells[0]:>24} {cells[1]:>24}")
    ratios = [r["stall_vs_unlink"] for r in runs]
    summary["stall_vs_unlink"] = statistics.median(ratios)
    summary["stall_vs_unlink_range"] = [min(ratios), max(ratios)]
    print(json.dumps(summary))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=1000, help="size of the dropped store")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--durability", choices=("normal", "full"), default="full")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the stores live")
    parser.add_argument(
        "--tail-s", type=float, default=6.0, help="seconds measured after the drop (6)"
    )
    parsed = parser.parse_args()
    if parsed.mb < 1 or parsed.runs < 1:
        parser.error("--mb and --runs must be at least 1")
    if not 0 < parsed.tail_s <= 600:
        parser.error("--tail-s must be in (0, 600]")
    anyio.run(main, parsed)
