"""Benchmark: cutover holds on a source that is copying other workloads at full speed.

What a pipelined wide plan does to an edge (issue 12): cutovers of early workloads run
while later workloads still copy. Placement: two ``edge-actors daemon`` subprocesses
(``edge-west`` source, ``edge-east`` target) on 127.0.0.1; this process drives them over
their admin APIs (no supervisor, so only the edges' own behaviour is measured).

1. ``--copies`` workloads of ``--copy-mb`` MB (random, incompressible 1 KiB values) and
   ``--cutovers`` small workloads (``--records`` records) are seeded on west, each
   ``incoming`` on east; each small one is copied to east once, then gets
   ``--delta-records`` more writes (its final delta).
2. The big ones are copied west -> east, all at once (``POST /admin/transfers``), and
   while they run the small ones are cut over one after another
   (``POST .../cutover``, ``deadline_ms`` = ``--budget-ms``); an undone cutover is not
   retried (it is counted).
3. Measured: every hold (the source's ``held_ms``, undone ones included), the steps inside
   the successful holds (``steps_ms``: median, 90th percentile, max), how many cutovers
   started while copies were still running, the copies' time, CPU seconds of each daemon
   (``/proc``, user + system: barely moved by other jobs on a shared machine), and the
   copies' pauses for holds (``edge_transfer_yield_*``; 0 on a tree without them).

Prints one JSON line. A/B against another tree: run it with ``PYTHONPATH=<tree>/src``.

    python benchmarks/holds_under_copies.py --copies 4 --copy-mb 40 --cutovers 40
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from live_migration import TOKEN, _start_daemon, _stop_daemon  # sibling benchmark

from edge_actors.edge import AdminClient, EdgeClient, EdgeHTTPError
from edge_actors.edge._models import CutoverRequest
from edge_actors.transfer import TransferSpec

_PAUSES = re.compile(r"^edge_transfer_yield_pauses_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)
_PAUSED_S = re.compile(r"^edge_transfer_yield_seconds_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _seed(url: str, name: str, records: int, start: int = 0) -> None:
    rng = random.Random(name)
    async with EdgeClient(url, timeout=120, token=TOKEN) as client:
        for lo in range(start, start + records, 1000):
            hi = min(start + records, lo + 1000)
            await client.batch(name, [(f"r{i:07d}", rng.randbytes(1024)) for i in range(lo, hi)])


def _spec(name: str, east_url: str, from_lsn: int = 0) -> TransferSpec:
    return TransferSpec(
        transfer_id=f"copy-{name}-{from_lsn}",
        migration_id=f"bench-{name}",
        workload=name,
        target_name="edge-east",
        target_url=east_url,
        target_token=TOKEN,
        from_lsn=from_lsn,
    )


def _spread(values: list[float]) -> list[float]:
    """Median, 90th percentile and max, rounded."""
    ordered = sorted(values)
    at = (len(ordered) // 2, min(len(ordered) - 1, (9 * len(ordered)) // 10), -1)
    return [round(ordered[i], 3) for i in at] if ordered else []


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark (see the module doc) and return its figures."""
    out: dict[str, Any] = {
        "copies": args.copies,
        "copy_mb": args.copy_mb,
        "cutovers": args.cutovers,
        "budget_ms": args.budget_ms,
    }
    with tempfile.TemporaryDirectory(prefix="holds-under-copies-") as tmp:
        root = Path(tmp)
        west, west_url = await _start_daemon("edge-west", root)
        east, east_url = await _start_daemon("edge-east", root)
        try:
            async with AdminClient(west_url, TOKEN) as aw, AdminClient(east_url, TOKEN) as ae:
                await _drive(args, out, aw, ae, west_url, east_url, (west.pid, east.pid))
        finally:
            for proc in (west, east):
                await _stop_daemon(proc)
    return out


async def _drive(
    args: argparse.Namespace,
    out: dict[str, Any],
    aw: AdminClient,
    ae: AdminClient,
    west_url: str,
    east_url: str,
    pids: tuple[int, int],
) -> None:
    bulk = [f"bulk{i:02d}" for i in range(args.copies)]
    small = [f"cut{i:03d}" for i in range(args.cutovers)]
    records = int(args.copy_mb * 1e6 / 1024)
    for name in bulk + small:
        await aw.create_workload(name)
        await ae.create_workload(name, "incoming")
    for name in bulk:
        await _seed(west_url, name, records)
    for name in small:
        await _seed(west_url, name, args.records)
        await aw.run_transfer(_spec(name, east_url))
        await _seed(west_url, name, args.delta_records, start=args.records)
    copying = [0]
    holds: list[float] = []
    steps: dict[str, list[float]] = {}
    undone: list[str] = []
    during = [0]
    cpu0 = [_cpu_s(pid) for pid in pids]

    async def copy(name: str) -> None:
        try:
            final = await aw.run_transfer(_spec(name, east_url))
            if final.state != "done":
                raise RuntimeError(f"copy of {name} ended {final.state}: {final.error}")
        finally:
            copying[0] -= 1

    t0 = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for name in bulk:
            copying[0] += 1
            tg.start_soon(copy, name)
        await anyio.sleep(args.warmup_s)  # the copies reach full speed
        for name in small:
            during[0] += copying[0] > 0
            req = CutoverRequest(
                target_name="edge-east",
                target_url=east_url,
                target_token=TOKEN,
                migration_id=f"bench-{name}",
                transfer_id=f"final-{name}",
                from_lsn=args.records,
                deadline_ms=args.budget_ms,
            )
            try:
                answer = await aw.cutover(name, req)
            except EdgeHTTPError as exc:
                undone.append(exc.message.split(": ", 1)[-1][:160])
                if exc.held_ms is not None:
                    holds.append(exc.held_ms)
            else:
                holds.append(answer.held_ms)
                for step, ms in answer.steps_ms.items():
                    steps.setdefault(step, []).append(ms)
        copies_left = copying[0]
    copy_s = time.perf_counter() - t0
    text = await aw.metrics_text()
    out.update(
        {
            "max_hold_ms": max(holds, default=None),
            "median_hold_ms": statistics.median(holds) if holds else None,
            "holds_over_budget": sum(ms > args.budget_ms for ms in holds),
            "undone": len(undone),
            "undone_reasons": sorted(set(undone))[:5],
            "cutovers_during_copies": during[0],
            "copies_left_at_end": copies_left,
            "copy_s": copy_s,
            "steps_ms": {step: _spread(ms) for step, ms in sorted(steps.items())},
            "cpu_s": {
                side: round(_cpu_s(pid) - before, 2)
                for side, pid, before in zip(("west", "east"), pids, cpu0, strict=True)
            },
            "yield_pauses": sum(float(v) for v in _PAUSES.findall(text)),
            "yield_s": sum(float(v) for v in _PAUSED_S.findall(text)),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--copies", type=int, default=4, help="(4)")
    parser.add_argument("--copy-mb", type=float, default=40.0, help="MB each (40)")
    parser.add_argument("--cutovers", type=int, default=40, help="(40)")
    parser.add_argument("--records", type=int, default=200, help="per small workload (200)")
    parser.add_argument("--delta-records", type=int, default=20, help="final delta (20)")
    parser.add_argument("--budget-ms", type=float, default=50.0, help="deadline_ms (50)")
    parser.add_argument("--warmup-s", type=float, default=0.5, help="copies first (0.5)")
    args = parser.parse_args()
    print(json.dumps(anyio.run(run, args)))


if __name__ == "__main__":
    main()
