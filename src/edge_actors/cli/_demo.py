"""``edge-actors demo``: a real live migration under load, verified, in one process (cli layer).

Starts two embedded edges (real :class:`~edge_actors.edge.EdgeDaemon` servers on
127.0.0.1, port 0), seeds a workload with compressible sample records, runs a writer
through :class:`~edge_actors.edge.EdgeClient` for the whole migration, live-migrates the
workload with a :class:`~edge_actors.migration.MigrationService` over an
:class:`~edge_actors.edge.HttpEdgeGateway` (strategy ``live``, ``max_downtime`` 50ms)
while showing its progress, stops the writer a moment after completion, then checks the
outcome: every acknowledged write is read back from the target and compared, and the
target's digest is compared with the digest of what the writer and the seeding wrote.

Exit code 0 only when the migration completed, no request failed, no acknowledged write
was lost and the digests match; otherwise 1 with the reason on stderr.
"""

from __future__ import annotations

import importlib.util
import math
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from edge_actors._log import LOG_LEVELS, configure_default_logging
from edge_actors.edge import (
    AdminClient,
    EdgeConfig,
    EdgeDaemon,
    EdgeEndpoint,
    HttpEdgeGateway,
    Topology,
)
from edge_actors.errors import ConfigError
from edge_actors.migration import MigrationMetrics, MigrationService, ServiceDefaults
from edge_actors.monitoring import percentile

from ._demo_load import WORKLOAD, Corpus, Writer, digest, lost_writes, seed
from ._progress import (
    ProgressDisplay,
    format_bytes,
    format_duration,
    one_line_errors,
    write_error,
    write_json,
    write_out,
)

if TYPE_CHECKING:
    import argparse

__all__ = ["DemoOptions", "DemoReport", "register", "run_demo"]

SOURCE, TARGET = "edge-west", "edge-east"
_FINAL = frozenset(("completed", "failed", "rolled_back", "cancelled"))


class DemoOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of one demo run (the command's flags)."""

    records: int = 20_000
    value_bytes: int = 512
    write_rate: float = 500.0
    bandwidth_mbps: float | None = None
    max_downtime_ms: float = 50.0
    data_dir: str | None = None
    settle_s: float = 0.5
    timeout_s: float = 300.0


class DemoReport(msgspec.Struct, kw_only=True):
    """What the demo measured and verified (``--json`` prints it)."""

    ok: bool
    reason: str | None
    migration_id: str
    state: str
    error: str | None
    workload: str
    source_edge: str
    target_edge: str
    records_seeded: int
    workload_bytes: int
    duration_s: float
    phases_s: dict[str, float]
    records_moved: int
    bytes_moved: int
    bytes_wire: int
    compression_ratio: float
    rounds: int
    downtime_ms: float
    expected_downtime_ms: float | None
    max_downtime_budget_ms: float
    writes_acked: int
    write_rate_achieved: float
    write_stall_max_ms: float
    write_stall_p99_ms: float
    failed_requests: int
    failures: list[str]
    keys_verified: int
    lost_writes: int
    digest_expected: str
    digest_target: str
    digest_validated_at_cutover: str | None
    cutover_lsn: int | None
    total_s: float


async def run_demo(opts: DemoOptions, *, show_progress: bool = True) -> DemoReport:
    """Run the demo (see the module docstring) and return its report.

    Cancellation: the writer, the migration service and both edges are stopped; a temporary
    data directory is removed by the caller's context.
    """
    began = time.monotonic()
    token = secrets.token_hex(16)
    root = Path(opts.data_dir) if opts.data_dir else None
    temp = None if root is not None else tempfile.mkdtemp(prefix="edge-actors-demo-")
    base = root if root is not None else Path(str(temp))
    try:
        return await _run(opts, base, token, began, show_progress)
    finally:
        if temp is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(lambda: shutil.rmtree(temp, ignore_errors=True))


def _edge(name: str, base: Path, token: str) -> EdgeConfig:
    return EdgeConfig(
        name=name,
        data_dir=str(base / name),
        cluster_token=token,
        host="127.0.0.1",
        port=0,
        hold_timeout_s=30.0,
        shutdown_timeout_s=2.0,
    )


async def _run(
    opts: DemoOptions, base: Path, token: str, began: float, show_progress: bool
) -> DemoReport:
    corpus = Corpus()
    async with (
        EdgeDaemon(_edge(SOURCE, base, token)) as west,
        EdgeDaemon(_edge(TARGET, base, token)) as east,
    ):
        topology = Topology(
            {SOURCE: EdgeEndpoint(west.url, token), TARGET: EdgeEndpoint(east.url, token)}
        )
        defaults = ServiceDefaults(checkpoint_interval_s=1.0, sync_batch_size=1000)
        async with (
            HttpEdgeGateway(topology) as gateway,
            MigrationService(gateway, base / "supervisor", defaults=defaults) as service,
        ):
            if show_progress:
                write_out(
                    f"demo: {SOURCE} at {west.url}, {TARGET} at {east.url}; seeding "
                    f"{opts.records:,} records of {opts.value_bytes} B into {WORKLOAD!r}"
                )
            model = await seed(west.url, token, corpus, opts)
            seeded = await west.registry.get(WORKLOAD).stats()
            writer = Writer(west.url, token, corpus, model, opts)
            request: dict[str, Any] = {
                "source_edge": SOURCE,
                "target_edge": TARGET,
                "workloads": [WORKLOAD],
                "strategy": "live",
                "constraints": {"max_downtime": f"{opts.max_downtime_ms}ms"},
            }
            if opts.bandwidth_mbps is not None:
                request["bandwidth_limit_mbps"] = opts.bandwidth_mbps
            async with anyio.create_task_group() as tg:
                tg.start_soon(writer.run)
                if show_progress:
                    write_out(
                        f"demo: writer running at {opts.write_rate:g} writes/s; live migration "
                        f"{SOURCE} -> {TARGET} (max_downtime {opts.max_downtime_ms:g}ms)"
                    )
                plan = await service.plan(request)
                mid = plan.migration_id
                await service.execute(mid)
                display = ProgressDisplay() if show_progress else None
                with anyio.fail_after(opts.timeout_s):
                    while True:
                        progress = await service.progress(mid)
                        if display is not None:
                            display.update(progress)
                        if progress.state in _FINAL:
                            break
                        await anyio.sleep(0.1)
                if display is not None:
                    display.finish(progress)
                await anyio.sleep(opts.settle_s)
                writer.stop()
            status = await service.status(mid)
            metrics = await service.metrics(mid)
            assert isinstance(metrics, MigrationMetrics)  # one migration's metrics
            checkpoints = await service.checkpoints(mid)
        lost = await lost_writes(east.url, token, writer.acked)
        async with AdminClient(east.url, token) as admin:
            target_info = await admin.workload(WORKLOAD)
    expected = digest(model)
    last = checkpoints[-1].workloads.get(WORKLOAD) if checkpoints else None
    latencies = sorted(writer.latencies)
    elapsed = max(writer.stopped - writer.started, 1e-9)
    report = DemoReport(
        ok=False,
        reason=None,
        migration_id=mid,
        state=status.state,
        error=status.error,
        workload=WORKLOAD,
        source_edge=SOURCE,
        target_edge=TARGET,
        records_seeded=seeded.records,
        workload_bytes=seeded.bytes,
        duration_s=metrics.duration_s,
        phases_s=dict(metrics.phase_durations_s),
        records_moved=metrics.records,
        bytes_moved=metrics.bytes_raw,
        bytes_wire=metrics.bytes_wire,
        compression_ratio=metrics.compression_ratio,
        rounds=metrics.rounds,
        downtime_ms=metrics.max_downtime_ms,
        expected_downtime_ms=metrics.expected_downtime_ms.get(WORKLOAD),
        max_downtime_budget_ms=opts.max_downtime_ms,
        writes_acked=len(latencies),
        write_rate_achieved=len(latencies) / elapsed,
        write_stall_max_ms=latencies[-1] * 1000 if latencies else 0.0,
        write_stall_p99_ms=percentile(latencies, 99.0) * 1000 if latencies else 0.0,
        failed_requests=len(writer.failures),
        failures=writer.failures[:5],
        keys_verified=len(writer.acked),
        lost_writes=len(lost),
        digest_expected=expected,
        digest_target=target_info.digest,
        digest_validated_at_cutover=last.target_digest if last and last.validated else None,
        cutover_lsn=last.cutover_lsn if last else None,
        total_s=time.monotonic() - began,
    )
    report.reason = _verdict(report)
    report.ok = report.reason is None
    return report


def _verdict(r: DemoReport) -> str | None:
    if r.state != "completed":
        return f"migration ended {r.state}: {r.error or 'no error given'}"
    if r.failed_requests:
        return f"{r.failed_requests} write request(s) failed (first: {r.failures[0]})"
    if r.lost_writes:
        return f"{r.lost_writes} acknowledged write(s) lost on the target"
    if r.digest_expected != r.digest_target:
        return (
            f"digest mismatch: expected {r.digest_expected[:16]}..., "
            f"target {r.digest_target[:16]}..."
        )
    return None


def report_lines(r: DemoReport) -> list[str]:
    """The human-readable report."""
    phases = ", ".join(f"{name} {format_duration(s)}" for name, s in r.phases_s.items())
    expected = (
        f", expected {r.expected_downtime_ms:.1f}ms" if r.expected_downtime_ms is not None else ""
    )
    validated = (
        f"source == target at LSN {r.cutover_lsn} ({r.digest_validated_at_cutover[:16]}...)"
        if r.digest_validated_at_cutover
        else "not recorded"
    )
    match = "match" if r.digest_expected == r.digest_target else "MISMATCH"
    return [
        f"migration {r.migration_id}: {r.state} in {format_duration(r.duration_s)}",
        f"phases: {phases or 'none'}",
        f"workload: {r.records_seeded:,} records, {format_bytes(r.workload_bytes)} seeded",
        f"records moved: {r.records_moved:,}",
        f"bytes moved: {format_bytes(r.bytes_moved)} ({r.bytes_moved:,} B)",
        f"bytes on the wire: {format_bytes(r.bytes_wire)} ({r.bytes_wire:,} B)",
        f"compression ratio: {r.compression_ratio:.2f}",
        f"rounds: {r.rounds}",
        f"downtime (measured write hold): {r.downtime_ms:.1f}ms "
        f"(budget {r.max_downtime_budget_ms:g}ms{expected})",
        f"writes acknowledged: {r.writes_acked:,} ({r.write_rate_achieved:.0f}/s)",
        f"write stall: max {r.write_stall_max_ms:.1f}ms, p99 {r.write_stall_p99_ms:.1f}ms",
        f"failed requests: {r.failed_requests}",
        f"lost acknowledged writes: {r.lost_writes} (of {r.keys_verified:,} keys read back "
        "from the target)",
        f"digest expected (seed + acked writes): {r.digest_expected}",
        f"digest on the target:                  {r.digest_target} ({match})",
        f"validated at cutover: {validated}",
        f"total time: {format_duration(r.total_s)}",
        f"result: {'OK' if r.ok else 'FAILED: ' + (r.reason or '')}",
    ]


# -- command ----------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="live-migrate a workload under load between two embedded edges and verify it",
        description="Start two edges in this process, seed a workload, keep writing to it "
        "and live-migrate it; then verify that no request failed, no acknowledged write "
        "was lost and the digests match (exit 0 only then).",
    )
    one_line_errors(parser, "demo")
    parser.add_argument("--records", type=int, default=20_000, metavar="N", help="(20000)")
    parser.add_argument("--value-bytes", type=int, default=512, metavar="B", help="(512)")
    parser.add_argument(
        "--write-rate", type=float, default=500.0, metavar="W", help="writes/s during it (500)"
    )
    parser.add_argument(
        "--bandwidth-mbps", type=float, metavar="X", help="link limit in Mbit/s (unlimited)"
    )
    parser.add_argument("--data-dir", metavar="DIR", help="keep data here (default: temp dir)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument(
        "--log-level",
        default=None,
        type=str.lower,
        choices=LOG_LEVELS,
        help="debug, info, warning (default), error",
    )
    parser.set_defaults(run=run)


