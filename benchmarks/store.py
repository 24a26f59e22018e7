"""Micro-benchmark of edge_actors.store: put rate, delta scan and apply throughput.

Usage: ``python benchmarks/store.py [--records N] [--value-bytes B] [--durability normal|full]``

Real SQLite files in a temporary directory. Prints a table, then one JSON object as the
last line (``puts_per_s_single``, ``puts_per_s_concurrent``, ``scan_mb_per_s``,
``apply_mb_per_s``, ...). MB are 10**6 bytes of keys plus values.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--value-bytes", type=int, default=1024)
    parser.add_argument("--durability", choices=["normal", "full"], default="normal")
    parser.add_argument("--writers", type=int, default=200)
    args = parser.parse_args()
    durability = cast("Durability", args.durability)
    result = anyio.run(_run, args.records, args.value_bytes, durability, args.writers)
    for name, val in result.items():
        print(f"{name:24} {val:,.1f}" if isinstance(val, float) else f"{name:24} {val}")
    print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
