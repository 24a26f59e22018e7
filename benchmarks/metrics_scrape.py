"""Benchmark: what a ``/metrics`` scrape costs an edge that many workloads passed through.

A scrape renders on the daemon's event loop, so its time is a stall of every write and
hold on the edge meanwhile. Per-workload series of holds and peer-applied records used to
be kept for every workload ever held, so the cost grew with the edge's history.

Placement: one ``edge-actors daemon`` subprocess on 127.0.0.1 (not pinned); this process
drives it. For each size in ``--sizes`` (ascending, on the same daemon), workloads pass
through the edge until that many have: each is created, held and released once (a
cutover's hold without the copy: what leaves per-workload hold series behind), then
dropped (as a workload that moved away; the edge's ``max_workloads`` bounds those it
hosts at once, not those it has seen). Then ``--scrapes`` scrapes of ``/metrics`` are
timed. Figures per size: median and max scrape time, the
body's bytes, and ``writes_during_scrape_ms``: the slowest of the writes one client made,
one after another, while the scrapes ran (what a scrape costs a writer).
``ratio_vs_first`` is each size's median over the first size's, measured in the same run.

    python benchmarks/metrics_scrape.py --sizes 0,100,1000,10000 --scrapes 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from live_migration import TOKEN, _start_daemon, _stop_daemon  # sibling benchmark

from edge_actors.edge import AdminClient, EdgeClient


async def _grow(url: str, names: list[str], concurrency: int = 8) -> None:
    """Create each of ``names``, hold it, release it and drop it."""
    queue = iter(names)
    async with AdminClient(url, TOKEN) as admin:

        async def worker() -> None:
            for name in queue:
                await admin.create_workload(name)
                await admin.hold(name)
                await admin.release(name)
                await admin.drop_workload(name, forget=True)

        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)


async def _scrape(url: str, scrapes: int) -> dict[str, float]:
    """Time ``scrapes`` scrapes while one client writes; the figures of one size."""
    times: list[float] = []
    size = 0
    slowest_write = 0.0
    done = anyio.Event()

    async def writer() -> None:
        nonlocal slowest_write
        async with EdgeClient(url, token=TOKEN) as client:
            while not done.is_set():
                started = time.perf_counter()
                await client.put("probe", "k", b"v" * 100)
                slowest_write = max(slowest_write, time.perf_counter() - started)
                await anyio.sleep(0.001)

    async with AdminClient(url, TOKEN) as admin, anyio.create_task_group() as tg:
        tg.start_soon(writer)
        for _ in range(scrapes):
            started = time.perf_counter()
            size = len(await admin.metrics_text())
            times.append(time.perf_counter() - started)
        done.set()
    return {
        "scrape_median_ms": statistics.median(times) * 1000,
        "scrape_max_ms": max(times) * 1000,
        "body_bytes": float(size),
        "writes_during_scrape_ms": slowest_write * 1000,
    }


async def run(sizes: list[int], scrapes: int) -> dict[str, Any]:
    """Every size's figures (see the module doc)."""
    out: dict[str, Any] = {"sizes": sizes, "scrapes": scrapes, "by_size": {}}
    with tempfile.TemporaryDirectory(prefix="metrics-") as tmp:
        proc, url = await _start_daemon("edge-west", Path(tmp))
        try:
            async with AdminClient(url, TOKEN) as admin:
                await admin.create_workload("probe")
            have = 0
            for size in sizes:
                await _grow(url, [f"w{i:05d}" for i in range(have, size)])
                have = max(have, size)
                out["by_size"][str(size)] = await _scrape(url, scrapes)
        finally:
            await _stop_daemon(proc)
    first = out["by_size"][str(sizes[0])]["scrape_median_ms"]
    for figures in out["by_size"].values():
        figures["ratio_vs_first"] = figures["scrape_median_ms"] / first
    return out


def table(out: dict[str, Any]) -> str:
    """One row per size."""
    lines = [
        f"{'workloads seen':>14} {'scrape p50 ms':>14} {'scrape max ms':>14} "
        f"{'body bytes':>11} {'write max ms':>13} {'p50 / first':>12}",
        "-" * 83,
    ]
    for size, f in out["by_size"].items():
        lines.append(
            f"{size:>14} {f['scrape_median_ms']:>14.2f} {f['scrape_max_ms']:>14.2f} "
            f"{f['body_bytes']:>11.0f} {f['writes_during_scrape_ms']:>13.2f} "
            f"{f['ratio_vs_first']:>12.2f}"
        )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="0,100,1000,10000", help="(0,100,1000,10000)")
    parser.add_argument("--scrapes", type=int, default=20, help="per size (20)")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if not sizes or sizes[0] < 0 or args.scrapes < 1:
        parser.error("--sizes: counts >= 0; --scrapes: at least 1")
    out = await run(sizes, args.scrapes)
    print(table(out))
    print(json.dumps(out))


if __name__ == "__main__":
    anyio.run(main)
