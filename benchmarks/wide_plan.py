"""Benchmark: one wide plan of many workloads against the same workloads as queued plans.

Placement: two ``edge-actors daemon`` subprocesses (``edge-west``, ``edge-east``) on
127.0.0.1; this process seeds them, runs the writer and hosts the migration supervisor
(``MigrationService`` + journal, default ``max_concurrent`` 2, ``parallel_transfers`` 2
and ``link_transfers`` 4; 50 restarts a minute allowed, see ``_RESTART``).

1. Twice ``--workloads`` workloads of ``--mb`` MB each (``--value-bytes`` random,
   incompressible values; the two sets alike) are seeded on west: one set for the wide
   plan, one for the queued plans (a moved workload cannot be migrated back).
2. A writer runs from then on (``--write-rate`` writes/s, 8 clients, ~100-byte values on
   hot keys of every workload of the set being migrated in turn; ``EdgeClient`` follows
   the moves). ``write_max_latency_ms`` is its slowest write; per side,
   ``slow_writes_count`` counts its writes over 60 ms and ``slow_writes`` keeps the first
   50, each with how late this process's loop ran meanwhile, how long after its
   workload's cutover call began it ended, and what the machine did meanwhile
   (``cpu_waits``, as for a hold in step 5).
3. **Wide**: one live plan west -> east of every workload, ``max_downtime``
   ``--budget-ms``. Measured: total time from ``execute`` to ``completed``, every
   cutover's hold (``downtime_ms`` of each workload and ``downtime_worst_ms`` of any
   attempt), the attempts whose hold exceeded the budget (undone ones included; undone
   attempts are also counted apart), the run's peak transfers
   at once, peak RSS of each daemon (psutil, sampled every 50 ms).
4. **Queued**: the other set west -> east as one plan each, all executed at once (the
   service queues them, ``max_concurrent`` 2). Same figures.
7. **Order.** The side that runs second on the same pair of daemons was measured 5-11 %
   slower (medians) than when it ran first, whichever side it was (session 9,
   ``docs/benchmarks.md``).
   So by default (``--order both``) steps 1-6 run twice, on fresh daemons each time: the
   wide side first, then the queued side first. ``wide_vs_queued_time`` is the summed wide
   time over the summed queued time; each pair's own ratio is in
   ``wide_vs_queued_by_order`` and its figures under ``pairs`` (``order`` says which ran
   first). ``--order wide-first`` / ``queued-first`` runs one pair.
5. Per side also: the cutovers' steps inside the hold (``steps_ms``: median, 90th
   percentile and max of each step over the cutovers that completed, from their answers;
   a ``kept`` step is the call that found a cut activation durable, so the cutover
   flipped late: ``kept_after_cut`` counts them), the steps of each hold over the budget
   (``late_holds``, with its ``held_ms`` and ``outcome``: a ``kept`` step, or an
   ``activate`` past its cut, says why; an undone attempt says what its source answered),
   what kept the daemons from the CPU during each hold (``cpu_waits``: the machine's steal
   time, each daemon's event-loop thread's run-queue wait, the most tasks runnable at
   once, the machine's I/O pressure, ``io_some_ms`` / ``io_full_ms`` from
   ``/proc/pressure/io``; sampled every 5 ms by a thread here; ``cpu_waits_ms``: their median, 90th
   percentile and max over every hold of the side), and how background copies gave way to holds
   (``yield_pauses``, ``yield_s``: ``edge_transfer_yield_*`` of both daemons over the
   side), and the HTTP requests each daemon served during the side by route
   (``requests``: the writer's and the migrations' calls, ``edge_http_requests_total``).
8. ``--prior-workloads N``: before the daemons start, each edge's data directory gets the
   routes and epochs of N other workloads that passed through it (``moved`` to the other
   edge, fenced at an epoch, with what their activation confirmed), as a state file of
   session 17 (``routing.state``, ``epochs.state``: read by that code as they are, and
   imported by later code), so that the cutovers run on edges that know many workloads.
6. ``wire_bytes_error``: over both, ``|sum of the migrations' bytes_wire - what the
   daemons' own transfer counters say they put on the wire|`` over the latter
   (``edge_transfer_sent_bytes_total`` of both daemons, scraped before and after).

Before each side the daemons are left to settle (the writer paused) until each used under
20 % of a CPU for half a second (``settle_s``), so neither side is charged with what the
one before left running. Then, the writer still paused, ``calibration_ms``: how long a
fixed pure-Python workload takes this process (the fastest of 5), which rises when the
machine slows down (other jobs, the host): in session 10 the same code's sides took 25 %
more daemon CPU an hour apart. Per side also: CPU seconds of each daemon (``cpu_s``, user +
system from ``/proc``: barely moved by other jobs on a shared machine, unlike wall time)
and where it went (``cpu_parts``: user and system seconds, the event loop's thread
against the worker threads, context switches voluntary and involuntary), the summed
phase times of its migrations (``phase_s``), the source's chunks zstd was tried on and
skipped (``zstd_chunks``, from ``edge_transfer_compression_chunks_total``;
``None`` on a daemon without it), and what each daemon's peak RSS
was made of (``peak_rss_parts_mib``: anonymous memory against file-backed and shared
pages, from ``/proc/PID/smaps_rollup``, and its thread count); ``rss_after_seed_mib`` is
each daemon's RSS once seeded. ``--parallel-transfers`` / ``--link-transfers`` set the wide
plan's constraint and the service's setting (engine defaults otherwise).

Prints a table per pair and one JSON line last. ``run_orders`` is what
``benchmarks/scale.py`` calls.

    python benchmarks/wide_plan.py --workloads 100 --mb 10 --budget-ms 50
    python benchmarks/wide_plan.py --workloads 10 --mb 1     # a quick run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import tempfile
import threading
import time
from collections import Counter, deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import psutil
from live_migration import TOKEN, _start_daemon, _stop_daemon  # sibling benchmark

from edge_actors.edge import AdminClient, EdgeClient, EdgeEndpoint, HttpEdgeGateway, Topology
from edge_actors.edge._state_file import StateFile
from edge_actors.migration import (
    EdgeUnreachable,
    MigrationMetrics,
    MigrationService,
    RestartPolicy,
    ServiceDefaults,
)

if TYPE_CHECKING:
    from edge_actors.migration._gateway import CutoverResult, CutoverSpec

__all__ = ["ORDERS", "SUMMARY_KEYS", "run_orders", "run_wide", "summary", "table", "tables"]

SUMMARY_KEYS = (
    "wide_plan_workloads",
    "wide_plan_mb_each",
    "wide_plan_max_hold_ms",
    "wide_plan_budget_ms",
    "wide_plan_holds_over_budget",
    "wide_plan_peak_rss_mib",
    "wide_plan_time_s",
    "queued_plans_time_s",
    "queued_plans_max_hold_ms",
    "queued_plans_peak_rss_mib",
    "wide_vs_queued_time",
    "wide_vs_queued_by_order",
    "wire_bytes_error",
    "wide_plan_write_errors",
    "wide_plan_peak_transfers",
)
"""The keys :func:`summary` gives ``benchmarks/scale.py``'s JSON line."""

