"""Benchmark of edge_actors.transfer between two ``edge-actors daemon`` PROCESSES on loopback.

The parent starts two real daemons (``python -m edge_actors.cli daemon``): edge A holds
the source workloads, seeded through the data API (``POST /v1/workloads/{w}/batch``), and
runs every store-to-store transfer through ``POST /admin/transfers``
(``AdminClient.transfer``) under its link limiter (``PUT /admin/links/{target}``); edge B
receives on its real ``/peer/stream`` into an ``incoming`` workload. By default A is
pinned to CPU 0 and B to CPU 1 (``--placement split``); ``same`` pins both to CPU 0,
``none`` does not pin. The ceilings a daemon cannot host (a bare WebSocket sink, a bare
sqlite copy) run in two small helper processes (``--helper``) pinned like A and B.

Measured, in one run:

* copy: a large incompressible workload (``--size-mib`` of ``--value-bytes`` values)
  daemon to daemon without compression, logical MiB/s (the sender's elapsed time),
  beside a ceiling measured in the same run = min(bare aiohttp WebSocket push of the same
  bytes helper A -> helper B, no store; bare sqlite3 scan of A's store file inserted into
  a fresh file with the store's schema and pragmas, one commit per batch, no network, in
  helper A) -> ``copy_vs_ceiling`` (goal >= 0.6);
* compression on a 100 Mbps link with compressible records: logical throughput /
  (compression ratio x link rate) -> ``compressed_link_efficiency`` (goal >= 0.9);
* rate-limit accuracy at 10/100/1000 Mbps for ``--rate-seconds``, daemon to daemon:
  achieved / target from the sender's progress lines (``sent_wire_bytes`` at
  ``elapsed_s``, every ~100 ms; the first line excluded), and the worst progress
  interval (~100 ms) minus one chunk over the target -> ``rate_ratio_min/max`` (goal
  0.97..1.03), ``window_overshoot_max`` (goal <= 1.1); the same limiter over a bare
  WebSocket (helpers, from each chunk's grant time) for comparison;
* peak RSS of each daemon process during the copy (sampled every 20 ms by the parent)
  -> ``peak_rss_mib`` (goal <= 200 MiB), and each daemon's CPU share during the copy;
* compression ratio and wire bytes for compressible vs random records.

The last line printed is one JSON object with the headline figures.

Usage::

    python benchmarks/transfer.py --size-mib 128 --runs 3 --rate-seconds 3   # quick
    python benchmarks/transfer.py                                            # 1 GiB
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
import msgspec
import psutil
from aiohttp import web

from edge_actors.edge import AdminClient
from edge_actors.transfer import TokenBucket, TransferProgress, TransferSpec

if TYPE_CHECKING:
    from collections.abc import Iterator

TOKEN = "bench-token-0123456789abcdefghij"
MiB = 1024 * 1024
WORDS = [
    "".join(
        random.Random(i).choices("abcdefghijklmnopqrstuvwxyz", k=random.Random(i).randint(3, 9))
    )
    for i in range(2000)
]


# --------------------------------------------------------------------------- node side


class RecordingBucket(TokenBucket):
    """A TokenBucket that records (time, bytes) of every grant: when a chunk is sent."""

    def __init__(self, rate_bps: float | None) -> None:
        super().__init__(rate_bps)
        self.grants: list[tuple[float, int]] = []

    async def acquire(self, nbytes: int) -> None:
        await super().acquire(nbytes)
        self.grants.append((time.monotonic(), nbytes))


class RssSampler:
    """Samples the RSS of some processes every 20 ms in a thread; keeps each one's peak."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak = {name: proc.memory_info().rss for name, proc in self.procs.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for name, proc in self.procs.items():
                with contextlib.suppress(psutil.Error):
                    self.peak[name] = max(self.peak[name], proc.memory_info().rss)

    def reset(self) -> None:
        self.peak = {name: proc.memory_info().rss for name, proc in self.procs.items()}

    def cpu_s(self, name: str) -> float:
        times = self.procs[name].cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Helper:
    """Helper process: the ceilings a daemon cannot host (bare WebSocket, bare sqlite)."""

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None

    async def sink(self, request: web.Request) -> web.StreamResponse:
        """Bare WebSocket sink (the ceiling): counts bytes until a text message."""
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        total = 0
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.BINARY:
                total += len(msg.data)
            elif msg.type is aiohttp.WSMsgType.TEXT:
                await ws.send_str(str(total))
        return ws

    async def wspush(self, request: web.Request) -> web.Response:
        body = await request.json()
        total, chunk = int(body["total_bytes"]), int(body["chunk_bytes"])
        bucket = RecordingBucket(body.get("rate_bps"))
        deadline = time.monotonic() + body.get("max_seconds", 1e9)
        payload = os.urandom(chunk)
        assert self.session is not None
        start = time.monotonic()
        async with self.session.ws_connect(body["url"], max_msg_size=0) as ws:
            sent = 0
            while sent < total and time.monotonic() < deadline:
                n = min(chunk, total - sent)
                await bucket.acquire(n)
                await ws.send_bytes(payload if n == chunk else payload[:n])
                sent += n
            await ws.send_str("end")
            received = int(await ws.receive_str())
        elapsed = time.monotonic() - start
        grants = bucket.grants if body.get("rate_bps") else []
        return web.json_response({"elapsed_s": elapsed, "bytes": received, "grants": grants})

    async def sqlitecopy(self, request: web.Request) -> web.Response:
        body = await request.json()
        src, batch = Path(body["path"]), int(body["batch"])
        return web.json_response(await anyio.to_thread.run_sync(_bare_sqlite_copy, src, batch))

    async def run(self) -> None:
        self.session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_get("/sink", self.sink)
        app.router.add_post("/wspush", self.wspush)
        app.router.add_post("/sqlitecopy", self.sqlitecopy)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(json.dumps({"port": runner.addresses[0][1]}), flush=True)
        try:
            await anyio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)
        finally:
            await runner.cleanup()
            await self.session.close()


