"""Scale: one edge with N workloads, a wide plan between two edges, and the Redis peers.

Usage: ``python benchmarks/scale.py [--workloads N] [--nofile L] [--concurrency C]
[--put-samples P] [--metrics-samples M] [--wide-workloads W] [--wide-mb MB]
[--wide-budget-ms B] [--wide-write-rate R] [--skip-wide] [--peers-sizes S]
[--peers-runs K] [--skip-peers]``

A quick run: ``--workloads 200 --wide-workloads 10 --wide-mb 1 --skip-peers``.

For each of ``1`` and ``N`` workloads: the workloads are created with the store
registry API in a fresh data directory, then ``edge-actors daemon`` is started as a
subprocess whose ``RLIMIT_NOFILE`` is ``L`` (1,024 by default, the common ``ulimit -n``)
with ``--max-bytes`` set, so every write runs the capacity check. Measured on the real
process with psutil:

- ``start_s``: from spawning the daemon to its ready line;
- threads, fds and RSS idle (right after start) and after one PUT and one GET to every
  workload (``C`` clients at once; any error is counted in ``errors``);
- ``settle_s``: after that round, how long until the daemon is idle again (under 5% of a
  CPU over 0.5 s: the background WAL checkpoints of the stores just written are done);
- ``put_p50_ms``: median of ``P`` sequential PUTs cycling over 32 workloads (their
  connections stay open: the cost of a write with the capacity check), once settled;
- ``put_cold_p50_ms``: median of ``P`` sequential PUTs, each to the workload written
  longest ago (with more workloads than the descriptor budget holds open, each such
  PUT reopens that store's writer and closes another's);
- ``metrics_ms``: median time of ``M`` scrapes of ``/metrics`` (once idle again).

Prints a table, then one JSON object as the last line with ``workloads``, ``start_s``,
``threads``, ``fds``, ``rss_mib`` (after the PUT+GET round), the idle figures, and the
ratios of the N-workload daemon to the 1-workload daemon (``*_vs_1``). With
``--baseline FILE`` (a file whose last line is an earlier run's JSON, e.g. of the code
before issue 12, run with ``PYTHONPATH=<old checkout>/src`` and a higher ``--nofile``,
since that code cannot start 1,000 workloads under 1,024 descriptors) it adds the ratios
of this run to that one (``*_vs_baseline``).

Then (``--skip-wide`` leaves it out) the wide plan of ``benchmarks/wide_plan.py``: ``W``
workloads of ``MB`` MB between two daemon processes in one live plan with
``max_downtime`` ``B`` ms and a writer at ``R`` writes/s, against the same workloads as
queued plans, in both orders (each order on fresh daemons: ``run_orders``); it adds
``wide_plan_workloads``, ``wide_plan_max_hold_ms`` (the longest hold of any cutover
attempt), ``wide_plan_budget_ms``, ``wide_plan_holds_over_budget`` (cutover attempts whose
hold exceeded the budget, undone ones included, over both wide plans),
``wide_plan_peak_rss_mib`` (the larger daemon's peak), ``wide_vs_queued_time`` (summed
over both orders; ``wide_vs_queued_by_order`` per order) and
``wire_bytes_error`` (the migrations' ``bytes_wire`` against the daemons' own
``edge_transfer_sent_bytes_total``).

Last (``--skip-peers`` leaves it out) ``benchmarks/peers.py --sizes S --runs K`` runs as a
subprocess and its last JSON line gives ``copy_vs_redis_100mb``, ``copy_vs_redis_1gb``
and ``stall_vs_redis_failover`` (medians over the ``K`` runs of each size; the
``*_range`` keys give min and max), and ``stall_vs_redis_follow`` (our stall against the
longest write of the clients that follow Redis's failover); when it is skipped, missing
or fails, those keys are ``null`` and ``peers_note`` says why. ``K`` is 3 by default.
Redis's ``FAILOVER`` pauses writes until the replica's next once-a-second acknowledgement,
so its stall is anywhere in 0-1 s (``peers.py`` issues it at a seeded random phase of that
second); the median over the runs and the ``*_range`` keys show where a run's draws fell.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import psutil
import wide_plan

from edge_actors.edge import AdminClient, EdgeClient
from edge_actors.store import StoreRegistry

if TYPE_CHECKING:
    from anyio.abc import ByteReceiveStream

TOKEN = "scale-benchmark-token-0123456789"
PEERS = Path(__file__).with_name("peers.py")
PEER_KEYS = (
    "copy_vs_redis_100mb",
    "copy_vs_redis_1gb",
    "stall_vs_redis_failover",
    "copy_vs_redis_100mb_range",
    "copy_vs_redis_1gb_range",
    "stall_vs_redis_failover_range",
    "stall_vs_redis_follow",
    "stall_vs_redis_follow_range",
)
_LAUNCH = (
    "import resource, sys; limit = int(sys.argv.pop(1)); "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)); "
    "from edge_actors.cli import main; sys.exit(main())"
)


def _sample(proc: psutil.Process) -> dict[str, float]:
    return {
        "threads": proc.num_threads(),
        "fds": proc.num_fds(),
        "rss_mib": proc.memory_info().rss / 2**20,
    }


async def _ready_url(stdout: ByteReceiveStream) -> str:
    buffer = b""
    with anyio.fail_after(600):
        while b"\n" not in buffer:
            buffer += await stdout.receive()
    line = buffer.split(b"\n", 1)[0].decode()
    if " listening on " not in line:
        raise RuntimeError(f"daemon did not start: {line!r}")
    return line.rsplit(" ", 1)[1]


async def _create(data_dir: Path, n: int) -> tuple[list[str], float]:
    names = [f"w{i:05}" for i in range(n)]
    t0 = time.perf_counter()
    async with await StoreRegistry.open(data_dir) as registry:
        for name in names:
            await registry.create(name)
    return names, time.perf_counter() - t0


async def _put_get_all(url: str, names: list[str], concurrency: int) -> int:
    errors = 0

    async def worker(first: int, client: EdgeClient) -> None:
        nonlocal errors
        for name in names[first::concurrency]:
            try:
                await client.put(name, "k", name.encode())
                if await client.get(name, "k") != name.encode():
                    errors += 1
            except Exception:  # counted and reported: the figure is how many failed
                errors += 1

    async with EdgeClient(url, token=TOKEN) as client, anyio.create_task_group() as tg:
        for first in range(min(concurrency, len(names))):
            tg.start_soon(worker, first, client)
    return errors


async def _put_p50_ms(url: str, names: list[str], samples: int) -> float:
    times: list[float] = []
    async with EdgeClient(url, token=TOKEN) as client:
        for i in range(samples):
            name = names[i % len(names)]
            t0 = time.perf_counter()
            await client.put(name, "p", b"x" * 100)
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


async def _settle_s(proc: psutil.Process, limit_s: float = 120.0) -> float:
    """Wait until ``proc`` uses under 5% of a CPU over 0.5 s; return how long that took."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit_s:
        before = sum(proc.cpu_times()[:2])
        await anyio.sleep(0.5)
        if sum(proc.cpu_times()[:2]) - before < 0.025:
            break
    return time.perf_counter() - t0