_SENT = re.compile(r"^edge_transfer_sent_bytes_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)
_ZSTD = re.compile(
    r'^edge_transfer_compression_chunks_total\{[^}]*outcome="(\w+)"[^}]*\} ([0-9.e+]+)$',
    re.MULTILINE,
)
_PAUSES = re.compile(r"^edge_transfer_yield_pauses_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)
_PAUSED_S = re.compile(r"^edge_transfer_yield_seconds_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)


def _io_pressure() -> dict[str, float]:
    """The machine's I/O pressure so far (``/proc/pressure/io``, microseconds summed into
    ms): ``io_some_ms``, time some task waited for I/O; ``io_full_ms``, time every task
    that could run waited for it. Empty without pressure stall information."""
    try:
        text = Path("/proc/pressure/io").read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        kind, *fields = line.split()
        total = dict(field.split("=", 1) for field in fields).get("total")
        if total is not None:
            out[f"io_{kind}_ms"] = int(total) / 1000
    return out


class _CpuWaits:
    """Samples, every ``interval_s`` in a thread of its own, what kept the daemons' event
    loops from the CPU: the machine's steal time (``/proc/stat``: the hypervisor ran
    something else; 10 ms ticks), the run-queue wait of each daemon's loop thread (its
    ``schedstat``, nanoseconds: runnable, not running) and the tasks runnable at the
    sample (``procs_running``), and the machine's I/O pressure (:func:`_io_pressure`).
    :meth:`window` sums them over a recent stretch of time, such as a cutover's hold or a
    slow write, so either can be set beside what the machine was doing meanwhile."""

    def __init__(self, pids: dict[str, int], interval_s: float = 0.005) -> None:
        self.pids, self.interval_s = pids, interval_s
        self._tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
        self._samples: deque[tuple[float, dict[str, float]]] = deque(maxlen=8192)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-waits", daemon=True)

    async def __aenter__(self) -> _CpuWaits:
        self._thread.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await anyio.to_thread.run_sync(self._thread.join)

    def _read(self) -> dict[str, float]:
        stat = Path("/proc/stat").read_text()
        out = {"steal_ms": int(stat.split("\n", 1)[0].split()[8]) * self._tick_ms}
        out.update(_io_pressure())
        running = re.search(r"^procs_running (\d+)$", stat, re.MULTILINE)
        out["runnable"] = float(running.group(1)) if running else 0.0
        for name, pid in self.pids.items():
            fields = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
            out[f"{name}_loop_wait_ms"] = int(fields[1]) / 1e6
        return out

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._samples.append((time.perf_counter(), self._read()))
            except (OSError, IndexError, ValueError):
                return  # a daemon is gone: the side is over

    def window(self, start: float, end: float) -> dict[str, float]:
        """Steal and loop waits (ms) between the samples nearest ``start`` and ``end``
        (``perf_counter``), and the most tasks runnable at one sample in between."""
        inside = [(t, s) for t, s in list(self._samples) if start - self.interval_s <= t <= end]
        if len(inside) < 2:
            return {}
        first, last = inside[0][1], inside[-1][1]
        out = {k: round(last[k] - first[k], 2) for k in last if k != "runnable"}
        out["max_runnable"] = max(s["runnable"] for _, s in inside)
        return out


class _Gateway(HttpEdgeGateway):
    """The HTTP gateway, keeping the hold and steps (``steps_ms``) of every cutover that
    answered (an undone one: its hold and why), and what the machine did meanwhile
    (:class:`_CpuWaits`, when ``cpu_waits`` is set)."""

    completed: list[tuple[float, dict[str, float]]]
    attempts: list[dict[str, Any]]
    cpu_waits: _CpuWaits | None = None

    async def cutover(self, source: str, target: str, spec: CutoverSpec) -> CutoverResult:
        self.spans = [*getattr(self, "spans", [])[-999:], (spec.workload, time.monotonic())]
        try:
            result = await super().cutover(source, target, spec)
        except EdgeUnreachable as exc:
            if exc.held_ms is not None:
                self._attempt(exc.held_ms, {}, f"undone: {exc}"[:200])
            raise
        self.completed = [*getattr(self, "completed", []), (result.held_ms, result.steps_ms)]
        self._attempt(result.held_ms, result.steps_ms, "completed")
        return result

    def _attempt(self, held_ms: float, steps: dict[str, float], outcome: str) -> None:
        end = time.perf_counter()
        waits = {} if self.cpu_waits is None else self.cpu_waits.window(end - held_ms / 1000, end)
        entry = {"held_ms": held_ms, "outcome": outcome, **steps, "cpu_waits": waits}
        self.attempts = [*getattr(self, "attempts", []), entry]

    def place(self, writes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``writes`` (the writer's slow ones), each with how long before it ended its
        workload's latest cutover call began (``after_cutover_call_ms``; absent: none
        began before it) and, with ``cpu_waits`` set, what the machine did meanwhile
        (``cpu_waits``: steal, loop waits, I/O pressure)."""
        to_perf = time.perf_counter() - time.monotonic()  # the writer times on monotonic
        for write in writes:
            if self.cpu_waits is not None:
                ended = write["ended"] + to_perf
                write["cpu_waits"] = self.cpu_waits.window(ended - write["ms"] / 1000, ended)
            began = [t for name, t in getattr(self, "spans", []) if name == write["workload"]]
            began = [t for t in began if t <= write["ended"]]
            if began:
                write["after_cutover_call_ms"] = round((write["ended"] - max(began)) * 1000, 1)
            del write["ended"]
        return writes

    def take_steps(self, budget_ms: float) -> dict[str, Any]:
        """Since the last call (then forgotten): ``steps_ms``, median, 90th percentile and
        max of each step in ms; ``kept_after_cut``, how many cutovers had their activation
        cut and found durable (a ``kept`` step: they flipped late); ``late_holds``, the
        steps of each hold longer than ``budget_ms`` (undone ones too, with why), with its
        ``held_ms`` and, with ``cpu_waits`` set, the steal, loop waits and most runnable
        tasks during it; ``cpu_waits_ms``, median, 90th percentile and max of those over
        every hold."""
        completed, self.completed = getattr(self, "completed", []), []
        attempts, self.attempts = getattr(self, "attempts", []), []
        steps = [answer for _, answer in completed]
        return {
            "steps_ms": _spread(steps),
            "kept_after_cut": sum(1 for answer in steps if "kept" in answer),
            "late_holds": [entry for entry in attempts if entry["held_ms"] > budget_ms],
            "cpu_waits_ms": _spread([e["cpu_waits"] for e in attempts if e["cpu_waits"]]),
        }


def _spread(samples: list[dict[str, float]]) -> dict[str, list[float]]:
    """Median, 90th percentile and max of each key over ``samples``."""
    out: dict[str, list[float]] = {}
    for name in sorted({name for sample in samples for name in sample}):
        values = sorted(sample[name] for sample in samples if name in sample)
        at = (len(values) // 2, min(len(values) - 1, (9 * len(values)) // 10), -1)
        out[name] = [round(values[i], 3) for i in at]
    return out


async def _seed(url: str, names: list[str], records: int, value_bytes: int) -> None:
    queue = iter(names)
    async with AdminClient(url, TOKEN) as admin, EdgeClient(url, timeout=300, token=TOKEN) as c:

        async def worker() -> None:
            for name in queue:
                rng = random.Random(name[-4:])  # both sets alike
                await admin.create_workload(name)
                for start in range(0, records, 1000):
                    ops = [
                        (f"r{i:07d}", rng.randbytes(value_bytes))
                        for i in range(start, min(records, start + 1000))
                    ]
                    await c.batch(name, ops)

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(worker)


class _Writer:
    """Writes at a total rate over every workload in turn; counts failures, max latency,
    and keeps the slowest writes (``slow``: over ``slow_s``, at most 50) with how late
    this process's own event loop ran meanwhile (its ``lag``, sampled by :meth:`run`), so
    a slow write can be told from a stalled writer."""

    def __init__(
        self, url: str, names: list[str], rate: float, clients: int = 8, slow_s: float = 0.06
    ) -> None:
        self.url, self.names, self.rate, self.clients = url, names, rate, clients
        self.writes = 0
        self.failed = 0
        self.errors: Counter[str] = Counter()  # failed writes by what they raised
        self.paused = False
        self.max_latency_s = 0.0
        self.slow_s = slow_s
        self.slow: list[dict[str, Any]] = []
        self.slow_count = 0  # all of them, the kept 50 and the rest
        self._lags: deque[tuple[float, float]] = deque(maxlen=4096)  # (when, how late, s)

    def take_slow(self) -> tuple[int, list[dict[str, Any]]]:
        """How many slow writes since the last call, and the first 50 (then forgotten)."""
        count, slow = self.slow_count, self.slow
        self.slow_count, self.slow = 0, []
        return count, slow

    def _note(self, name: str, started: float, ended: float, outcome: str) -> None:
        took = ended - started
        self.max_latency_s = max(self.max_latency_s, took)
        if took > self.slow_s:
            self.slow_count += 1
        if took > self.slow_s and len(self.slow) < 50:
            lag = max((late for when, late in self._lags if started <= when <= ended), default=0.0)
            self.slow.append(
                {
                    "workload": name,
                    "ms": round(took * 1000, 1),
                    "writer_loop_lag_ms": round(lag * 1000, 1),
                    "outcome": outcome[:160],
                    "ended": ended,
                }
            )

    async def _lag(self) -> None:
        while True:
            before = time.monotonic()
            await anyio.sleep(0.005)
            now = time.monotonic()
            self._lags.append((now, now - before - 0.005))

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._lag)
            for index in range(self.clients):
                tg.start_soon(self._one, index)

    async def _one(self, index: int) -> None:
        period = self.clients / self.rate
        rng = random.Random(index)
        async with EdgeClient(self.url, timeout=120, token=TOKEN) as client:
            n, next_at = index, time.monotonic()
            while True:
                if self.paused:
                    await anyio.sleep(0.05)
                    next_at = time.monotonic()
                    continue
                name = self.names[n % len(self.names)]
                started = time.monotonic()
                outcome = "ok"
                try:
                    await client.put(name, f"hot-{rng.randrange(50):02d}", rng.randbytes(100))
                except Exception as exc:  # every failed request counts
                    self.failed += 1
                    outcome = f"{type(exc).__name__}: {exc}"
                    self.errors[outcome[:160]] += 1
                else:
                    self.writes += 1
                self._note(name, started, time.monotonic(), outcome)
                n += self.clients
                next_at += period
                await anyio.sleep(max(0.0, next_at - time.monotonic()))


_ROLLUP = re.compile(r"^(Anonymous|Pss_File|Pss_Shmem):\s+(\d+) kB$", re.MULTILINE)


def _rss_parts(pid: int) -> dict[str, float]:
    """RSS of ``pid`` split into anonymous, file-backed and shared memory (MiB)."""
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return {key: int(kb) / 1024 for key, kb in _ROLLUP.findall(text)}


class _PeakRss:
    """Samples the RSS of the daemons every 50 ms; keeps each one's peak (MiB).

    At each new peak it also reads what the RSS is made of (``/proc/PID/smaps_rollup``:
    anonymous memory, the Python heap and SQLite's page caches among it, against
    file-backed and shared pages such as SQLite's ``-shm`` maps) and the thread count.
    """

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak = dict.fromkeys(pids, 0.0)
        self.parts: dict[str, dict[str, float]] = {name: {} for name in pids}

    def reset(self) -> None:
        self.peak = dict.fromkeys(self.procs, 0.0)
        self.parts = {name: {} for name in self.procs}

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds (user + system) each daemon has used so far."""
        out = {}
        for name, proc in self.procs.items():
            times = proc.cpu_times()
            out[name] = times.user + times.system
        return out

    def cpu_parts(self) -> dict[str, dict[str, float]]:
        """Where each daemon's CPU went so far: user and system seconds, the event loop's
        thread (the main one) against the worker threads (the rest, exited ones
        included), and context switches (voluntary: waits; involuntary: preempted)."""
        out = {}
        for name, proc in self.procs.items():
            times = proc.cpu_times()
            main = next((t for t in proc.threads() if t.id == proc.pid), None)
            loop = 0.0 if main is None else main.user_time + main.system_time
            switches = proc.num_ctx_switches()
            out[name] = {
                "user": times.user,
                "system": times.system,
                "loop_thread": loop,
                "other_threads": times.user + times.system - loop,
                "ctx_voluntary": float(switches.voluntary),
                "ctx_involuntary": float(switches.involuntary),
            }
        return out

    async def settle(self, *, busy_s: float = 0.1, within_s: float = 60.0) -> float:
        """Wait until every daemon used less than ``busy_s`` CPU seconds in the last 0.5 s
        of real time (background work of what ran before, e.g. the WAL checkpoints of
        the seeding, no longer charged to the next side), at most ``within_s``; return
        how long it waited."""
        started = time.perf_counter()
        before = self.cpu_s()
        while time.perf_counter() - started < within_s:
            await anyio.sleep(0.5)
            now = self.cpu_s()
            if all(now[k] - before[k] < busy_s for k in now):
                break
            before = now
        return time.perf_counter() - started

    def now(self) -> dict[str, dict[str, float]]:
        """RSS and its parts of each daemon now (MiB)."""
        return {
            name: {"rss": proc.memory_info().rss / 2**20, **_rss_parts(proc.pid)}
            for name, proc in self.procs.items()
        }

    async def run(self) -> None:
        while True:
            for name, proc in self.procs.items():
                rss = proc.memory_info().rss / 2**20
                if rss > self.peak[name]:
                    self.peak[name] = rss
                    self.parts[name] = {**_rss_parts(proc.pid), "threads": proc.num_threads()}
            await anyio.sleep(0.05)


async def _metric_sum(urls: list[str], pattern: re.Pattern[str]) -> float:
    """The sum of every sample ``pattern`` finds in the daemons' ``/metrics``."""
    total = 0.0
    for url in urls:
        async with AdminClient(url, TOKEN) as admin:
            total += sum(float(v) for v in pattern.findall(await admin.metrics_text()))
    return total


_REQUESTS = re.compile(r"^edge_http_requests_total\{(.*)\} ([0-9.e+]+)$", re.MULTILINE)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


async def _requests(urls: list[str]) -> dict[str, float]:
    """HTTP requests each daemon has served so far, by ``"<west|east> <method> <route>"``
    (``edge_http_requests_total``; ``urls`` is west's then east's)."""
    counts: dict[str, float] = {}
    for name, url in zip(("west", "east"), urls, strict=True):
        async with AdminClient(url, TOKEN) as admin:
            for labels, value in _REQUESTS.findall(await admin.metrics_text()):
                label = dict(_LABEL.findall(labels))
                key = f"{name} {label['method']} {label['route']}"
                counts[key] = counts.get(key, 0.0) + float(value)
    return counts


async def _sent_bytes(urls: list[str]) -> int:
    return int(await _metric_sum(urls, _SENT))


async def _yields(urls: list[str]) -> tuple[float, float]:
    """``(pauses, seconds paused)`` of background copies on the daemons so far."""
    return await _metric_sum(urls, _PAUSES), await _metric_sum(urls, _PAUSED_S)


async def _zstd_chunks(url: str) -> dict[str, int] | None:
    """The source's chunks zstd was ``tried`` on and ``skipped`` so far (``None``: a
    daemon without that counter, before the per-link compression memory)."""
    async with AdminClient(url, TOKEN) as admin:
        text = await admin.metrics_text()
    if "edge_transfer_compression_chunks" not in text:
        return None
    found = _ZSTD.findall(text)
    counts = {"tried": 0, "skipped": 0}
    for outcome, value in found:
        counts[outcome] = counts.get(outcome, 0) + int(float(value))
    return counts


def _zstd_delta(
    before: dict[str, int] | None, after: dict[str, int] | None
) -> dict[str, int] | None:
    if before is None or after is None:
        return None
    return {k: after[k] - before.get(k, 0) for k in after}


_RESTART = RestartPolicy(max_restarts=50, within_s=60.0)
"""A cutover undone at its deadline is retried inside the run (``cutover_attempts``), and
only a workload undone that many times in one run restarts it; a loaded machine may still
see more restarts than the default 3 in a minute. Both sides run under this policy, and
every undone attempt and restart is reported (``undone_attempts``, ``holds_over_budget``,
``restarts``)."""


def _holds(metrics: list[MigrationMetrics]) -> dict[str, Any]:
    holds = [ms for m in metrics for ms in m.downtime_ms.values()]
    worst = max([m.downtime_worst_ms for m in metrics] + holds, default=0.0)
    undone = sum(m.cutover_attempts - len(m.downtime_ms) for m in metrics)
    return {
        "max_hold_ms": worst,
        "median_hold_ms": sorted(holds)[len(holds) // 2] if holds else None,
        # every attempt whose hold exceeded the budget, undone ones included (an attempt
        # undone within the budget held writes no longer than it)
        "holds_over_budget": sum(m.holds_over_max_downtime for m in metrics),
        "undone_attempts": undone,
        "max_expected_ms": max(
            (ms for m in metrics for ms in m.expected_downtime_ms.values()), default=None
        ),
        "rounds": sum(m.rounds for m in metrics),
        "restarts": sum(m.restarts for m in metrics),
        "cutover_brakes": sum(m.cutover_brakes for m in metrics),
        "phase_s": {
            phase: sum(m.phase_durations_s.get(phase, 0.0) for m in metrics)
            for phase in ("planning", "pre_sync", "sync", "cutover", "validation", "cleanup")
        },
    }


async def _migrate(
    service: MigrationService, plans: list[dict[str, Any]], rss: _PeakRss
) -> tuple[float, list[MigrationMetrics]]:
    ids = [(await service.plan(p)).migration_id for p in plans]
    rss.reset()
    t0 = time.perf_counter()
    for mid in ids:
        await service.execute(mid)
    for mid in ids:
        status = await service.wait(mid, {"completed", "failed"}, timeout=3600)
        if status.state != "completed":
            raise RuntimeError(f"migration {mid} ended {status.state}: {status.error}")
    elapsed = time.perf_counter() - t0
    metrics = []
    for mid in ids:
        m = await service.metrics(mid)
        assert isinstance(m, MigrationMetrics)
        metrics.append(m)
    return elapsed, metrics


async def _side(
    service: MigrationService,
    plans: list[dict[str, Any]],
    rss: _PeakRss,
    source_url: str,
    urls: list[str],
    gateway: _Gateway,
    budget_ms: float,
) -> tuple[dict[str, Any], list[MigrationMetrics]]:
    """Run one side's plans; its figures (see the module doc) and its migrations' metrics."""
    parts0 = rss.cpu_parts()
    zstd0 = await _zstd_chunks(source_url)
    yields0 = await _yields(urls)
    requests0 = await _requests(urls)
    elapsed, metrics = await _migrate(service, plans, rss)
    requests1 = await _requests(urls)
    out: dict[str, Any] = {"time_s": elapsed, "peak_rss_mib": dict(rss.peak)}
    out["peak_rss_parts_mib"] = rss.parts
    out["rss_after_mib"] = rss.now()
    parts1 = rss.cpu_parts()
    out["cpu_parts"] = {
        d: {k: round(parts1[d][k] - parts0[d][k], 3) for k in parts1[d]} for d in parts1
    }
    out["cpu_s"] = {d: parts["user"] + parts["system"] for d, parts in out["cpu_parts"].items()}
    out["zstd_chunks"] = _zstd_delta(zstd0, await _zstd_chunks(source_url))
    out.update(_holds(metrics))
    yields1 = await _yields(urls)
    out["yield_pauses"] = yields1[0] - yields0[0]
    out["yield_s"] = yields1[1] - yields0[1]
    out.update(gateway.take_steps(budget_ms))
    out["requests"] = {
        key: int(count - requests0.get(key, 0.0))
        for key, count in sorted(requests1.items())
        if count > requests0.get(key, 0.0)
    }
    return out, metrics


def _seed_prior(root: Path, count: int) -> None:
    """Give both edges' data directories the routes and epochs of ``count`` workloads that
    passed through them (see the module doc, 8), in the state files of session 17."""
    for name, other in (("edge-west", "edge-east"), ("edge-east", "edge-west")):
        data_dir = root / name
        data_dir.mkdir(mode=0o700)
        routes: dict[str, Any] = {}
        epochs: dict[str, Any] = {}
        for i in range(count):
            workload = f"prior{i:05d}"
            routes[workload] = {
                "status": "moved",
                "moved_to": f"http://{other}.invalid",
                "migration_id": f"prior-migration-{i}",
            }
            epochs[workload] = {
                "epoch": 3,
                "activated_lsn": 10_000 + i,
                "activated_digest": f"{i:032x}",
                "undone_epoch": 0,
            }
        StateFile(data_dir / "routing.state", "routing table").write(
            {"version": 1, "routes": routes}
        )
        StateFile(data_dir / "epochs.state", "epoch file").write(
            {"version": 1, "workloads": epochs}
        )


async def run_wide(
    workloads: int,
    mb: float,
    budget_ms: float,
    write_rate: float,
    value_bytes: int = 1024,
    *,
    parallel_transfers: int | None = None,
    link_transfers: int | None = None,
    order: tuple[str, str] = ("wide", "queued"),
    prior_workloads: int = 0,
) -> dict[str, Any]:
    """Run the wide and the queued plans; return their figures (see the module doc).

    ``parallel_transfers`` (the wide plan's constraint) and ``link_transfers`` (the
    service's) default to the engine's defaults."""
    names = [f"wide{i:04d}" for i in range(workloads)]
    singles = [f"single{i:04d}" for i in range(workloads)]
    records = max(1, int(mb * 1e6) // value_bytes)
    out: dict[str, Any] = {"workloads": workloads, "mb_each": mb, "budget_ms": budget_ms}
    out["prior_workloads"] = prior_workloads
    with tempfile.TemporaryDirectory(prefix="wide-") as tmp:
        root = Path(tmp)
        if prior_workloads:
            _seed_prior(root, prior_workloads)
        west, west_url = await _start_daemon("edge-west", root)
        east, east_url = await _start_daemon("edge-east", root)
        try:
            t0 = time.perf_counter()
            await _seed(west_url, names + singles, records, value_bytes)
            out["seed_s"] = time.perf_counter() - t0
            rss = _PeakRss({"west": west.pid, "east": east.pid})
            out["rss_after_seed_mib"] = rss.now()
            topology = Topology(
                {
                    "edge-west": EdgeEndpoint(west_url, TOKEN),
                    "edge-east": EdgeEndpoint(east_url, TOKEN),
                }
            )
            writer = _Writer(west_url, names if order[0] == "wide" else singles, write_rate)
            # Until each side begins: a write in flight across the CPU calibration (which
            # holds this loop) would be timed with it (the first writes showed 290-480 ms).
            writer.paused = True
            defaults = ServiceDefaults(checkpoint_interval_s=5.0)
            if link_transfers is not None:
                defaults = ServiceDefaults(checkpoint_interval_s=5.0, link_transfers=link_transfers)
            async with (
                _Gateway(topology) as gateway,
                _CpuWaits({"west": west.pid, "east": east.pid}) as cpu_waits,
                MigrationService(
                    gateway, root / "supervisor", defaults=defaults, restart=_RESTART
                ) as service,
                anyio.create_task_group() as tg,
            ):
                gateway.cpu_waits = cpu_waits
                out["settle_s"] = [await rss.settle()]
                tg.start_soon(writer.run)
                tg.start_soon(rss.run)
                sent_before = await _sent_bytes([west_url, east_url])
                constraints: dict[str, Any] = {"max_downtime": f"{budget_ms:g}ms"}
                wide_constraints = dict(constraints)
                if parallel_transfers is not None:
                    wide_constraints["parallel_transfers"] = parallel_transfers
                plans = {
                    "wide": [{"source_edge": "edge-west", "target_edge": "edge-east",
                              "workloads": names, "constraints": wide_constraints}],
                    "queued": [{"source_edge": "edge-west", "target_edge": "edge-east",
                                "workloads": [n], "constraints": constraints} for n in singles],
                }  # fmt: skip
                sets = {"wide": names, "queued": singles}
                runs: dict[str, list[MigrationMetrics]] = {}
                for i, side in enumerate(order):
                    writer.paused = True  # moves to this side's set; the daemons settle first
                    if i:
                        out["settle_s"].append(await rss.settle())
                    calibration_ms = _calibrate()
                    writer.take_slow()  # the side before's
                    writer.paused = False
                    writer.names = sets[side]
                    out[side], runs[side] = await _side(
                        service,
                        plans[side],
                        rss,
                        west_url,
                        [west_url, east_url],
                        gateway,
                        budget_ms,
                    )
                    out[side]["calibration_ms"] = calibration_ms
                    slow_count, slow = writer.take_slow()
                    out[side]["slow_writes_count"] = slow_count
                    out[side]["slow_writes"] = gateway.place(slow)
                out["order"] = list(order)
                wide, queued = runs["wide"], runs["queued"]
                out["wide"]["peak_transfers"] = wide[0].peak_transfers
                sent = await _sent_bytes([west_url, east_url]) - sent_before
                reported = sum(m.bytes_wire for m in wide + queued)
                out["wire_bytes_sent"] = sent
                out["wire_bytes_reported"] = reported
                out["wire_bytes_error"] = abs(reported - sent) / sent if sent else None
                out["writes"], out["write_errors"] = writer.writes, writer.failed
                out["write_error_kinds"] = dict(writer.errors.most_common(5))
                out["write_max_latency_ms"] = writer.max_latency_s * 1000
                tg.cancel_scope.cancel()
        finally:
            for proc in (west, east):
                await _stop_daemon(proc)
    out["wide_vs_queued_time"] = out["wide"]["time_s"] / out["queued"]["time_s"]
    return out


ORDERS: dict[str, tuple[tuple[str, str], ...]] = {
    "wide-first": (("wide", "queued"),),
    "queued-first": (("queued", "wide"),),
    "both": (("wide", "queued"), ("queued", "wide")),
}
"""``--order``: which side runs first on the pair of daemons; ``both`` runs two pairs."""


async def run_orders(
    workloads: int,
    mb: float,
    budget_ms: float,
    write_rate: float,
    value_bytes: int = 1024,
    *,
    orders: tuple[tuple[str, str], ...] = ORDERS["both"],
    parallel_transfers: int | None = None,
    link_transfers: int | None = None,
    prior_workloads: int = 0,
) -> dict[str, Any]:
    """:func:`run_wide` once per order, each on fresh daemons; the figures of every pair
    (``pairs``) and, over them all, ``wide_vs_queued_time`` as the summed wide time over
    the summed queued time (each side ran first once and second once with ``both``: the
    side that runs second on the same daemons was measured 5-11 % slower, whichever it
    is), and ``wide_vs_queued_by_order``."""
    pairs = []
    for order in orders:
        pairs.append(
            await run_wide(
                workloads,
                mb,
                budget_ms,
                write_rate,
                value_bytes,
                parallel_transfers=parallel_transfers,
                link_transfers=link_transfers,
                order=order,
                prior_workloads=prior_workloads,
            )
        )
    out: dict[str, Any] = {"workloads": workloads, "mb_each": mb, "budget_ms": budget_ms}
    out["pairs"] = pairs
    out["wide_vs_queued_by_order"] = {
        f"{pair['order'][0]}_first": pair["wide_vs_queued_time"] for pair in pairs
    }
    out["wide_vs_queued_time"] = sum(p["wide"]["time_s"] for p in pairs) / sum(
        p["queued"]["time_s"] for p in pairs
    )
    return out


def summary(out: dict[str, Any]) -> dict[str, Any]:
    """The ``wide_plan_*`` keys of ``benchmarks/scale.py``'s JSON line, from one pair
    (:func:`run_wide`) or several (:func:`run_orders`: the worst hold and RSS, the holds
    over budget and write errors summed, times summed, errors the worst)."""
    pairs = out.get("pairs", [out])
    wides = [p["wide"] for p in pairs]
    queued = [p["queued"] for p in pairs]
    return {
        "wide_plan_workloads": out["workloads"],
        "wide_plan_mb_each": out["mb_each"],
        "wide_plan_max_hold_ms": max(w["max_hold_ms"] for w in wides),
        "wide_plan_budget_ms": out["budget_ms"],
        "wide_plan_holds_over_budget": sum(w["holds_over_budget"] for w in wides),
        "wide_plan_peak_rss_mib": max(max(w["peak_rss_mib"].values()) for w in wides),
        "wide_plan_time_s": sum(w["time_s"] for w in wides),
        "queued_plans_time_s": sum(q["time_s"] for q in queued),
        "queued_plans_max_hold_ms": max(q["max_hold_ms"] for q in queued),
        "queued_plans_peak_rss_mib": max(max(q["peak_rss_mib"].values()) for q in queued),
        "wide_vs_queued_time": out["wide_vs_queued_time"],
        "wide_vs_queued_by_order": out.get("wide_vs_queued_by_order"),
        "wire_bytes_error": max(p["wire_bytes_error"] for p in pairs),
        "wide_plan_write_errors": sum(p["write_errors"] for p in pairs),
        "wide_plan_peak_transfers": max(w["peak_transfers"] for w in wides),
    }


def _calibrate(rounds: int = 5) -> float:
    """Milliseconds a fixed pure-Python workload takes on this process's thread (the
    fastest of ``rounds``): how much CPU the machine gives a thread right now, so runs on
    a machine that slowed down (other jobs, the host) can be told apart."""
    best = math.inf
    for _ in range(rounds):
        started = time.perf_counter()
        table: dict[int, str] = {}
        for i in range(200_000):
            table[i % 1024] = str(i)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def table(out: dict[str, Any]) -> str:
    """The wide and queued figures side by side."""
    rows = [
        ("total time, s", "time_s", "{:.2f}"),
        ("CPU calibration before it, ms", "calibration_ms", "{:.1f}"),
        ("max hold (any attempt), ms", "max_hold_ms", "{:.1f}"),
        ("median hold, ms", "median_hold_ms", "{:.1f}"),
        ("holds over budget (any attempt)", "holds_over_budget", "{:.0f}"),
        ("max estimate before a cutover, ms", "max_expected_ms", "{:.1f}"),
        ("undone cutover attempts", "undone_attempts", "{:.0f}"),
        ("activations cut, kept, flipped late", "kept_after_cut", "{:.0f}"),
        ("run restarts", "restarts", "{:.0f}"),
        ("cutover brakes (one at a time)", "cutover_brakes", "{:.0f}"),
        ("copy pauses for holds", "yield_pauses", "{:.0f}"),
        ("copies paused, s (summed)", "yield_s", "{:.2f}"),
    ]
    lines = [f"{'measure':<36} {'wide plan':>12} {'queued plans':>12}", "-" * 62]
    for label, key, fmt in rows:
        cells = [
            "-" if out[side].get(key) is None else fmt.format(out[side][key])
            for side in ("wide", "queued")
        ]
        lines.append(f"{label:<36} {cells[0]:>12} {cells[1]:>12}")
    for daemon in ("west", "east"):
        cells = [f"{out[side]['peak_rss_mib'][daemon]:.1f}" for side in ("wide", "queued")]
        lines.append(f"{'peak RSS ' + daemon + ', MiB':<36} {cells[0]:>12} {cells[1]:>12}")
    for daemon in ("west", "east"):
        cells = [f"{out[side]['cpu_s'][daemon]:.1f}" for side in ("wide", "queued")]
        lines.append(f"{'CPU s ' + daemon:<36} {cells[0]:>12} {cells[1]:>12}")
        for part, label in (
            ("user", "user"),
            ("system", "system"),
            ("loop_thread", "loop thread"),
            ("other_threads", "worker threads"),
            ("ctx_involuntary", "preempted (involuntary switches)"),
        ):
            cells = [f"{out[side]['cpu_parts'][daemon][part]:.1f}" for side in ("wide", "queued")]
            lines.append(f"{'  ' + daemon + ' ' + label:<36} {cells[0]:>12} {cells[1]:>12}")
    for outcome in ("tried", "skipped"):
        cells = [
            "-" if out[side].get("zstd_chunks") is None else str(out[side]["zstd_chunks"][outcome])
            for side in ("wide", "queued")
        ]
        lines.append(f"{'source chunks zstd ' + outcome:<36} {cells[0]:>12} {cells[1]:>12}")
    for phase in ("pre_sync", "sync", "cutover", "validation", "cleanup"):
        cells = [f"{out[side]['phase_s'][phase]:.2f}" for side in ("wide", "queued")]
        lines.append(f"{phase + ' phase, s (summed)':<36} {cells[0]:>12} {cells[1]:>12}")
    for step in ("hold", "final_delta", "activate", "kept", "flip"):
        cells = [
            "/".join(f"{v:.1f}" for v in out[side]["steps_ms"].get(step, [])) or "-"
            for side in ("wide", "queued")
        ]
        lines.append(f"{step + ' step ms, med/p90/max':<36} {cells[0]:>12} {cells[1]:>12}")
    for figure, label in (
        ("steal_ms", "machine steal"),
        ("west_loop_wait_ms", "west loop run-queue wait"),
        ("east_loop_wait_ms", "east loop run-queue wait"),
        ("io_some_ms", "I/O pressure (some)"),
    ):
        cells = [
            "/".join(f"{v:.1f}" for v in out[side].get("cpu_waits_ms", {}).get(figure, [])) or "-"
            for side in ("wide", "queued")
        ]
        lines.append(f"{label + ' in a hold, ms':<36} {cells[0]:>12} {cells[1]:>12}")
    cells = [str(out[side].get("slow_writes_count", "-")) for side in ("wide", "queued")]
    lines.append(f"{'writes over 60 ms':<36} {cells[0]:>12} {cells[1]:>12}")
    for side in ("wide", "queued"):
        for late in out[side]["late_holds"]:
            lines.append(f"  {side} hold over budget: {json.dumps(late)}")
        for write in sorted(out[side].get("slow_writes", []), key=lambda w: -w["ms"])[:5]:
            lines.append(f"  {side} slow write: {json.dumps(write)}")
    return "\n".join(lines)


def tables(out: dict[str, Any]) -> str:
    """:func:`table` of every pair of :func:`run_orders`, then the ratio over them all."""
    parts = []
    for pair in out["pairs"]:
        parts.append(f"{pair['order'][0]} side first (fresh daemons):")
        parts.append(table(pair))
        parts.append(f"wide / queued time, this order: {pair['wide_vs_queued_time']:.3f}\n")
    parts.append(f"wide / queued time, summed over the orders: {out['wide_vs_queued_time']:.3f}")
    return "\n".join(parts)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workloads", type=int, default=100, help="(100)")
    parser.add_argument("--mb", type=float, default=10.0, help="MB per workload (10)")
    parser.add_argument("--budget-ms", type=float, default=50.0, help="max_downtime (50)")
    parser.add_argument("--write-rate", type=float, default=200.0, help="writes/s (200)")
    parser.add_argument("--value-bytes", type=int, default=1024, help="(1024)")
    parser.add_argument(
        "--parallel-transfers", type=int, help="the wide plan's constraint (engine default)"
    )
    parser.add_argument("--link-transfers", type=int, help="the service's (engine default)")
    parser.add_argument(
        "--prior-workloads",
        type=int,
        default=0,
        help="routes and epochs each edge has of other workloads before it starts (0)",
    )
    parser.add_argument(
        "--order",
        choices=sorted(ORDERS),
        default="both",
        help="which side runs first on a pair of daemons; both: two pairs (both)",
    )
    args = parser.parse_args()
    out = await run_orders(
        args.workloads,
        args.mb,
        args.budget_ms,
        args.write_rate,
        args.value_bytes,
        orders=ORDERS[args.order],
        parallel_transfers=args.parallel_transfers,
        link_transfers=args.link_transfers,
        prior_workloads=args.prior_workloads,
    )
    print(tables(out))
    print(json.dumps(out))


if __name__ == "__main__":
    anyio.run(main)
