"""CPU seconds a target spends per record of a copy, in one process (no network, no daemon).

What a target daemon does with each chunk of a peer stream, minus the WebSocket: decode
the frame (``decode_frame``), verify and decode the chunk (``ChunkCodec.decode_chunk``),
and apply it to a fresh ``incoming``-like store (``WorkloadStore.apply_changes``: the
validation, the digest terms, the SQLite inserts and commits), with the store's own
background checkpointer copying the WAL. With ``--stores N``, N copies of the workload
are applied at once, each in its own task, as a wide plan's target applies several
copies (CPU is then per store: the process's divided by N). CPU is the process's own (every thread,
``time.process_time``), from the first chunk until the store is closed (its last WAL
checkpoint included), so a machine's other load moves it much less than wall time.

Records are ``r0000000..`` with ``--value-bytes`` random bytes (seeded), ``--chunk``
per chunk (the sender's default page), as ``benchmarks/peers.py`` copies them.

Usage (from the repository root, venv active; pin it to keep the figures comparable)::

    taskset -c 1 python benchmarks/apply_cpu.py --records 97656 --runs 5
    python benchmarks/apply_cpu.py --records 9766 --stores 3 --runs 5  # a wide target
    # A/B against an older tree, same benchmark code:
    git archive 6f2a3be src | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old/src taskset -c 1 python benchmarks/apply_cpu.py

The last line printed is one JSON object: ``cpu_s`` (median), ``cpu_s_runs``,
``cpu_s_per_100mb`` (median, scaled to 100 MB of keys and values), ``wall_s`` (median),
``end_bulk_s`` (median wall s of ending the fill, its one sync; with ``end_bulk_s_runs``),
``records``, ``value_bytes``, ``digest`` (the same for every tree that keeps the digest
contract).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import anyio

from edge_actors.store import WorkloadStore
from edge_actors.wire import Change, Chunk, ChunkCodec, decode_frame, encode_frame

_MIGRATION = "mig-apply-cpu"
_WORKLOAD = "apply-cpu"


def _frames(records: int, value_bytes: int, chunk: int) -> tuple[list[bytes], int]:
    """Encode the workload as peer-stream frames; return them and the logical bytes."""
    rng = random.Random(12)
    codec = ChunkCodec()
    frames: list[bytes] = []
    logical = 0
    for seq, start in enumerate(range(0, records, chunk), 1):
        changes = [
            Change(lsn=i + 1, key=f"r{i:07d}", value=rng.randbytes(value_bytes))
            for i in range(start, min(records, start + chunk))
        ]
        logical += sum(len(c.key) + value_bytes for c in changes)
        frame = codec.encode_chunk(
            migration_id=_MIGRATION, workload=_WORKLOAD, seq=seq, changes=changes
        )
        frames.append(encode_frame(frame))
    return frames, logical


async def _run_once(
    frames: list[bytes], root: Path, stores: int
) -> tuple[float, float, float, str]:
    """Apply every frame to ``stores`` fresh stores under ``root`` at once; return CPU s
    per store, wall s, the longest wall s of ending a fill (its sync: what the ack of the
    transfer's ``Done`` waits for), and the digest (the same for every store)."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    results: list[tuple[float, str]] = []
    async with anyio.create_task_group() as tg:
        for n in range(stores):
            tg.start_soon(_fill, frames, root / f"{_WORKLOAD}-{n}.sqlite", results)
    digests = {digest for _, digest in results}
    assert len(digests) == 1, digests
    cpu = (time.process_time() - cpu0) / stores
    return cpu, time.perf_counter() - wall0, max(e for e, _ in results), digests.pop()


async def _fill(frames: list[bytes], path: Path, results: list[tuple[float, str]]) -> None:
    """Apply every frame to a fresh store at ``path``, as a target's peer stream does."""
    codec = ChunkCodec()
    store = await WorkloadStore.open(path, _WORKLOAD, create=True)
    bulk = hasattr(store, "end_bulk_apply")  # trees before the bulk fill have neither
    end_s = 0.0
    try:
        for raw in frames:
            chunk = decode_frame(raw)
            assert isinstance(chunk, Chunk)
            changes = await anyio.to_thread.run_sync(codec.decode_chunk, chunk)
            if bulk:
                await store.apply_changes(changes, bulk=True)  # as the peer API, incoming
            else:
                await store.apply_changes(changes)
        if bulk:
            end0 = time.perf_counter()
            await store.end_bulk_apply()  # the receiver's step at the transfer's Done
            end_s = time.perf_counter() - end0
        digest = (await store.stats()).digest
    finally:
        await store.close()  # its last checkpoint counts: the work of the copy
    results.append((end_s, digest))


async def main(args: argparse.Namespace) -> None:
    frames, logical = _frames(args.records, args.value_bytes, args.chunk)
    cpus: list[float] = []
    walls: list[float] = []
    ends: list[float] = []
    digests: set[str] = set()
    for run in range(args.runs):
        root = Path(tempfile.mkdtemp(prefix="apply-cpu-"))
        try:
            cpu, wall, end_s, digest = await _run_once(frames, root, args.stores)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        cpus.append(cpu)
        walls.append(wall)
        ends.append(end_s)
        digests.add(digest)
        print(
            f"run {run}: cpu {cpu:.3f} s, wall {wall:.3f} s, end of fill {end_s:.3f} s", flush=True
        )
    cpu_s = statistics.median(cpus)
    result = {
        "records": args.records,
        "value_bytes": args.value_bytes,
        "stores": args.stores,
        "cpu_s": round(cpu_s, 3),
        "cpu_s_runs": [round(c, 3) for c in cpus],
        "cpu_s_per_100mb": round(cpu_s * 100e6 / logical, 3),
        "wall_s": round(statistics.median(walls), 3),
        "end_bulk_s": round(statistics.median(ends), 3),
        "end_bulk_s_runs": [round(e, 3) for e in ends],
        "digest": digests.pop() if len(digests) == 1 else sorted(digests),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=97_656)
    parser.add_argument("--value-bytes", type=int, default=1024)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--stores", type=int, default=1, help="copies applied at once (CPU is per store)"
    )
    anyio.run(main, parser.parse_args())