async def _metrics_ms(url: str, samples: int) -> float:
    times: list[float] = []
    async with AdminClient(url, TOKEN) as admin:
        for _ in range(samples):
            t0 = time.perf_counter()
            await admin.metrics_text()
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


async def measure(n: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run one daemon with ``n`` workloads and return its figures."""
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        data_dir = Path(tmp) / "edge"
        names, create_s = await _create(data_dir, n)
        command = [sys.executable, "-c", _LAUNCH, str(args.nofile), "daemon"]
        command += ["--name", "edge-scale", "--port", "0", "--data-dir", str(data_dir)]
        command += ["--max-bytes", "100GB"]
        out: dict[str, Any] = {"workloads": n, "create_s": create_s}
        with (Path(tmp) / "daemon.stderr").open("wb") as stderr:
            t0 = time.perf_counter()
            env = {"EDGE_ACTORS_CLUSTER_TOKEN": TOKEN, "PATH": ""}
            if "PYTHONPATH" in os.environ:  # lets a run measure another checkout's code
                env["PYTHONPATH"] = os.environ["PYTHONPATH"]
            process = await anyio.open_process(command, stderr=stderr, env=env)
            async with process:
                try:
                    if process.stdout is None:
                        raise RuntimeError("no stdout pipe")
                    url = await _ready_url(process.stdout)
                    out["start_s"] = time.perf_counter() - t0
                    proc = psutil.Process(process.pid)
                    idle = _sample(proc)
                    out.update({f"{k}_idle": v for k, v in idle.items()})
                    t1 = time.perf_counter()
                    out["errors"] = await _put_get_all(url, names, args.concurrency)
                    out["put_get_all_s"] = time.perf_counter() - t1
                    out.update(_sample(proc))
                    out["settle_s"] = await _settle_s(proc)
                    hot = names[:32]
                    await _put_p50_ms(url, hot, len(hot))  # warm: their writers open
                    out["put_p50_ms"] = await _put_p50_ms(url, hot, args.put_samples)
                    out["put_cold_p50_ms"] = await _put_p50_ms(url, names, args.put_samples)
                    await _settle_s(proc)  # the cold PUTs' checkpoints are done
                    out["metrics_ms"] = await _metrics_ms(url, args.metrics_samples)
                    process.terminate()
                    with anyio.fail_after(120):
                        out["exit_code"] = await process.wait()
                finally:
                    if process.returncode is None:
                        process.kill()
                        await process.wait()
    return out


def _table(one: dict[str, Any], many: dict[str, Any]) -> str:
    rows = [
        ("workloads", "workloads", "{:.0f}"),
        ("create workloads (registry API), s", "create_s", "{:.2f}"),
        ("daemon start, s", "start_s", "{:.2f}"),
        ("threads idle", "threads_idle", "{:.0f}"),
        ("fds idle", "fds_idle", "{:.0f}"),
        ("RSS idle, MiB", "rss_mib_idle", "{:.1f}"),
        ("PUT+GET to every workload, s", "put_get_all_s", "{:.2f}"),
        ("errors", "errors", "{:.0f}"),
        ("threads after PUT+GET each", "threads", "{:.0f}"),
        ("fds after PUT+GET each", "fds", "{:.0f}"),
        ("RSS after PUT+GET each, MiB", "rss_mib", "{:.1f}"),
        ("idle again after that, s", "settle_s", "{:.1f}"),
        ("PUT p50 (max_bytes set), ms", "put_p50_ms", "{:.2f}"),
        ("PUT p50, each to the coldest workload, ms", "put_cold_p50_ms", "{:.2f}"),
        ("/metrics, ms", "metrics_ms", "{:.2f}"),
    ]
    lines = [f"{'measure':<42} {'1 workload':>12} {'N workloads':>12}", "-" * 68]
    for label, key, fmt in rows:
        lines.append(f"{label:<42} {fmt.format(one[key]):>12} {fmt.format(many[key]):>12}")
    return "\n".join(lines)


async def peers(sizes: str, runs: int) -> dict[str, Any]:
    """Run ``benchmarks/peers.py`` and return its figures (``null`` ones and a note when
    it cannot run)."""
    out: dict[str, Any] = dict.fromkeys(PEER_KEYS)
    if not PEERS.exists():
        out["peers_note"] = f"{PEERS.name} not found: the Redis comparison did not run"
        return out
    command = [sys.executable, str(PEERS), "--sizes", sizes, "--runs", str(runs)]
    result = await anyio.run_process(command, check=False, stderr=None)
    text = result.stdout.decode(errors="replace")
    print(text, end="")
    lines = [line for line in text.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        out["peers_note"] = f"{PEERS.name} exited {result.returncode} without a JSON line"
        return out
    figures = json.loads(lines[-1])
    out.update({key: figures.get(key) for key in PEER_KEYS})
    out["peers_command"] = " ".join(command[1:])
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workloads", type=int, default=1000, metavar="N", help="(1000)")
    parser.add_argument("--nofile", type=int, default=1024, metavar="L", help="(1024)")
    parser.add_argument("--concurrency", type=int, default=32, metavar="C", help="(32)")
    parser.add_argument("--put-samples", type=int, default=500, metavar="P", help="(500)")
    parser.add_argument("--metrics-samples", type=int, default=20, metavar="M", help="(20)")
    parser.add_argument("--baseline", type=Path, metavar="FILE", help="earlier run's output")
    parser.add_argument("--wide-workloads", type=int, default=100, metavar="W", help="(100)")
    parser.add_argument("--wide-mb", type=float, default=10.0, metavar="MB", help="(10)")
    parser.add_argument("--wide-budget-ms", type=float, default=50.0, metavar="B", help="(50)")
    parser.add_argument("--wide-write-rate", type=float, default=200.0, metavar="R", help="(200)")
    parser.add_argument("--skip-wide", action="store_true", help="no wide-plan run")
    parser.add_argument("--peers-sizes", default="100mb,1gb", metavar="S", help="(100mb,1gb)")
    parser.add_argument("--peers-runs", type=int, default=3, metavar="K", help="(3)")
    parser.add_argument("--skip-peers", action="store_true", help="no Redis comparison")
    args = parser.parse_args()
    baseline: dict[str, Any] | None = None
    if args.baseline is not None:
        baseline = json.loads(args.baseline.read_text().strip().splitlines()[-1])
    one = await measure(1, args)
    many = await measure(args.workloads, args)
    print(_table(one, many))
    keys = ("workloads", "start_s", "threads", "fds", "rss_mib", "threads_idle", "fds_idle")
    result: dict[str, Any] = {key: many[key] for key in keys}
    result["rss_mib_idle"] = many["rss_mib_idle"]
    result["errors"] = many["errors"]
    result["nofile"] = args.nofile
    result["put_p50_ms"] = many["put_p50_ms"]
    result["put_cold_p50_ms"] = many["put_cold_p50_ms"]
    result["metrics_ms"] = many["metrics_ms"]
    compared = ("start_s", "threads", "fds", "rss_mib", "put_p50_ms", "metrics_ms")
    for key in compared:
        result[f"{key}_vs_1"] = many[key] / one[key] if one[key] else None
    if baseline is not None:
        result["baseline_workloads"] = baseline["workloads"]
        for key in (*compared, "threads_idle", "fds_idle", "rss_mib_idle", "put_cold_p50_ms"):
            if baseline.get(key):
                result[f"{key}_vs_baseline"] = result[key] / baseline[key]
    if args.skip_wide:
        result.update(dict.fromkeys(wide_plan.SUMMARY_KEYS))
        result["wide_plan_note"] = "skipped (--skip-wide)"
    else:
        wide = await wide_plan.run_orders(
            args.wide_workloads, args.wide_mb, args.wide_budget_ms, args.wide_write_rate
        )
        print(wide_plan.tables(wide))
        result.update(wide_plan.summary(wide))
    if args.skip_peers:
        result.update(dict.fromkeys(PEER_KEYS))
        result["peers_note"] = "skipped (--skip-peers)"
    else:
        result.update(await peers(args.peers_sizes, args.peers_runs))
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    anyio.run(main)
