"""Benchmark: live migration under a concurrent writer, two daemon processes on loopback.

Placement: two ``edge-actors daemon`` subprocesses (source, target) on 127.0.0.1; this
process hosts the migration supervisor (``MigrationService`` + journal) and the writer
(``--writers`` concurrent EdgeClient tasks sharing ``--write-rate`` writes/s).

Reports per run: the cutover's steps inside the hold (``hold_*_ms``: in-flight writes
finishing, final delta, target activation, own route flip), max and p99 write stall
(latency of writes issued from 200 ms before to 200 ms after the cutover phase), the
max latency of writes issued during the cutover phase itself (the writes it held), the
max and p99 latency of the same load in the 0.7 s before the migration (the machine's
ambient noise, e.g. WAL checkpoints), failed requests, lost acknowledged writes (every
acked key read back from the target), total time, bytes on the wire vs workload size,
bulk-vs-live total time for the same workload, and restart-to-resume time of a killed
migration actor. The last line is JSON.

    python benchmarks/live_migration.py --records 100000 --value-bytes 1024 --write-rate 1000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import anyio

from edge_actors.edge import AdminClient, EdgeClient, EdgeEndpoint, Topology
from edge_actors.edge._gateway import HttpEdgeGateway
from edge_actors.migration import MigrationMetrics, MigrationService, ServiceDefaults

if TYPE_CHECKING:
    from anyio.abc import Process

    from edge_actors.migration._gateway import CutoverResult, CutoverSpec

TOKEN = "bench-token-0123456789abcdefghij"


class _Gateway(HttpEdgeGateway):
    """The HTTP gateway, keeping each cutover's answer (its steps inside the hold)."""

    cutovers: dict[str, CutoverResult]

    async def cutover(self, source: str, target: str, spec: CutoverSpec) -> CutoverResult:
        result = await super().cutover(source, target, spec)
        self.cutovers = {**getattr(self, "cutovers", {}), spec.workload: result}
        return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _daemon_log(root: Path, name: str) -> int | IO[bytes]:
    """Where a daemon's log goes: ``$EDGE_ACTORS_BENCH_LOGS/<root dir>-<name>.log`` when that
    variable names a directory (to read what the daemons did in a run), else nowhere."""
    logs = os.environ.get("EDGE_ACTORS_BENCH_LOGS")
    if not logs:
        return subprocess.DEVNULL
    return (Path(logs) / f"{root.name}-{name}.log").open("ab")