def _options(args: argparse.Namespace) -> DemoOptions:
    if args.records < 1:
        raise ConfigError(f"--records: expected >= 1, got {args.records}")
    if not 64 <= args.value_bytes <= 1 << 20:
        raise ConfigError(f"--value-bytes: expected 64..1048576, got {args.value_bytes}")
    if not 0 < args.write_rate <= 100_000:
        raise ConfigError(f"--write-rate: expected 0 < W <= 100000, got {args.write_rate}")
    if args.bandwidth_mbps is not None and not (
        math.isfinite(args.bandwidth_mbps) and args.bandwidth_mbps > 0
    ):
        raise ConfigError(f"--bandwidth-mbps: expected > 0, got {args.bandwidth_mbps}")
    return DemoOptions(
        records=args.records,
        value_bytes=args.value_bytes,
        write_rate=args.write_rate,
        bandwidth_mbps=args.bandwidth_mbps,
        data_dir=args.data_dir,
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo; exit code 0 only for a completed, lossless, verified migration."""
    opts = _options(args)
    configure_default_logging(args.log_level, strict=True)
    backend_options = {"use_uvloop": importlib.util.find_spec("uvloop") is not None}
    try:
        report = anyio.run(
            lambda: run_demo(opts, show_progress=not args.json),
            backend="asyncio",
            backend_options=backend_options,
        )
    except KeyboardInterrupt:
        write_error("demo", "interrupted")
        return 130
    except TimeoutError:
        write_error("demo", "the migration did not finish in time")
        return 1
    if args.json:
        write_json(report)
    else:
        write_out(*report_lines(report))
    if not report.ok:
        write_error("demo", report.reason or "failed")
        return 1
    return 0
