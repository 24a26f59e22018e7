"""The failover harness: two edges, two supervisor replicas on PostgreSQL, a writer, a kill.

Shared by the CI trials (``tests/ha/test_failover.py``) and the benchmark
(``benchmarks/failover.py``). Each trial runs four ``edge-actors daemon`` subprocesses
(edges ``edge-west`` and ``edge-east``; replicas ``sup-a`` and ``sup-b`` with
``--supervisor --journal postgresql://...``) against a real PostgreSQL server, seeds a
workload on the source, starts a writer through the source for the whole trial, plans
and executes a live migration *through the follower* (forwarded to the leader), waits
until the journal (read on the follower) shows the phase aimed at, and ``kill -9``s the
leader. ``cutover`` uses the source's pause hook (``EDGE_ACTORS_TEST_PAUSE_AT``): the
leader is killed while the source waits inside the cutover, after the target was
activated, then the source goes on.

Measured: the takeover time (from the kill until the survivor answers ``role: leader``
on ``/admin/supervisor``), then, once the migration settled: every acknowledged write
readable with its value from the owner, exactly one active copy, and the history naming
both leaders. Randomness (values, writer) is seeded.
"""

from __future__ import annotations

import contextlib
import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from edge_actors.edge import AdminClient, EdgeClient, MigrationClient
from faults._harness import TOKEN, WORKLOAD, Daemon, Writer, plan_migration, seed_workload
from faults._harness import _state as _state

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from edge_actors.edge._supervisor_host import SupervisorStatus

PHASES = ("planning", "sync", "cutover", "validation", "cleanup")
TERMINAL = frozenset(("completed", "failed", "rolled_back", "cancelled"))
_ORDER = ("planned", "queued", "planning", "pre_sync", "sync", "cutover", "validation", "cleanup")


@dataclass
class FailoverOutcome:
    """What one trial measured."""

    phase: str
    killed_in: str = "unknown"
    state: str = "unknown"
    error: str | None = None
    takeover_s: float | None = None
    acked: int = 0
    lost: int = 0
    active_copies: int = 0
    leaders: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def two_active(self) -> bool:
        """Whether more than one copy accepts writes."""
        return self.active_copies > 1

    def problems(self) -> list[str]:
        """What went wrong, in words (empty: the trial passed)."""
        out = []
        if self.state != "completed":
            out.append(f"migration ended {self.state}: {self.error}")
        if self.takeover_s is None:
            out.append("no takeover")
        if self.lost:
            out.append(f"{self.lost} acknowledged writes lost")
        if self.active_copies != 1:
            out.append(f"{self.active_copies} active copies")
        if len(set(self.leaders)) < 2:
            out.append(f"history names leaders {self.leaders}")
        return out


@dataclass
class HaCluster:
    """The daemons of one trial."""

    west: Daemon
    east: Daemon
    replicas: tuple[Daemon, Daemon]
    pause_file: Path

    def all(self) -> tuple[Daemon, ...]:
        return (self.west, self.east, *self.replicas)


async def supervisor_status(daemon: Daemon, timeout: float = 2.0) -> SupervisorStatus | None:
    """``GET /admin/supervisor`` of ``daemon`` (``None``: it does not answer)."""
    try:
        async with MigrationClient(daemon.url, TOKEN, timeout=timeout) as client:
            return await client.supervisor()
    except Exception:  # down, stopped or starting: no answer
        return None


async def wait_leader(daemon: Daemon, timeout: float = 30.0) -> float:
    """Wait until ``daemon`` answers ``role: leader``; return when (monotonic)."""
    with anyio.fail_after(timeout):
        while True:
            status = await supervisor_status(daemon)
            if status is not None and status.role == "leader":
                return time.monotonic()
            await anyio.sleep(0.02)


@contextlib.asynccontextmanager
async def ha_cluster(root: Path, journal: str, *, pause_cutover: bool) -> AsyncIterator[HaCluster]:
    """Start two edges and two replicas (``sup-a`` first, so it leads); kill all at exit."""
    pause_file = root / "cutover.pause"
    hook = (
        {
            "EDGE_ACTORS_TEST_PAUSE_AT": "target_activated",
            "EDGE_ACTORS_TEST_PAUSE_FILE": str(pause_file),
        }
        if pause_cutover
        else {}
    )
    west = Daemon(root, "edge-west", "--hold-timeout", "5s", env=hook)
    east = Daemon(root, "edge-east", "--hold-timeout", "5s")
    topology = root / "topology.toml"
    topology.write_text(
        "".join(f'[edges.{d.name}]\nurl = "{d.url}"\ntoken = "{TOKEN}"\n\n' for d in (west, east))
    )
    args = ("--supervisor", "--topology", str(topology), "--journal", journal)
    replicas = (Daemon(root, "sup-a", *args), Daemon(root, "sup-b", *args))
    cluster = HaCluster(west, east, replicas, pause_file)
    try:
        await west.start()
        await east.start()
        await replicas[0].start()
        await wait_leader(replicas[0])
        await replicas[1].start()
        yield cluster
    finally:
        with anyio.CancelScope(shield=True):
            pause_file.touch()
            for daemon in cluster.all():
                await daemon.kill()