def _value(kind: str, rng: random.Random, size: int) -> bytes:
    if kind == "random":
        return rng.randbytes(size)
    text = " ".join(rng.choices(WORDS, k=size // 5)) + f" {rng.randrange(10**9)}"
    return text.encode()[:size].ljust(size, b".")


def _bare_sqlite_copy(src: Path, batch: int) -> dict[str, float]:
    """Scan the source file and insert every record into a fresh file (no store code)."""
    dst = src.parent.parent / "bare-copy.sqlite"  # beside the store's data, not in it
    for suffix in ("", "-wal", "-shm"):
        Path(str(dst) + suffix).unlink(missing_ok=True)
    start = time.monotonic()
    rconn = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    wconn = sqlite3.connect(dst, isolation_level=None)
    wconn.execute("PRAGMA page_size = 16384")
    wconn.execute("PRAGMA journal_mode = WAL")
    wconn.execute("PRAGMA synchronous = NORMAL")
    wconn.execute("PRAGMA cache_size = -32768")
    wconn.execute("PRAGMA wal_autocheckpoint = 2048")
    wconn.execute(  # the store's schema (version 2)
        "CREATE TABLE records (lsn INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, value BLOB)"
    )
    cur = rconn.execute("SELECT key, value, lsn FROM records ORDER BY lsn")
    nbytes = 0
    while rows := cur.fetchmany(batch):
        wconn.execute("BEGIN")
        wconn.executemany("INSERT INTO records (key, value, lsn) VALUES (?, ?, ?)", rows)
        wconn.execute("COMMIT")
        nbytes += sum(len(k) + len(v or b"") for k, v, _ in rows)
    rconn.close()
    wconn.close()
    elapsed = time.monotonic() - start
    for suffix in ("", "-wal", "-shm"):
        Path(str(dst) + suffix).unlink(missing_ok=True)
    return {"elapsed_s": elapsed, "bytes": nbytes}


# ------------------------------------------------------------------------- parent side


def _pinned(cmd: list[str], cpus: str | None) -> list[str]:
    if cpus is not None and shutil.which("taskset"):
        return ["taskset", "-c", cpus, *cmd]
    return cmd


class Daemon:
    """One ``edge-actors daemon`` subprocess; ready once it prints its listening line."""

    def __init__(self, name: str, data_dir: Path, cpus: str | None) -> None:
        cmd = [sys.executable, "-m", "edge_actors.cli", "daemon", "--name", name, "--port", "0",
               "--data-dir", str(data_dir), "--log-level", "warning"]  # fmt: skip
        self.name = name
        self.data_dir = data_dir
        self.url = ""
        self.popen = subprocess.Popen(
            _pinned(cmd, cpus),
            stdout=subprocess.PIPE,
            env={**os.environ, "EDGE_ACTORS_CLUSTER_TOKEN": TOKEN},  # never in argv
        )
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            text = line.decode().strip()
            if " listening on " in text:
                self.url = text.rsplit(" ", 1)[1]
                break
        else:
            raise RuntimeError(f"daemon {name} exited with {self.popen.wait()}")

    def store_path(self, workload: str) -> Path:
        return self.data_dir / "workloads" / f"{workload}.sqlite"

    def close(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


class HelperProc:
    """A ``--helper`` subprocess (bare WebSocket push/sink, bare sqlite copy)."""

    def __init__(self, cpus: str | None) -> None:
        cmd = [sys.executable, __file__, "--helper"]
        self.popen = subprocess.Popen(
            _pinned(cmd, cpus), stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self.popen.stdout is not None
        self.url = f"http://127.0.0.1:{json.loads(self.popen.stdout.readline())['port']}"

    def close(self) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.close()
        try:
            self.popen.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


async def call(session: aiohttp.ClientSession, url: str, body: Any = None) -> Any:
    async with session.post(url, json=body) as resp:
        resp.raise_for_status()
        return await resp.json()


def _records(kind: str, total_bytes: int, value_bytes: int, seed: int) -> Iterator[list[Any]]:
    """Batches of ``[key, value]`` of about 16 MiB, ``total_bytes`` of values in all."""
    rng = random.Random(seed)
    n = max(1, total_bytes // value_bytes)
    per = max(1, 16 * MiB // value_bytes)
    for start in range(0, n, per):
        yield [
            [f"rec-{i:09d}", os.urandom(value_bytes) if kind == "random"
             else _value(kind, rng, value_bytes)]
            for i in range(start, min(n, start + per))
        ]  # fmt: skip


async def seed(
    s: aiohttp.ClientSession, admin: AdminClient, edge: Daemon, name: str, kind: str,
    mib: float, value_bytes: int,
) -> dict[str, Any]:  # fmt: skip
    """Create ``name`` on ``edge`` and fill it through the data API's batch endpoint."""
    await admin.create_workload(name)
    url = f"{edge.url}/v1/workloads/{name}/batch"
    for ops in _records(kind, int(mib * MiB), value_bytes, seed=1):
        headers = {"Authorization": f"Bearer {TOKEN}"}  # the data API authenticates too
        async with s.post(url, data=msgspec.msgpack.encode(ops), headers=headers) as resp:
            resp.raise_for_status()
    info: dict[str, Any] = msgspec.to_builtins(await admin.workload(name))
    return info


def spec(b: Daemon, workload: str, transfer: str, link: str, **kw: Any) -> TransferSpec:
    return TransferSpec(
        transfer_id=transfer, migration_id=transfer, workload=workload,
        target_name=link, target_url=b.url, target_token=TOKEN, **kw,
    )  # fmt: skip


async def copy(
    admin_a: AdminClient, admin_b: AdminClient, b: Daemon, workload: str, transfer: str,
    link: str, rate_bps: float | None, **kw: Any,
) -> TransferProgress:  # fmt: skip
    """One daemon-to-daemon transfer of ``workload`` into a fresh ``incoming`` copy on B."""
    await admin_b.create_workload(workload, "incoming")
    await admin_a.set_link_rate(link, rate_bps)
    final = await admin_a.run_transfer(spec(b, workload, transfer, link, **kw))
    assert final.state == "done", final
    return final


def progress_rate_figures(
    lines: list[TransferProgress], rate_bps: float, chunk: int
) -> dict[str, float]:
    """Achieved/target and the worst interval from the sender's progress lines."""
    pts = [(p.elapsed_s, p.sent_wire_bytes) for p in lines if p.state == "running"]
    (t0, b0), (t1, b1) = pts[0], pts[-1]
    worst = 0.0
    for (ta, ba), (tb, bb) in itertools.pairwise(pts):
        if tb - ta >= 0.05:
            worst = max(worst, (bb - ba - chunk) / (rate_bps / 8 * (tb - ta)))
    return {
        "ratio": (b1 - b0) * 8 / (t1 - t0) / rate_bps,
        "window_minus_chunk_x": worst,
        "chunk_bytes": chunk,
        "span_s": t1 - t0,
        "lines": len(pts),
    }


def fmt(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):9.2f}  [{min(values):.2f} .. {max(values):.2f}]"


def rate_figures(
    grants: list[list[float]], rate_bps: float, window_s: float = 0.1
) -> dict[str, float]:
    """Achieved/target from send times (first send excluded) and the worst window."""
    times = [g[0] for g in grants]
    sizes = [g[1] for g in grants]
    span = times[-1] - times[0]
    achieved = sum(sizes[1:]) * 8 / span if span > 0 else float("nan")
    rate_bytes = rate_bps / 8
    worst = 0.0
    j = 0
    window_bytes = 0.0
    for i in range(len(times)):  # windows [t_i, t_i + 100 ms)
        while j < len(times) and times[j] < times[i] + window_s:
            window_bytes += sizes[j]
            j += 1
        worst = max(worst, window_bytes)
        window_bytes -= sizes[i]
    chunk = max(sizes)
    return {
        "ratio": achieved / rate_bps,
        "window_max_x": worst / (rate_bytes * window_s),
        "window_minus_chunk_x": (worst - chunk) / (rate_bytes * window_s),
        "chunk_bytes": chunk,
        "span_s": span,
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    placement = {"split": ("0", "1"), "same": ("0", "0"), "none": (None, None)}[args.placement]
    tmp = Path(tempfile.mkdtemp(prefix="edge-transfer-bench-", dir=args.tmp_dir))
    a = Daemon("edge-a", tmp / "a", placement[0])
    b = Daemon("edge-b", tmp / "b", placement[1])
    ha, hb = HelperProc(placement[0]), HelperProc(placement[1])
    rss = RssSampler({"A": a.popen.pid, "B": b.popen.pid})
    timeout = aiohttp.ClientTimeout(total=None)
    out: dict[str, Any] = {}
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as s,
            AdminClient(a.url, TOKEN, session=s, timeout=600) as admin_a,
            AdminClient(b.url, TOKEN, session=s, timeout=600) as admin_b,
        ):
            print(f"placement: {args.placement} (A cpus={placement[0]}, B cpus={placement[1]})")
            print(f"daemons: A {a.url} pid {a.popen.pid}, B {b.url} pid {b.popen.pid}")
            t0 = time.monotonic()
            big = await seed(s, admin_a, a, "big", "random", args.size_mib, args.value_bytes)
            print(
                f"seeded 'big' on A: {big['records']} records, {big['bytes'] / MiB:.0f} MiB "
                f"logical in {time.monotonic() - t0:.1f}s"
            )

            # --- copy vs ceiling -----------------------------------------------------
            copies, pushes, sqls, rss_a, rss_b = [], [], [], [], []
            cpu_a: list[float] = []
            cpu_b: list[float] = []
            sink = hb.url.replace("http", "ws") + "/sink"
            for run in range(args.runs):
                push = await call(
                    s,
                    ha.url + "/wspush",
                    {"url": sink, "total_bytes": big["bytes"],
                     "chunk_bytes": args.batch_size * args.value_bytes},
                )  # fmt: skip
                pushes.append(push["bytes"] / push["elapsed_s"] / MiB)
                sq = await call(
                    s, ha.url + "/sqlitecopy",
                    {"path": str(a.store_path("big")), "batch": args.batch_size},
                )  # fmt: skip
                sqls.append(sq["bytes"] / sq["elapsed_s"] / MiB)
                rss.reset()
                cpu_a0, cpu_b0 = rss.cpu_s("A"), rss.cpu_s("B")
                res = await copy(
                    admin_a, admin_b, b, "big", f"copy-{run}", "edge-b", None,
                    compression=False, batch_size=args.batch_size, window=args.window,
                )  # fmt: skip
                rss_a.append(rss.peak["A"] / MiB)
                rss_b.append(rss.peak["B"] / MiB)
                cpu_a.append(100 * (rss.cpu_s("A") - cpu_a0) / res.elapsed_s)
                cpu_b.append(100 * (rss.cpu_s("B") - cpu_b0) / res.elapsed_s)
                got = await admin_b.workload("big")
                assert got.digest == big["digest"], "copy digest mismatch"
                copies.append(big["bytes"] / res.elapsed_s / MiB)
                await admin_b.drop_workload("big", forget=True)
                print(
                    f"run {run}: copy {copies[-1]:.1f} MiB/s, ws push {pushes[-1]:.1f} MiB/s, "
                    f"bare sqlite {sqls[-1]:.1f} MiB/s, peak RSS A {rss_a[-1]:.0f} MiB "
                    f"B {rss_b[-1]:.0f} MiB, CPU A {cpu_a[-1]:.0f}% B {cpu_b[-1]:.0f}%"
                )
            ratios = [c / min(p, q) for c, p, q in zip(copies, pushes, sqls, strict=True)]
            await admin_a.drop_workload("big", forget=True)

            # --- compression ---------------------------------------------------------
            comp = await seed(s, admin_a, a, "text", "text", args.comp_mib, args.value_bytes)
            effs, comp_ratios = [], []
            link = 100e6
            for run in range(args.runs):
                p = await copy(
                    admin_a, admin_b, b, "text", f"comp-{run}", "edge-b-100m", link,
                    compression=True, batch_size=args.batch_size, window=args.window,
                )  # fmt: skip
                got = await admin_b.workload("text")
                assert got.digest == comp["digest"], "compressed copy digest mismatch"
                ratio = p.raw_bytes / p.wire_bytes
                logical = p.raw_bytes * 8 / p.elapsed_s
                effs.append(logical / (ratio * link))
                comp_ratios.append(ratio)
                await admin_b.drop_workload("text", forget=True)
                print(
                    f"run {run}: 100 Mbps link, compressible: ratio {ratio:.2f}, logical "
                    f"{logical / 1e6:.0f} Mbps, efficiency {effs[-1]:.3f}"
                )
            await seed(s, admin_a, a, "rand", "random", min(32, args.size_mib), args.value_bytes)
            rp = await copy(
                admin_a, admin_b, b, "rand", "rand", "edge-b", None,
                compression=True, batch_size=args.batch_size,
            )  # fmt: skip
            await admin_b.drop_workload("rand", forget=True)
            cp_raw = comp["bytes"]

            # --- rate accuracy -------------------------------------------------------
            # One transfer must outlast --rate-seconds at the highest rate.
            rv = args.rate_value_bytes
            rate_mib = args.rate_mib or max(args.rates) * 1e6 / 8 * args.rate_seconds * 1.15 / MiB
            t0 = time.monotonic()
            await seed(s, admin_a, a, "ratebig", "random", rate_mib, rv)
            print(
                f"seeded 'ratebig': {rate_mib:.0f} MiB of {rv} B values "
                f"in {time.monotonic() - t0:.1f}s"
            )
            rates: dict[str, dict[str, float]] = {}
            for mbps in args.rates:
                rate = mbps * 1e6
                chunk_records = max(1, int(rate / 8 * args.rate_chunk_ms / 1000 / rv))
                name = f"edge-b-{mbps}m"
                await admin_b.create_workload("ratebig", "incoming")
                await admin_a.set_link_rate(name, rate)
                lines: list[TransferProgress] = []
                rspec = spec(b, "ratebig", f"rate-{mbps}", name, compression=False,
                             batch_size=chunk_records, window=args.window)  # fmt: skip
                async with aclosing(admin_a.transfer(rspec)) as stream:
                    async for progress in stream:
                        lines.append(progress)
                        if progress.elapsed_s >= args.rate_seconds:
                            break  # closing the stream cancels the transfer
                fig = progress_rate_figures(lines, rate, chunk_records * (rv + 40))
                rates[str(mbps)] = fig
                await anyio.sleep(0.5)  # let B finish the cancelled stream
                await admin_b.drop_workload("ratebig", forget=True)
                print(
                    f"rate {mbps:5d} Mbps: achieved/target {fig['ratio']:.4f}, worst progress "
                    f"interval minus one {fig['chunk_bytes'] / 1024:.0f} KiB chunk "
                    f"{fig['window_minus_chunk_x']:.3f}x over {fig['span_s']:.1f}s "
                    f"({fig['lines']:.0f} lines)"
                )

            # The same limiter over a bare WebSocket push (helpers, no store).
            bare_rates: dict[str, dict[str, float]] = {}
            for mbps in args.rates:
                rate = mbps * 1e6
                chunk = max(1024, int(rate / 8 * args.rate_chunk_ms / 1000))
                res = await call(
                    s,
                    ha.url + "/wspush",
                    {"url": sink, "total_bytes": 1 << 50, "chunk_bytes": chunk,
                     "rate_bps": rate, "max_seconds": args.rate_seconds},
                )  # fmt: skip
                fig = rate_figures(res["grants"], rate)
                bare_rates[str(mbps)] = fig
                print(
                    f"bare ws {mbps:5d} Mbps: achieved/target {fig['ratio']:.4f}, worst 100 ms "
                    f"window {fig['window_max_x']:.3f}x ({fig['window_minus_chunk_x']:.3f}x "
                    f"minus one {fig['chunk_bytes'] / 1024:.0f} KiB chunk)"
                )

        print()
        print(f"{'figure':<34}{'median':>9}  [min .. max] over {args.runs} run(s)")
        print(f"{'copy MiB/s (store->store, raw)':<34}{fmt(copies)}")
        print(f"{'ws push MiB/s (no store)':<34}{fmt(pushes)}")
        print(f"{'bare sqlite copy MiB/s (no net)':<34}{fmt(sqls)}")
        print(f"{'copy_vs_ceiling':<34}{fmt(ratios)}")
        print(f"{'compressed_link_efficiency':<34}{fmt(effs)}")
        print(f"{'compression ratio (text)':<34}{fmt(comp_ratios)}")
        print(f"{'peak RSS A (sender) MiB':<34}{fmt(rss_a)}")
        print(f"{'peak RSS B (receiver) MiB':<34}{fmt(rss_b)}")
        print(f"{'CPU % A (sender) during copy':<34}{fmt(cpu_a)}")
        print(f"{'CPU % B (receiver) during copy':<34}{fmt(cpu_b)}")
        print(
            f"random records: raw {rp.raw_bytes} B, wire {rp.wire_bytes} B, ratio "
            f"{rp.raw_bytes / rp.wire_bytes:.3f}; compressible: logical {cp_raw} B, "
            f"ratio {statistics.median(comp_ratios):.2f}"
        )
        out = {
            "copy_vs_ceiling": round(statistics.median(ratios), 3),
            "copy_vs_ceiling_min": round(min(ratios), 3),
            "copy_mib_s": round(statistics.median(copies), 1),
            "ceiling_mib_s": round(
                statistics.median([min(p, q) for p, q in zip(pushes, sqls, strict=True)]), 1
            ),
            "compressed_link_efficiency": round(statistics.median(effs), 3),
            "compressed_link_efficiency_min": round(min(effs), 3),
            "compression_ratio_text": round(statistics.median(comp_ratios), 2),
            "compression_ratio_random": round(rp.raw_bytes / rp.wire_bytes, 3),
            "rate_ratio_min": round(min(f["ratio"] for f in rates.values()), 4),
            "rate_ratio_max": round(max(f["ratio"] for f in rates.values()), 4),
            "window_overshoot_max": round(
                max(f["window_minus_chunk_x"] for f in rates.values()), 3
            ),
            "rate_ratio_bare_ws_min": round(min(f["ratio"] for f in bare_rates.values()), 4),
            "rate_ratio_bare_ws_max": round(max(f["ratio"] for f in bare_rates.values()), 4),
            "window_overshoot_bare_ws_max": round(
                max(f["window_minus_chunk_x"] for f in bare_rates.values()), 3
            ),
            "peak_rss_mib": round(max(rss_a + rss_b), 1),
            "peak_rss_mib_sender": round(max(rss_a), 1),
            "peak_rss_mib_receiver": round(max(rss_b), 1),
            "cpu_pct_sender": round(statistics.median(cpu_a), 1),
            "cpu_pct_receiver": round(statistics.median(cpu_b), 1),
            "rates": {k: {kk: round(vv, 4) for kk, vv in v.items()} for k, v in rates.items()},
            "size_mib": args.size_mib,
            "value_bytes": args.value_bytes,
            "runs": args.runs,
            "placement": args.placement,
            "processes": "edge-actors daemon A (sender), B (receiver); helpers for ceilings",
        }
    finally:
        rss.stop()
        for proc in (a, b, ha, hb):
            proc.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--helper", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size-mib", type=float, default=1024)
    parser.add_argument("--value-bytes", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--comp-mib", type=float, default=128)
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument("--rates", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--rate-chunk-ms", type=float, default=10.0,
                        help="chunk size in the rate test, as ms of the rate")  # fmt: skip
    parser.add_argument("--rate-value-bytes", type=int, default=64 * 1024,
                        help="value size of the rate-test workload")  # fmt: skip
    parser.add_argument("--rate-mib", type=float, default=None,
                        help="rate-test workload size (default: one round's worth)")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--placement", choices=["split", "same", "none"], default="split")
    parser.add_argument("--tmp-dir", default=None)
    args = parser.parse_args()
    if args.helper:
        try:
            import uvloop
        except ImportError:  # pragma: no cover
            asyncio.run(Helper().run())
        else:
            uvloop.run(Helper().run())
        return
    result = asyncio.run(bench(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
