"""The fault-injection harness: real daemons, a writer throughout, a fault, the checks.

Shared by the CI trials (``tests/faults/``) and the long matrix (``benchmarks/faults.py``).
Each trial runs three ``edge-actors daemon`` subprocesses (source edge, target edge, and a
supervisor daemon whose topology names both), seeds a workload on the source, starts a
writer that writes unique keys through the source for the whole trial (an acknowledged
write is recorded with its value), plans a live migration through the supervisor's
admin API, waits until the supervisor's status API reports the phase the fault is aimed
at, and injects the fault into one process:

- ``kill9``: SIGKILL, then restart on the same data directory and port (after ``down_s``);
- ``term``: SIGTERM (graceful stop), then restart the same way;
- ``stop``: SIGSTOP for ``stop_s`` seconds, then SIGCONT;
- ``partition``: the target's veth link down for ``stop_s`` seconds (:mod:`._injectors`);
- ``disk_full``: the target's tmpfs data disk filled for ``stop_s`` seconds, then freed;
- ``link_cut``: every connection to the target (the supervisor's admin calls, the
  source's peer stream, forwarded writes: all go through a TCP proxy) reset, and new ones
  cut at once, for ``stop_s`` seconds.

After the fault it waits (bounded) for the migration to settle and checks the
invariants of issue 10: every acknowledged write readable with its acknowledged value
from the owner, exactly one active copy, no hold left, every daemon serving, the
migration out of its running states within the bound, and ``validated`` backed by a
recorded target digest. Randomness (the value bytes, the fault delay) is seeded.

Over 500 lines: the daemons, the writer, the outcome and its checks, and the landing of a
fault (polling or the pause hook) are one trial's parts and change together; the faults
below the process level live in :mod:`._injectors`.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

import anyio

from edge_actors._test_hooks import PAUSE_AT_ENV, PAUSE_FILE_ENV
from edge_actors.edge import AdminClient, EdgeClient, MigrationClient
from edge_actors.migration._models import TERMINAL_STATES, Phase

from ._injectors import LinkProxy, Partition, SmallDisk
from ._injectors import disk_unavailable as disk_unavailable
from ._injectors import partition_unavailable as partition_unavailable

if TYPE_CHECKING:
    from pathlib import Path

TOKEN = "faults-suite-token-0123456789abcdefghij"
WORKLOAD = "ledger"
Fault = Literal["kill9", "term", "stop", "partition", "disk_full", "link_cut"]
Role = Literal["source", "target", "supervisor"]
FAULTS: tuple[Fault, ...] = ("kill9", "term", "stop", "partition", "disk_full", "link_cut")
TARGET_ONLY: frozenset[Fault] = frozenset(("partition", "disk_full", "link_cut"))
"""Faults that always hit the target (a cut link to it, its full disk, its connections
reset)."""
ROLES: tuple[Role, ...] = ("source", "target", "supervisor")
PHASES = (
    "sync",
    "retiring_marked",
    "activating",
    "target_activated",
    "source_flipped",
    "validation",
)
HOOKED: dict[str, tuple[Role, str]] = {
    "retiring_marked": ("source", "retiring_marked"),
    "activating": ("target", "activating"),
    "target_activated": ("source", "target_activated"),
    "source_flipped": ("source", "source_flipped"),
    "validation": ("supervisor", "validating"),
}
"""Phases landed by the pause hook (``edge_actors._test_hooks``): the daemon that pauses
and its step. ``retiring_marked``: the source's ``retiring_to`` mark is durable, writes
are not held yet (still served by the source); ``activating``: the target got the
activation, has not acted on it;
``target_activated``: the target is active, the source holds writes and has not flipped;
``source_flipped``: the source flipped and released its held writes (forwarded to the
target from here on); ``validation``: the supervisor is about to compare digests. Other
phases are aimed at by polling the status API."""
RUNNING = frozenset(
    ("planned", "queued", "planning", "pre_sync", "sync", "cutover", "validation", "cleanup")
)
"""States in which a migration is still moving by itself (``paused`` and ``rolling_back``
count as settled only when nothing drives them any more: see :func:`settle`)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_ACTORS_")}
    env["EDGE_ACTORS_CLUSTER_TOKEN"] = TOKEN
    return env


