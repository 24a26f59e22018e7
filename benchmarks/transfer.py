"""Benchmark of edge_actors.transfer between two edge-like PROCESSES on loopback.

The parent spawns two child processes (``--node``), each a small aiohttp server with the
real ``/peer/stream`` (``serve_peer_stream`` over a real ``StoreRegistry``) and a control
API. Node A holds the source workloads and runs ``run_transfer``; node B receives. By
default A is pinned to CPU 0 and B to CPU 1 (``--placement split``); ``same`` pins both
to CPU 0, ``none`` does not pin.

Measured, in one run:

* copy: a large incompressible workload (``--size-mib`` of ``--value-bytes`` values)
  store to store without compression, logical MiB/s, beside a ceiling measured in the
  same run = min(bare aiohttp WebSocket push of the same bytes A -> B, no store;
  bare sqlite3 scan of A's file inserted into a fresh file with the store's schema and
  pragmas, one commit per batch, no network) -> ``copy_vs_ceiling`` (goal >= 0.6);
* compression on a 100 Mbps link with compressible records: logical throughput /
  (compression ratio x link rate) -> ``compressed_link_efficiency`` (goal >= 0.9);
* rate-limit accuracy at 10/100/1000 Mbps for ``--rate-seconds``: achieved / target from
  the sender's chunk send times (first send excluded), and the worst 100 ms window minus
  one chunk over the target -> ``rate_ratio_min/max`` (goal 0.97..1.03),
  ``window_overshoot_max`` (goal <= 1.1);
* peak RSS of each process during the copy -> ``peak_rss_mib`` (goal <= 200 MiB);
* compression ratio and wire bytes for compressible vs random records.

The last line printed is one JSON object with the headline figures.

Usage::

    python benchmarks/transfer.py --size-mib 128 --runs 3 --rate-seconds 3   # quick
    python benchmarks/transfer.py                                            # 1 GiB
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
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
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import msgspec
import psutil
import structlog
from aiohttp import web

from edge_actors.store import StoreRegistry, WorkloadNotFound, WorkloadStore
from edge_actors.transfer import (
    TokenBucket,
    TransferSpec,
    peer_ws_max_msg_size,
    run_transfer,
    serve_peer_stream,
)

TOKEN = "bench-token"
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
    """Samples this process's RSS every 20 ms in a thread; keeps the peak."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def reset(self) -> None:
        self.peak = self.proc.memory_info().rss

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _value(kind: str, rng: random.Random, size: int) -> bytes:
    if kind == "random":
        return rng.randbytes(size)
    text = " ".join(rng.choices(WORDS, k=size // 5)) + f" {rng.randrange(10**9)}"
    return text.encode()[:size].ljust(size, b".")


class Node:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.registry: StoreRegistry | None = None
        self.rss = RssSampler()
        self.session: aiohttp.ClientSession | None = None

    @property
    def reg(self) -> StoreRegistry:
        assert self.registry is not None
        return self.registry

    async def resolve(self, workload: str, migration_id: str) -> WorkloadStore:
        try:
            return self.reg.get(migration_id)
        except WorkloadNotFound:
            return await self.reg.create(migration_id)

    async def peer_stream(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            raise web.HTTPUnauthorized()
        ws = web.WebSocketResponse(max_msg_size=peer_ws_max_msg_size())
        await ws.prepare(request)
        await serve_peer_stream(ws, resolve_store=self.resolve)
        return ws

    async def sink(self, request: web.Request) -> web.StreamResponse:
        """Bare WebSocket sink (the ceiling): counts bytes until a text message."""
        ws = web.WebSocketResponse(max_msg_size=peer_ws_max_msg_size())
        await ws.prepare(request)
        total = 0
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.BINARY:
                total += len(msg.data)
            elif msg.type is aiohttp.WSMsgType.TEXT:
                await ws.send_str(str(total))
        return ws

    async def fill(self, request: web.Request) -> web.Response:
        body = await request.json()
        name, kind = body["name"], body["kind"]
        value_bytes, total = int(body["value_bytes"]), int(body["mib"] * MiB)
        if name in self.reg:
            await self.reg.drop(name)
        store = await self.reg.create(name)
        rng = random.Random(body.get("seed", 1))
        n = max(1, total // value_bytes)
        for start in range(0, n, 1000):
            ops: list[tuple[str, bytes | None]] = [
                (f"rec-{i:09d}", _value(kind, rng, value_bytes))
                for i in range(start, min(n, start + 1000))
            ]
            await store.write_batch(ops)
        return web.json_response(msgspec.to_builtins(await store.stats()))

    async def drop(self, request: web.Request) -> web.Response:
        name = (await request.json())["name"]
        if name in self.reg:
            await self.reg.drop(name)
        return web.json_response({})

    async def stats(self, request: web.Request) -> web.Response:
        name = request.query["name"]
        return web.json_response(msgspec.to_builtins(await self.reg.get(name).stats()))

    async def rss_reset(self, request: web.Request) -> web.Response:
        self.rss.reset()
        return web.json_response({"rss": self.rss.peak})

    async def rss_peak(self, request: web.Request) -> web.Response:
        cpu = self.rss.proc.cpu_times()
        return web.json_response({"peak": self.rss.peak, "cpu_s": cpu.user + cpu.system})

    async def transfer(self, request: web.Request) -> web.Response:
        body = await request.json()
        spec = msgspec.convert(body["spec"], TransferSpec)
        bucket = RecordingBucket(body.get("rate_bps"))
        store = self.reg.get(spec.workload)
        max_seconds = body.get("max_seconds")
        progresses: list[Any] = []
        start = time.monotonic()
        rounds = 0
        with anyio.move_on_after(max_seconds):
            # With max_seconds, repeat the copy to fresh targets until the time is up.
            while True:
                rounds += 1
                round_spec = msgspec.structs.replace(
                    spec, migration_id=f"{spec.migration_id}-{rounds}"
                )
                progresses.append(
                    await run_transfer(
                        round_spec,
                        store,
                        limiter=bucket,
                        session=self.session,
                        on_progress=progresses.append if max_seconds else None,
                    )
                )
                if max_seconds is None:
                    break
        elapsed = time.monotonic() - start
        final = progresses[-1]
        return web.json_response(
            {
                "elapsed_s": elapsed,
                "progress": msgspec.to_builtins(final),
                "rounds": rounds,
                "grants": bucket.grants if body.get("want_grants") else [],
            }
        )

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
        src = self.reg.path_of(body["name"])
        batch = int(body["batch"])
        return web.json_response(await anyio.to_thread.run_sync(_bare_sqlite_copy, src, batch))

    async def run(self) -> None:
        self.registry = await StoreRegistry.open(self.data_dir)
        self.session = aiohttp.ClientSession()
        app = web.Application(client_max_size=64 * MiB)
        app.router.add_get("/peer/stream", self.peer_stream)
        app.router.add_get("/sink", self.sink)
        for path, handler in (
            ("/fill", self.fill),
            ("/drop", self.drop),
            ("/transfer", self.transfer),
            ("/wspush", self.wspush),
            ("/sqlitecopy", self.sqlitecopy),
            ("/rss/reset", self.rss_reset),
        ):
            app.router.add_post(path, handler)
        app.router.add_get("/stats", self.stats)
        app.router.add_get("/rss", self.rss_peak)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        print(json.dumps({"port": port}), flush=True)
        try:
            # Run until the parent closes our stdin.
            await anyio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)
        finally:
            await runner.cleanup()
            await self.session.close()
            await self.registry.close()
            self.rss.stop()


def _bare_sqlite_copy(src: Path, batch: int) -> dict[str, float]:
    """Scan the source file and insert every record into a fresh file (no store code)."""
    dst = src.with_name("bare-copy.sqlite")
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
    wconn.execute(
        "CREATE TABLE records (key TEXT PRIMARY KEY NOT NULL, value BLOB, lsn INTEGER NOT NULL)"
    )
    wconn.execute("CREATE INDEX records_lsn ON records (lsn)")
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


class Proc:
    def __init__(self, name: str, data_dir: Path, cpus: str | None) -> None:
        cmd = [sys.executable, __file__, "--node", "--data-dir", str(data_dir)]
        if cpus is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", cpus, *cmd]
        self.name = name
        self.popen = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.popen.stdout is not None
        line = self.popen.stdout.readline()
        self.port = json.loads(line)["port"]
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.close()
        try:
            self.popen.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


async def call(session: aiohttp.ClientSession, url: str, body: Any = None) -> Any:
    if body is None:
        async with session.get(url) as resp:
            resp.raise_for_status()
            return await resp.json()
    async with session.post(url, json=body) as resp:
        resp.raise_for_status()
        return await resp.json()


def spec(b: Proc, workload: str, migration: str, **kw: Any) -> dict[str, Any]:
    return msgspec.to_builtins(
        TransferSpec(
            transfer_id=migration,
            migration_id=migration,
            workload=workload,
            target_name="edge-b",
            target_url=b.url,
            target_token=TOKEN,
            **kw,
        )
    )


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
    window_bytes = 0
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
    a = Proc("A", tmp / "a", placement[0])
    b = Proc("B", tmp / "b", placement[1])
    timeout = aiohttp.ClientTimeout(total=None)
    out: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession(timeout=timeout) as s:
            print(f"placement: {args.placement} (A cpus={placement[0]}, B cpus={placement[1]})")
            t0 = time.monotonic()
            big = await call(
                s,
                a.url + "/fill",
                {"name": "big", "mib": args.size_mib, "value_bytes": args.value_bytes,
                 "kind": "random"},
            )  # fmt: skip
            print(
                f"filled 'big': {big['records']} records, {big['bytes'] / MiB:.0f} MiB logical "
                f"in {time.monotonic() - t0:.1f}s"
            )

            # --- copy vs ceiling -----------------------------------------------------
            copies, pushes, sqls, rss_a, rss_b = [], [], [], [], []
            cpu_a: list[float] = []
            cpu_b: list[float] = []
            for run in range(args.runs):
                push = await call(
                    s,
                    a.url + "/wspush",
                    {"url": b.url + "/sink", "total_bytes": big["bytes"],
                     "chunk_bytes": args.batch_size * args.value_bytes},
                )  # fmt: skip
                pushes.append(push["bytes"] / push["elapsed_s"] / MiB)
                sq = await call(s, a.url + "/sqlitecopy", {"name": "big", "batch": args.batch_size})
                sqls.append(sq["bytes"] / sq["elapsed_s"] / MiB)
                await call(s, a.url + "/rss/reset", {})
                await call(s, b.url + "/rss/reset", {})
                cpu_a0 = (await call(s, a.url + "/rss"))["cpu_s"]
                cpu_b0 = (await call(s, b.url + "/rss"))["cpu_s"]
                target = f"copy-{run}"
                res = await call(
                    s,
                    a.url + "/transfer",
                    {"spec": spec(b, "big", target, compression=False,
                                  batch_size=args.batch_size, window=args.window)},
                )  # fmt: skip
                end_a, end_b = await call(s, a.url + "/rss"), await call(s, b.url + "/rss")
                rss_a.append(end_a["peak"] / MiB)
                rss_b.append(end_b["peak"] / MiB)
                cpu_a.append(100 * (end_a["cpu_s"] - cpu_a0) / res["elapsed_s"])
                cpu_b.append(100 * (end_b["cpu_s"] - cpu_b0) / res["elapsed_s"])
                got = await call(s, b.url + f"/stats?name={target}-1")
                assert got["digest"] == big["digest"], "copy digest mismatch"
                copies.append(big["bytes"] / res["elapsed_s"] / MiB)
                await call(s, b.url + "/drop", {"name": f"{target}-1"})
                print(
                    f"run {run}: copy {copies[-1]:.1f} MiB/s, ws push {pushes[-1]:.1f} MiB/s, "
                    f"bare sqlite {sqls[-1]:.1f} MiB/s, peak RSS A {rss_a[-1]:.0f} MiB "
                    f"B {rss_b[-1]:.0f} MiB, CPU A {cpu_a[-1]:.0f}% B {cpu_b[-1]:.0f}%"
                )
            ratios = [c / min(p, q) for c, p, q in zip(copies, pushes, sqls, strict=True)]

            # --- compression ---------------------------------------------------------
            comp = await call(
                s,
                a.url + "/fill",
                {"name": "text", "mib": args.comp_mib, "value_bytes": args.value_bytes,
                 "kind": "text"},
            )  # fmt: skip
            effs, comp_ratios = [], []
            link = 100e6
            for run in range(args.runs):
                res = await call(
                    s,
                    a.url + "/transfer",
                    {"spec": spec(b, "text", f"comp-{run}", compression=True,
                                  batch_size=args.batch_size, window=args.window),
                     "rate_bps": link},
                )  # fmt: skip
                p = res["progress"]
                got = await call(s, b.url + f"/stats?name=comp-{run}-1")
                assert got["digest"] == comp["digest"], "compressed copy digest mismatch"
                ratio = p["raw_bytes"] / p["wire_bytes"]
                logical = p["raw_bytes"] * 8 / res["elapsed_s"]
                effs.append(logical / (ratio * link))
                comp_ratios.append(ratio)
                await call(s, b.url + "/drop", {"name": f"comp-{run}-1"})
                print(
                    f"run {run}: 100 Mbps link, compressible: ratio {ratio:.2f}, logical "
                    f"{logical / 1e6:.0f} Mbps, efficiency {effs[-1]:.3f}"
                )
            await call(
                s,
                a.url + "/fill",
                {"name": "rand", "mib": min(32, args.size_mib), "value_bytes": args.value_bytes,
                 "kind": "random"},
            )  # fmt: skip
            rnd = await call(
                s,
                a.url + "/transfer",
                {"spec": spec(b, "rand", "rand", compression=True, batch_size=args.batch_size)},
            )
            rp = rnd["progress"]
            cp_raw = comp["bytes"]

            # --- rate accuracy -------------------------------------------------------
            # One round must outlast --rate-seconds at the highest rate (no reconnect gaps).
            rv = args.rate_value_bytes
            rate_mib = args.rate_mib or max(args.rates) * 1e6 / 8 * args.rate_seconds * 1.15 / MiB
            t0 = time.monotonic()
            await call(
                s,
                a.url + "/fill",
                {"name": "ratebig", "mib": rate_mib, "value_bytes": rv, "kind": "random"},
            )
            print(
                f"filled 'ratebig': {rate_mib:.0f} MiB of {rv} B values "
                f"in {time.monotonic() - t0:.1f}s"
            )
            rate_wl = "ratebig"
            rates: dict[str, dict[str, float]] = {}
            for mbps in args.rates:
                rate = mbps * 1e6
                chunk_records = max(1, int(rate / 8 * args.rate_chunk_ms / 1000 / rv))
                res = await call(
                    s,
                    a.url + "/transfer",
                    {"spec": spec(b, rate_wl, f"rate-{mbps}", compression=False,
                                  batch_size=chunk_records, window=args.window),
                     "rate_bps": rate, "max_seconds": args.rate_seconds, "want_grants": True},
                )  # fmt: skip
                fig = rate_figures(res["grants"], rate)
                fig["rounds"] = res["rounds"]
                rates[str(mbps)] = fig
                for r in range(1, res["rounds"] + 1):
                    await call(s, b.url + "/drop", {"name": f"rate-{mbps}-{r}"})
                print(
                    f"rate {mbps:5d} Mbps: achieved/target {fig['ratio']:.4f}, worst 100 ms "
                    f"window {fig['window_max_x']:.3f}x ({fig['window_minus_chunk_x']:.3f}x "
                    f"minus one {fig['chunk_bytes'] / 1024:.0f} KiB chunk) over "
                    f"{fig['span_s']:.1f}s, {res['rounds']} round(s)"
                )

            # The same limiter over a bare WebSocket push (no store): the limiter alone.
            bare_rates: dict[str, dict[str, float]] = {}
            for mbps in args.rates:
                rate = mbps * 1e6
                chunk = max(1024, int(rate / 8 * args.rate_chunk_ms / 1000))
                res = await call(
                    s,
                    a.url + "/wspush",
                    {"url": b.url + "/sink", "total_bytes": 1 << 50, "chunk_bytes": chunk,
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
            f"random records: raw {rp['raw_bytes']} B, wire {rp['wire_bytes']} B, ratio "
            f"{rp['raw_bytes'] / rp['wire_bytes']:.3f}; compressible: logical {cp_raw} B, "
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
            "compression_ratio_random": round(rp["raw_bytes"] / rp["wire_bytes"], 3),
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
            "cpu_pct_sender": round(statistics.median(cpu_a), 1),
            "cpu_pct_receiver": round(statistics.median(cpu_b), 1),
            "rates": {k: {kk: round(vv, 4) for kk, vv in v.items()} for k, v in rates.items()},
            "size_mib": args.size_mib,
            "value_bytes": args.value_bytes,
            "runs": args.runs,
            "placement": args.placement,
        }
    finally:
        a.close()
        b.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--node", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
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
    if args.node:
        # Child: logs to stderr (stdout carries the port line), warnings and up only.
        structlog.configure(
            wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
            logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        )
        try:
            import uvloop
        except ImportError:  # pragma: no cover
            asyncio.run(Node(args.data_dir).run())
        else:
            uvloop.run(Node(args.data_dir).run())
        return
    result = asyncio.run(bench(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