async def _aim(cluster: HaCluster, follower: Daemon, mid: str, phase: str) -> str:
    """Wait until the migration is where the kill is aimed; return the state seen then."""
    if phase == "planning":
        return (await _state(follower, mid))[0]  # right after execute: queued or planning
    if phase == "cutover":
        reached = cluster.pause_file.with_name(cluster.pause_file.name + ".reached")
        with anyio.fail_after(60):
            while not reached.exists():
                await anyio.sleep(0.01)
        return "cutover"
    with anyio.fail_after(60):
        while True:
            state, _ = await _state(follower, mid)
            if state == phase or state in TERMINAL:
                return state
            if state in _ORDER and _ORDER.index(state) > _ORDER.index(phase):
                return state
            await anyio.sleep(0.005)


async def settle(daemon: Daemon, mid: str, timeout: float) -> tuple[str, str | None]:
    """Wait until the migration is terminal (bounded); return its state and error."""
    state, error = "unknown", None
    with anyio.move_on_after(timeout):
        while (state_error := await _state(daemon, mid))[0] not in TERMINAL:
            await anyio.sleep(0.1)
        state, error = state_error
    return state, error


async def run_failover(
    root: Path,
    journal: str,
    phase: str,
    *,
    seed: int,
    records: int = 3000,
    bandwidth_mbps: float = 4.0,
    settle_s: float = 90.0,
) -> FailoverOutcome:
    """One trial: cluster, seed, writer, migration via the follower, kill -9 the leader."""
    started = time.monotonic()
    outcome = FailoverOutcome(phase)
    async with ha_cluster(root, journal, pause_cutover=phase == "cutover") as cluster:
        leader, follower = cluster.replicas
        await seed_workload(cluster.west.local_url, records, seed)
        writer = Writer(cluster.west.local_url, seed)
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer.run)
            mid = await plan_migration(follower, bandwidth_mbps)  # forwarded to the leader
            outcome.killed_in = await _aim(cluster, follower, mid, phase)
            killed_at = time.monotonic()
            leader.signal(signal.SIGKILL)
            await leader.wait()
            if phase == "cutover":
                cluster.pause_file.touch()  # the source finishes its step on its own
            outcome.takeover_s = await wait_leader(follower, timeout=30) - killed_at
            outcome.state, outcome.error = await settle(follower, mid, settle_s)
            await writer_more(writer)
            tg.cancel_scope.cancel()
        await check(cluster, follower, mid, writer, outcome)
    outcome.seconds = time.monotonic() - started
    return outcome


async def writer_more(writer: Writer, more: int = 20, timeout: float = 10.0) -> None:
    """Let the writer acknowledge ``more`` writes after the migration settled."""
    target = len(writer.acked) + more
    with anyio.move_on_after(timeout):
        while len(writer.acked) < target:
            await anyio.sleep(0.02)


async def check(
    cluster: HaCluster, survivor: Daemon, mid: str, writer: Writer, outcome: FailoverOutcome
) -> None:
    """Fill ``outcome`` with lost writes, active copies and the leaders in the history."""
    active = []
    for edge in (cluster.west, cluster.east):
        async with AdminClient(edge.url, TOKEN, timeout=5.0) as admin:
            with contextlib.suppress(Exception):  # gone from this edge: not active here
                if (await admin.workload(WORKLOAD)).status == "active":
                    active.append(edge)
    outcome.active_copies = len(active)
    owner = active[0] if active else cluster.west
    outcome.acked = len(writer.acked)
    async with EdgeClient(owner.url, timeout=10.0, token=TOKEN) as client:
        for key, value in writer.acked.items():
            try:
                got = await client.get(WORKLOAD, key)
            except Exception:  # unreadable counts as lost
                got = None
            if got != value:
                outcome.lost += 1
    async with MigrationClient(survivor.url, TOKEN, timeout=5.0) as client:
        history = await client.history(mid)
    prefix = "driven by supervisor leader "
    outcome.leaders = [e.detail[len(prefix) :] for e in history if e.detail.startswith(prefix)]