class Daemon:
    """One ``edge-actors daemon`` subprocess on a fixed port, restartable on its data dir.

    Its stdout and stderr go to files next to (not inside) the data directory, so a full
    data disk cannot silence its log.
    """

    def __init__(
        self,
        root: Path,
        name: str,
        *extra: str,
        data_dir: Path | None = None,
        host: str = "127.0.0.1",
        advertise: str | None = None,
        netns: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.env = env or {}
        self.port = _free_port()
        self.host = host
        self.netns = netns
        self.url = f"http://{advertise or host}:{self.port}"
        """The URL the other daemons (the topology) use."""
        self.local_url = self.url if host != "0.0.0.0" else f"http://127.0.0.1:{self.port}"
        """The URL this process (the writer) uses: unaffected by a partition."""
        self.data_dir = data_dir if data_dir is not None else root / name
        self.stdout = root / f"{name}.stdout"
        self.stderr = root / f"{name}.stderr"
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    async def start(self) -> None:
        """Start the daemon and wait until it reports it listens (30 s bound)."""
        mark = self.stdout.stat().st_size if self.stdout.exists() else 0
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        args = [
            *prefix, sys.executable, "-m", "edge_actors.cli", "daemon", "--name", self.name,
            "--host", self.host, "--port", str(self.port), "--data-dir", str(self.data_dir),
            *self.extra,
        ]  # fmt: skip
        with self.stdout.open("ab") as out, self.stderr.open("ab") as err:
            # Popen only forks: the daemon is awaited below, and must outlive any one task.
            env = {**_env(), **self.env}
            self.process = subprocess.Popen(args, stdout=out, stderr=err, env=env)  # noqa: ASYNC220
        self.starts += 1
        with anyio.fail_after(30):
            while True:
                text = self.stdout.read_bytes()[mark:]
                if b" listening on " in text:
                    return
                if self.process.poll() is not None:
                    raise RuntimeError(f"daemon {self.name} exited {self.process.returncode}")
                await anyio.sleep(0.05)

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the daemon."""
        assert self.process is not None
        self.process.send_signal(signum)

    async def wait(self, timeout: float = 30.0) -> int:
        """Wait for the daemon to exit; return its exit code."""
        assert self.process is not None
        with anyio.fail_after(timeout):
            while self.process.poll() is None:
                await anyio.sleep(0.02)
        return self.process.returncode

    async def kill(self) -> None:
        """SIGKILL (if running) and reap."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            await self.wait()

    def log_text(self) -> str:
        """The daemon's stderr (its log) so far."""
        return self.stderr.read_text(errors="replace") if self.stderr.exists() else ""


@dataclass
class Writer:
    """Writes unique keys through one client for as long as it runs; records every ack."""

    url: str
    seed: int
    acked: dict[str, bytes] = field(default_factory=dict)
    failed: int = 0
    attempts: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    max_latency_s: float = 0.0

    async def run(self, interval_s: float = 0.005) -> None:
        """Write until cancelled (one write at a time; each key is written once)."""
        rng = random.Random(self.seed)
        async with EdgeClient(self.url, timeout=10.0, token=TOKEN) as client:
            while True:
                key = f"w{self.attempts:07d}"
                value = rng.randbytes(64)
                self.attempts += 1
                started = time.monotonic()
                try:
                    await client.put(WORKLOAD, key, value)
                except Exception as exc:  # any refusal or outage: not acknowledged
                    self.failed += 1
                    name = type(exc).__name__
                    self.errors[name] = self.errors.get(name, 0) + 1
                    await anyio.sleep(0.05)
                else:
                    self.acked[key] = value
                    self.max_latency_s = max(self.max_latency_s, time.monotonic() - started)
                await anyio.sleep(interval_s)


@dataclass
class Outcome:
    """What one trial ended with (the checks of issue 10)."""

    fault: str
    role: str
    phase: str
    state: str = "unknown"
    error: str | None = None
    acked: int = 0
    lost: int = 0
    divergent: int = 0
    active_copies: int = 0
    holds: int = 0
    not_serving: list[str] = field(default_factory=list)
    non_terminal: bool = False
    validated_without_digest: int = 0
    max_hold_ms: float = 0.0
    cutover_attempts: int = 0
    max_write_ms: float = 0.0
    fault_landed: bool = True
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every invariant held."""
        return (
            self.lost == 0
            and self.divergent == 0
            and self.active_copies == 1
            and self.holds == 0
            and not self.not_serving
            and not self.non_terminal
            and self.validated_without_digest == 0
        )

    @property
    def rollback_failed(self) -> bool:
        """Whether the migration ended ``failed: rollback failed`` (final today; issue 10
        wants it retried until the edges answer)."""
        return self.state == "failed" and (self.error or "").startswith("rollback failed")

    def problems(self) -> list[str]:
        """The invariants that failed, in words."""
        out = []
        if self.lost:
            out.append(f"{self.lost} acknowledged writes lost")
        if self.divergent:
            out.append(f"{self.divergent} writes read back a different value")
        if self.active_copies != 1:
            out.append(f"{self.active_copies} active copies")
        if self.holds:
            out.append(f"{self.holds} holds left")
        if self.not_serving:
            out.append(f"not serving: {', '.join(self.not_serving)}")
        if self.non_terminal:
            out.append(f"migration not settled ({self.state})")
        if self.validated_without_digest:
            out.append("validated without a digest")
        return out


@dataclass
class Cluster:
    """Source, target and supervisor daemons of one trial."""

    source: Daemon
    target: Daemon
    supervisor: Daemon
    partition: Partition | None = None
    disk: SmallDisk | None = None
    link: LinkProxy | None = None

    def by_role(self, role: Role) -> Daemon:
        """The daemon playing ``role``."""
        return {"source": self.source, "target": self.target, "supervisor": self.supervisor}[role]

    def all(self) -> tuple[Daemon, Daemon, Daemon]:
        """Every daemon."""
        return self.source, self.target, self.supervisor


@contextlib.asynccontextmanager
async def cluster(
    root: Path,
    hold_timeout: str = "3s",
    partition: Partition | None = None,
    disk: SmallDisk | None = None,
    hooks: dict[Role, dict[str, str]] | None = None,
    link: LinkProxy | None = None,
) -> contextlib.AsyncIterator[Cluster]:
    """Start source, target and supervisor daemons under ``root``; kill them all at exit.

    With ``partition``, the target runs in its namespace and the source listens on every
    interface (the target reaches it at the pair's root address). ``hooks``: extra
    environment (the pause hook) of the daemon playing a role, kept across its restarts.
    With ``link``, the topology reaches the target through that proxy.
    """
    hooks = hooks or {}
    edge_args = ("--hold-timeout", hold_timeout)
    if partition is None:
        source = Daemon(root, "edge-west", *edge_args, env=hooks.get("source"))
        target = Daemon(
            root,
            "edge-east",
            *edge_args,
            data_dir=disk.path / "data" if disk else None,
            env=hooks.get("target"),
        )
        if disk is not None:
            disk.mount()
    else:
        partition.create()
        source = Daemon(
            root, "edge-west", *edge_args, host="0.0.0.0", advertise=partition.root_ip,
            env=hooks.get("source"),
        )  # fmt: skip
        target = Daemon(
            root, "edge-east", *edge_args, host=partition.ns_ip, netns=partition.ns,
            env=hooks.get("target"),
        )  # fmt: skip
    urls = {source.name: source.url, target.name: target.url}
    if link is not None:
        await link.start(target.host, target.port)
        urls[target.name] = link.url
    topology = root / "topology.toml"
    topology.write_text(
        "".join(
            f'[edges.{name}]\nurl = "{url}"\ntoken = "{TOKEN}"\n\n' for name, url in urls.items()
        )
    )
    supervisor = Daemon(
        root, "supervisor", "--supervisor", "--topology", str(topology),
        env=hooks.get("supervisor"),
    )  # fmt: skip
    trio = Cluster(source, target, supervisor, partition, disk, link)
    try:
        for daemon in trio.all():
            await daemon.start()
        yield trio
    finally:
        with anyio.CancelScope(shield=True):
            for daemon in trio.all():
                await daemon.kill()
            if partition is not None:
                partition.delete()
            if disk is not None:
                disk.unmount()


async def seed_workload(url: str, records: int, seed: int) -> None:
    """Create :data:`WORKLOAD` on ``url`` with ``records`` 1 KiB records."""
    rng = random.Random(seed)
    async with AdminClient(url, TOKEN) as admin:
        await admin.create_workload(WORKLOAD)
    async with EdgeClient(url, token=TOKEN) as client:
        for start in range(0, records, 500):
            ops: list[tuple[str, bytes | None]] = [
                (f"s{i:06d}", rng.randbytes(1024)) for i in range(start, min(records, start + 500))
            ]
            await client.batch(WORKLOAD, ops)


async def plan_migration(sup: Daemon, bandwidth_mbps: float) -> str:
    """Plan and execute (with automatic rollback) a live migration west -> east."""
    request = {
        "source_edge": "edge-west",
        "target_edge": "edge-east",
        "workloads": [WORKLOAD],
        "constraints": {"max_downtime": "300ms"},
        "bandwidth_limit_mbps": bandwidth_mbps,
        "sync_batch_size": 100,
        "checkpoint_interval": 0.2,
    }
    async with MigrationClient(sup.url, TOKEN) as client:
        plan = await client.plan(request, execute=True, auto_rollback=True)
    return plan.migration_id


async def _state(sup: Daemon, mid: str) -> tuple[str, str | None]:
    """The migration's state and error (``unreachable`` when the supervisor is down)."""
    try:
        async with MigrationClient(sup.url, TOKEN, timeout=2.0) as client:
            status = await client.status(mid)
    except Exception:  # down, stopped or restarting: ask again later
        return "unreachable", None
    return status.state, status.error


async def wait_for_state(sup: Daemon, mid: str, wanted: str, timeout: float) -> bool:
    """Poll the supervisor's status API until ``mid`` is in ``wanted`` (``False``: it
    went past it, settled first, or the bound ran out)."""
    order = ("planned", "queued", *get_args(Phase))
    with anyio.move_on_after(timeout):
        while True:
            state, _ = await _state(sup, mid)
            if state == wanted:
                return True
            if state in order and order.index(state) > order.index(wanted):
                return False
            if state not in RUNNING and state != "unreachable":
                return False
            await anyio.sleep(0.01)
    return False


async def wait_for_pause(sup: Daemon, mid: str, reached: Path, timeout: float) -> bool:
    """Wait until a daemon paused at its hooked step (``reached`` exists); ``False`` when
    the migration settled first or the bound ran out."""
    mark = anyio.Path(reached)
    with anyio.move_on_after(timeout):
        while not await mark.exists():
            state, _ = await _state(sup, mid)
            if await mark.exists():
                break
            if state not in RUNNING and state not in ("unreachable", "failed"):
                return False
            await anyio.sleep(0.01)
        return True
    return False


async def inject(
    trio: Cluster, role: Role, fault: Fault, stop_s: float, down_s: float = 0.0
) -> None:
    """Inject ``fault`` into the daemon playing ``role`` and bring it back (a partition
    always cuts the target off, whatever ``role`` says); a killed or stopped daemon stays
    down ``down_s`` seconds before its restart (an edge restart that takes that long)."""
    daemon = trio.by_role(role)
    if fault == "partition":
        assert trio.partition is not None
        trio.partition.cut()
        await anyio.sleep(stop_s)  # the fault is the outage itself
        trio.partition.heal()
    elif fault == "link_cut":
        assert trio.link is not None
        await trio.link.cut()
        await anyio.sleep(stop_s)  # the fault is the outage itself
        trio.link.heal()
    elif fault == "disk_full":
        assert trio.disk is not None
        await anyio.to_thread.run_sync(trio.disk.fill)
        await anyio.sleep(stop_s)  # the fault is the full disk itself
        trio.disk.free()
    elif fault in ("kill9", "term"):
        daemon.signal(signal.SIGKILL if fault == "kill9" else signal.SIGTERM)
        await daemon.wait()
        await anyio.sleep(down_s)  # the outage is the fault: nothing to wait on
        await daemon.start()
    else:
        daemon.signal(signal.SIGSTOP)
        await anyio.sleep(stop_s)  # the fault is the pause itself: longer than the lease
        daemon.signal(signal.SIGCONT)


async def _inject_at_pause(
    trio: Cluster, role: Role, fault: Fault, paused: Role, go: Path, stop_s: float, down_s: float
) -> None:
    """The fault while ``paused`` waits at its step. A kill or stop of that very daemon
    lands while it waits (deterministic), and it goes on after the fault (a SIGTERM: as
    it stops, the way a graceful stop lets the step finish); a fault on
    another daemon (or the network, a disk) lands as the paused one goes on, so the pause
    does not stretch a hold by the fault's length."""
    hits_paused = fault not in TARGET_ONLY and role == paused
    if hits_paused and fault == "term":
        # A graceful stop lets the step go on, as it would have unpaused: held here, the
        # pause would stretch the stop (and the source's hold) to the daemon's own
        # shutdown bound.
        daemon = trio.by_role(role)
        daemon.signal(signal.SIGTERM)
        await anyio.Path(go).touch()
        await daemon.wait()
        await anyio.sleep(down_s)  # the outage is the fault: nothing to wait on
        await daemon.start()
        return
    if not hits_paused:
        await anyio.Path(go).touch()
    await inject(trio, role, fault, stop_s=stop_s, down_s=down_s)
    await anyio.Path(go).touch()


async def settle(sup: Daemon, mid: str, timeout: float) -> tuple[str, str | None, bool]:
    """Wait until ``mid`` leaves the running states (bounded); return state, error and
    whether it settled. A migration ``failed`` with automatic rollback moves on to
    ``rolling_back``: it has settled only in a state nothing drives any more."""
    state, error = "unreachable", None
    failed_since: float | None = None
    with anyio.move_on_after(timeout):
        while True:
            state, error = await _state(sup, mid)
            if state in TERMINAL_STATES:
                return state, error, True
            if state != "failed":
                failed_since = None
            elif failed_since is None:
                failed_since = time.monotonic()
            elif time.monotonic() - failed_since >= 3.0:  # no rollback follows any more
                return state, error, True
            await anyio.sleep(0.1)
    return state, error, False


async def check(trio: Cluster, mid: str, writer: Writer, outcome: Outcome) -> None:
    """Fill ``outcome`` with the invariants' figures (after the migration settled)."""
    infos = {}
    for daemon in trio.all():
        try:
            async with AdminClient(daemon.url, TOKEN, timeout=5.0) as admin:
                await admin.health()
                if daemon is not trio.supervisor:
                    infos[daemon.name] = await admin.workload(WORKLOAD)
        except Exception:  # unreachable, or the workload is gone from this edge
            if daemon is trio.supervisor or (await _serving(daemon)) is False:
                outcome.not_serving.append(daemon.name)
    active = [name for name, info in infos.items() if info.status == "active"]
    outcome.active_copies = len(active)
    outcome.holds = sum(1 for info in infos.values() if info.held or info.cutover)
    owner = trio.target if active == [trio.target.name] else trio.source
    outcome.acked = len(writer.acked)
    outcome.max_write_ms = writer.max_latency_s * 1000
    async with EdgeClient(owner.url, timeout=10.0, token=TOKEN) as client:
        for key, value in writer.acked.items():
            try:
                got = await client.get(WORKLOAD, key)
            except Exception:  # unreadable counts as lost
                got = None
            if got is None:
                outcome.lost += 1
            elif got != value:
                outcome.divergent += 1
    try:
        async with MigrationClient(trio.supervisor.url, TOKEN, timeout=5.0) as client:
            metrics = await client.metrics(mid)
            checkpoints = await client.checkpoints(mid)
    except Exception:  # the supervisor is not serving: already counted above
        return
    # Every cutover attempt's hold, undone ones included (a successful one's alone is
    # max_downtime_ms).
    outcome.max_hold_ms = max(metrics.max_downtime_ms, metrics.downtime_worst_ms)
    outcome.cutover_attempts = metrics.cutover_attempts
    if checkpoints:
        last = checkpoints[-1]
        outcome.validated_without_digest = sum(
            1 for wc in last.workloads.values() if wc.validated and wc.target_digest is None
        )


async def _serving(daemon: Daemon) -> bool:
    try:
        async with AdminClient(daemon.url, TOKEN, timeout=5.0) as admin:
            await admin.health()
    except Exception:  # not answering
        return False
    return True


async def run_trial(
    root: Path,
    fault: Fault,
    role: Role,
    phase: str,
    *,
    seed: int,
    records: int = 3000,
    bandwidth_mbps: float = 4.0,
    settle_s: float = 60.0,
    stop_s: float = 4.0,
    down_s: float = 0.0,
) -> Outcome:
    """One trial: cluster, seed, writer, migration, the fault at ``phase``, the checks."""
    started = time.monotonic()
    outcome = Outcome(fault, role, phase)
    partition = Partition(os.getpid() + seed) if fault == "partition" else None
    disk = SmallDisk(root / "east-disk") if fault == "disk_full" else None
    hook = HOOKED.get(phase)
    go = root / "go"
    hooks = {hook[0]: {PAUSE_AT_ENV: hook[1], PAUSE_FILE_ENV: str(go)}} if hook else {}
    async with anyio.create_task_group() as links:
        link = LinkProxy(links) if fault == "link_cut" else None
        async with cluster(root, partition=partition, disk=disk, hooks=hooks, link=link) as trio:
            await _fault_under_writes(
                trio, outcome, fault, role, go, seed=seed, records=records,
                bandwidth_mbps=bandwidth_mbps, settle_s=settle_s, stop_s=stop_s, down_s=down_s,
            )  # fmt: skip
        links.cancel_scope.cancel()  # the proxy, if any
    outcome.seconds = time.monotonic() - started
    return outcome


async def _fault_under_writes(
    trio: Cluster,
    outcome: Outcome,
    fault: Fault,
    role: Role,
    go: Path,
    *,
    seed: int,
    records: int,
    bandwidth_mbps: float,
    settle_s: float,
    stop_s: float,
    down_s: float,
) -> None:
    """Seed, write throughout, migrate, inject ``outcome``'s fault at its phase, settle,
    then fill ``outcome`` with the checks."""
    phase = outcome.phase
    rng = random.Random(seed)
    hook = HOOKED.get(phase)
    await seed_workload(trio.source.local_url, records, seed)
    writer = Writer(trio.source.local_url, seed)
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run)
        mid = await plan_migration(trio.supervisor, bandwidth_mbps)
        if hook is None:
            landed = await wait_for_state(trio.supervisor, mid, phase, timeout=60)
        else:
            landed = await wait_for_pause(trio.supervisor, mid, go.with_suffix(".reached"), 60)
        outcome.fault_landed = landed
        if landed and hook is None:
            await anyio.sleep(rng.uniform(0.0, 0.05))
            await inject(trio, role, fault, stop_s=stop_s, down_s=down_s)
        elif landed and hook is not None:
            await _inject_at_pause(trio, role, fault, hook[0], go, stop_s, down_s)
        await anyio.Path(go).touch()  # a hook not reached (missed) never waits
        state, error, settled = await settle(trio.supervisor, mid, settle_s)
        await anyio.sleep(0.5)  # the writer goes on past the settled state
        tg.cancel_scope.cancel()
    outcome.state, outcome.error, outcome.non_terminal = state, error, not settled
    await check(trio, mid, writer, outcome)
