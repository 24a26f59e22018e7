"""Micro-benchmark of edge_actors.store: put rate, delta scan, apply, latency under load.

Usage: ``python benchmarks/store.py [--records N] [--value-bytes B] [--durability normal|full]
[--latency-writers W] [--latency-rate R] [--latency-seconds T] [--latency-only]``

Real SQLite files in a temporary directory. Prints a table, then one JSON object as the
last line (``puts_per_s_single``, ``puts_per_s_concurrent``, ``scan_mb_per_s``,
``apply_mb_per_s``, ..., ``latency_p50_ms``, ``latency_p99_ms``, ``latency_max_ms``).
MB are 10**6 bytes of keys plus values.

Latency under steady load: a store seeded with ``--records`` records, then ``W`` writer
tasks sharing ``R`` puts/s (each on a fixed schedule) overwrite 5 000 hot keys for ``T``
seconds; every put's latency is recorded (from the moment it was issued to its LSN).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any, cast

import anyio

from edge_actors.store import Durability, WorkloadStore


async def _open(directory: Path, name: str, durability: Durability) -> WorkloadStore:
    return await WorkloadStore.open(
        directory / f"{name}.sqlite", name, create=True, durability=durability
    )


async def _run(
    records: int, value_bytes: int, durability: Durability, writers: int
) -> dict[str, Any]:
    value = bytes(range(256)) * (value_bytes // 256) + bytes(value_bytes % 256)
    single_n = min(records, 3000)
    out: dict[str, Any] = {"records": records, "value_bytes": value_bytes}
    out["durability"] = durability
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        async with await _open(d, "single", durability) as store:
            t0 = time.perf_counter()
            for i in range(single_n):
                await store.put(f"key-{i:08}", value)
            out["puts_per_s_single"] = single_n / (time.perf_counter() - t0)

        async with await _open(d, "src", durability) as source:
            per_writer = records // writers

            async def writer(w: int) -> None:
                for i in range(per_writer):
                    await source.put(f"key-{w:04}-{i:08}", value)

            t0 = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for w in range(writers):
                    tg.start_soon(writer, w)
            elapsed = time.perf_counter() - t0
            out["concurrent_writers"] = writers
            out["puts_per_s_concurrent"] = per_writer * writers / elapsed
            stats = await source.stats()
            payload_mb = stats.bytes / 1e6
            out["payload_mb"] = payload_mb

            t0 = time.perf_counter()
            pages: list[Any] = []
            after = 0
            while page := await source.scan_changes(after, limit=1000):
                pages.append(page)
                after = page[-1].lsn
            out["scan_mb_per_s"] = payload_mb / (time.perf_counter() - t0)

            async with await _open(d, "dst", durability) as target:
                t0 = time.perf_counter()
                for page in pages:
                    await target.apply_changes(page)
                out["apply_mb_per_s"] = payload_mb / (time.perf_counter() - t0)
                t0 = time.perf_counter()
                for page in pages:
                    await target.apply_changes(page)
                out["reapply_mb_per_s"] = payload_mb / (time.perf_counter() - t0)
                t0 = time.perf_counter()
                digest = await target.compute_digest()
                out["digest_scan_mb_per_s"] = payload_mb / (time.perf_counter() - t0)
                out["digests_equal"] = digest == stats.digest == (await target.stats()).digest
    return out


def _percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def _latency(
    directory: Path,
    durability: Durability,
    *,
    records: int,
    value_bytes: int,
    writers: int,
    rate: float,
    seconds: float,
) -> dict[str, Any]:
    """Seed a store, then run ``writers`` paced writers; return put latency figures."""
    value = bytes(range(256)) * (value_bytes // 256) + bytes(value_bytes % 256)
    hot_keys = 5000
    latencies: list[float] = []
    async with await _open(directory, "latency", durability) as store:
        for start in range(0, records, 1000):
            batch = [(f"seed-{i:08}", value) for i in range(start, min(records, start + 1000))]
            await store.write_batch(batch)
        deadline = time.perf_counter() + seconds
        period = writers / rate

        async def writer(index: int) -> None:
            rng = random.Random(index)
            next_at = time.perf_counter() + period * index / writers
            while True:
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await anyio.sleep(delay)
                started = time.perf_counter()
                if started >= deadline:
                    return
                await store.put(f"hot{index}-{rng.randrange(hot_keys // writers):05d}", value)
                latencies.append(time.perf_counter() - started)
                next_at += period
                if next_at < time.perf_counter():
                    next_at = time.perf_counter()  # behind schedule: do not burst

        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for w in range(writers):
                tg.start_soon(writer, w)
        elapsed = time.perf_counter() - t0
    ordered = sorted(latencies)
    return {
        "latency_writers": writers,
        "latency_rate_target": rate,
        "latency_rate_achieved": len(ordered) / elapsed,
        "latency_p50_ms": statistics.median(ordered) * 1000 if ordered else 0.0,
        "latency_p99_ms": _percentile(ordered, 0.99) * 1000,
        "latency_p999_ms": _percentile(ordered, 0.999) * 1000,
        "latency_max_ms": ordered[-1] * 1000 if ordered else 0.0,
        "latency_over_20ms": sum(1 for x in ordered if x > 0.020),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--value-bytes", type=int, default=1024)
    parser.add_argument("--durability", choices=["normal", "full"], default="normal")
    parser.add_argument("--writers", type=int, default=200)
    parser.add_argument("--latency-writers", type=int, default=16)
    parser.add_argument("--latency-rate", type=float, default=1000.0, help="puts/s, all writers")
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="0 skips it")
    parser.add_argument("--latency-only", action="store_true", help="skip the throughput part")
    args = parser.parse_args()
    durability = cast("Durability", args.durability)
    result: dict[str, Any] = {}
    if not args.latency_only:
        result = anyio.run(_run, args.records, args.value_bytes, durability, args.writers)
    if args.latency_seconds > 0:
        with tempfile.TemporaryDirectory() as tmp:
            result |= anyio.run(
                partial(
                    _latency,
                    Path(tmp),
                    durability,
                    records=args.records,
                    value_bytes=args.value_bytes,
                    writers=args.latency_writers,
                    rate=args.latency_rate,
                    seconds=args.latency_seconds,
                )
            )
    for name, val in result.items():
        print(f"{name:24} {val:,.1f}" if isinstance(val, float) else f"{name:24} {val}")
    print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