async def _start_daemon(name: str, root: Path, cpus: str | None = None) -> tuple[Process, str]:
    """Start a daemon (pinned to ``cpus`` with taskset if given) and wait until it answers."""
    port = _free_port()
    cli = str(Path(sys.executable).with_name("edge-actors"))
    pin = ["taskset", "-c", cpus] if cpus is not None else []
    proc = await anyio.open_process(
        [*pin, cli, "daemon", "--name", name, "--port", str(port), "--data-dir", str(root / name),
         "--hold-timeout", "120s"],
        stdout=subprocess.DEVNULL, stderr=_daemon_log(root, name),
        env={**os.environ, "EDGE_ACTORS_CLUSTER_TOKEN": TOKEN},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    async with AdminClient(url, TOKEN) as admin:
        with anyio.fail_after(20):
            while True:
                try:
                    await admin.health()
                    break
                except Exception:  # not listening yet
                    await anyio.sleep(0.1)
    return proc, url


async def _stop_daemon(proc: Process, timeout_s: float = 30.0) -> None:
    """Stop a daemon started by :func:`_start_daemon`: SIGTERM, then SIGKILL if it has not
    exited within ``timeout_s``."""
    proc.terminate()
    with anyio.move_on_after(timeout_s):
        await proc.wait()
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def _seed(url: str, workload: str, records: int, value_bytes: int) -> None:
    async with AdminClient(url, TOKEN) as admin:
        await admin.create_workload(workload)
    rng = random.Random(1)
    async with EdgeClient(url, timeout=120, token=TOKEN) as client:

        async def part(lo: int, hi: int) -> None:
            for start in range(lo, hi, 1000):
                ops = [
                    (f"r{i:07d}", rng.randbytes(value_bytes))
                    for i in range(start, min(hi, start + 1000))
                ]
                await client.batch(workload, ops)

        step = (records + 3) // 4
        async with anyio.create_task_group() as tg:
            for k in range(4):
                tg.start_soon(part, k * step, min(records, (k + 1) * step))


class Load:
    """Concurrent writers at a total rate; records each write's start time and latency."""

    def __init__(self, url: str, workload: str, rate: float, writers: int, keys: int) -> None:
        self.url, self.workload, self.rate, self.writers, self.keys = (
            url,
            workload,
            rate,
            writers,
            keys,
        )
        self.samples: list[tuple[float, float]] = []
        self.acked: dict[str, bytes] = {}
        self.failed = 0
        self.stop = anyio.Event()

    async def _one(self, index: int) -> None:
        period = self.writers / self.rate
        rng = random.Random(index)
        async with EdgeClient(self.url, timeout=120, token=TOKEN) as client:
            n = 0
            next_at = time.monotonic()
            while not self.stop.is_set():
                key = f"hot{index}-{rng.randrange(self.keys // self.writers):05d}"
                value = f"{n}".encode() + rng.randbytes(100)
                started = time.monotonic()
                try:
                    await client.put(self.workload, key, value)
                except Exception:  # every failed request counts
                    self.failed += 1
                else:
                    self.acked[key] = value
                self.samples.append((started, time.monotonic() - started))
                n += 1
                next_at += period
                delay = next_at - time.monotonic()
                if delay > 0:
                    with anyio.move_on_after(delay):
                        await self.stop.wait()
                else:
                    next_at = time.monotonic()

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            for i in range(self.writers):
                tg.start_soon(self._one, i)


async def _lost(url: str, workload: str, acked: dict[str, bytes]) -> int:
    lost = 0
    items = list(acked.items())
    async with EdgeClient(url, timeout=120, token=TOKEN) as client:

        async def part(chunk: list[tuple[str, bytes]]) -> None:
            nonlocal lost
            for key, value in chunk:
                if await client.get(workload, key) != value:
                    lost += 1

        async with anyio.create_task_group() as tg:
            for k in range(8):
                tg.start_soon(part, items[k::8])
    return lost


def _p99(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


async def one_run(args: argparse.Namespace, run: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src_proc, src = await _start_daemon("bench-src", root)
        dst_proc, dst = await _start_daemon("bench-dst", root)
        try:
            topo = Topology(
                {"bench-src": EdgeEndpoint(src, TOKEN), "bench-dst": EdgeEndpoint(dst, TOKEN)}
            )
            await _seed(src, "live-wl", args.records, args.value_bytes)
            await _seed(src, "bulk-wl", args.records, args.value_bytes)
            await _seed(src, "kill-wl", max(2000, args.records // 10), args.value_bytes)
            defaults = ServiceDefaults(checkpoint_interval_s=1.0, sync_batch_size=1000)
            async with (
                _Gateway(topo) as gateway,
                MigrationService(gateway, root / "supervisor", defaults=defaults) as service,
            ):
                base = {"source_edge": "bench-src", "target_edge": "bench-dst"}
                # live under load
                load = Load(src, "live-wl", args.write_rate, args.writers, 5000)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(load.run)
                    await anyio.sleep(1.0)
                    downtime = {"max_downtime": f"{args.max_downtime_ms}ms"}
                    plan = await service.plan(
                        {**base, "workloads": ["live-wl"], "constraints": downtime}
                    )
                    t0 = plan_at = time.monotonic()
                    status = await service.execute(plan.migration_id, wait=True, timeout=600)
                    live_s = time.monotonic() - t0
                    await anyio.sleep(1.0)
                    load.stop.set()
                assert status.state == "completed", status
                history = await service.history(plan.migration_id)
                cut_start = next(e.at for e in history if e.to_state == "cutover")
                cut_end = next(e.at for e in history if e.to_state in ("validation", "cleanup"))
                # samples are monotonic; map wall clock of the history onto it
                offset = time.time() - time.monotonic()
                window = [lat for at, lat in load.samples
                          if cut_start - 0.2 <= at + offset <= cut_end + 0.2]  # fmt: skip
                # writes issued while the cutover ran (the held ones among them)
                cut = [lat for at, lat in load.samples if cut_start <= at + offset <= cut_end]
                # ambient: the same load before the migration (after the writers' warm-up)
                ambient = [lat for at, lat in load.samples if plan_at - 0.7 <= at < plan_at]
                metrics = await service.metrics(plan.migration_id)
                assert isinstance(metrics, MigrationMetrics)
                lost = await _lost(dst, "live-wl", load.acked)
                steps = gateway.cutovers["live-wl"].steps_ms
                size = plan.estimated_bytes
                # bulk, same workload size
                bplan = await service.plan({**base, "workloads": ["bulk-wl"], "strategy": "bulk"})
                t0 = time.monotonic()
                bstatus = await service.execute(bplan.migration_id, wait=True, timeout=600)
                bulk_s = time.monotonic() - t0
                assert bstatus.state == "completed", bstatus
                # restart-to-resume of a killed migration actor
                kplan = await service.plan(
                    {**base, "workloads": ["kill-wl"], "bandwidth_limit_mbps": 20}
                )
                await service.execute(kplan.migration_id)
                with anyio.fail_after(60):
                    while (await service.progress(kplan.migration_id)).bytes_done < 200_000:
                        await anyio.sleep(0.01)
                ref = await service.actor_ref(kplan.migration_id)
                assert ref is not None
                before = (await service.progress(kplan.migration_id)).bytes_done
                killed_at = time.monotonic()
                await service.system.kill(ref)
                with anyio.fail_after(60):
                    while True:
                        prog = await service.progress(kplan.migration_id)
                        new_ref = await service.actor_ref(kplan.migration_id)
                        if new_ref is not None and prog.bytes_done > before:
                            break
                        await anyio.sleep(0.002)
                resume_ms = (time.monotonic() - killed_at) * 1000
                kstatus = await service.wait(
                    kplan.migration_id, {"completed", "failed"}, timeout=120
                )
                assert kstatus.state == "completed", kstatus
        finally:
            for proc in (src_proc, dst_proc):
                await _stop_daemon(proc, 10.0)
    result = {
        "run": run,
        "max_stall_ms": max(window, default=0.0) * 1000,
        "p99_stall_ms": _p99(window) * 1000,
        "cutover_max_stall_ms": max(cut, default=0.0) * 1000,
        "ambient_max_latency_ms": max(ambient, default=0.0) * 1000,
        "ambient_p99_latency_ms": _p99(ambient) * 1000,
        "writes_in_cutover_window": len(window),
        "measured_hold_ms": metrics.max_downtime_ms,
        "expected_hold_ms": max(metrics.expected_downtime_ms.values(), default=0.0),
        **{f"hold_{k}_ms": v for k, v in steps.items()},
        "failed_requests": load.failed,
        "lost_writes": lost,
        "acked_writes": len(load.samples) - load.failed,
        "live_total_s": live_s,
        "rounds": metrics.rounds,
        "wire_bytes": metrics.bytes_wire,
        "workload_bytes": size,
        "wire_vs_size": metrics.bytes_wire / size if size else 0.0,
        "bulk_total_s": bulk_s,
        "resume_ms": resume_ms,
    }
    print(json.dumps(result), flush=True)
    return result


async def main(args: argparse.Namespace) -> None:
    runs = [await one_run(args, i) for i in range(args.runs)]
    summary: dict[str, Any] = {"records": args.records, "value_bytes": args.value_bytes,
                               "write_rate": args.write_rate, "runs": args.runs}  # fmt: skip
    print(f"{'metric':<24} {'median':>12} {'min':>12} {'max':>12}")
    for key in ("max_stall_ms", "p99_stall_ms", "cutover_max_stall_ms",
                "ambient_max_latency_ms", "ambient_p99_latency_ms", "measured_hold_ms",
                "expected_hold_ms", "hold_hold_ms", "hold_final_delta_ms",
                "hold_activate_ms", "hold_flip_ms", "failed_requests", "lost_writes",
                "live_total_s", "rounds", "wire_vs_size",
                "bulk_total_s", "resume_ms"):  # fmt: skip
        values = [r[key] for r in runs]
        med = statistics.median(values)
        print(f"{key:<24} {med:>12.3f} {min(values):>12.3f} {max(values):>12.3f}")
        summary[key] = med
        summary[key + "_range"] = [min(values), max(values)]
    print(json.dumps(summary))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--value-bytes", type=int, default=1024)
    parser.add_argument("--write-rate", type=float, default=1000.0)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--max-downtime-ms", type=float, default=50.0)
    parser.add_argument("--runs", type=int, default=1)
    anyio.run(main, parser.parse_args())
