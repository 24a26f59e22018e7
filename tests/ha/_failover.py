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
from typing import TYPE_CHECKING, Literal

import anyio

from edge_actors.edge import AdminClient, EdgeClient, EdgeHTTPError, MigrationClient
from faults._harness import TOKEN, WORKLOAD, Daemon, Writer, plan_migration, seed_workload
from faults._harness import _state as _state

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from edge_actors.edge._supervisor_host import SupervisorStatus
    from faults._injectors import Partition

    from ._network import ShapedNetwork

PHASES = ("planning", "sync", "cutover", "validation", "cleanup")
Fault = Literal["kill9", "stop", "partition"]
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
    stood_down_s: float | None = None
    stale_refused: bool | None = None
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
async def ha_cluster(
    root: Path,
    journal: str,
    *,
    pause_cutover: bool,
    partition: Partition | None = None,
    journal_in_ns: str | None = None,
    network: ShapedNetwork | None = None,
) -> AsyncIterator[HaCluster]:
    """Start two edges and two replicas (``sup-a`` first, so it leads); kill all at exit.

    With ``partition``, ``sup-a`` runs in the partition's namespace and reaches the
    journal at ``journal_in_ns`` and the edges (listening on every interface) at the
    pair's root address, so cutting the link cuts it from the database and the edges.
    With ``network``, every daemon runs in its own namespace of it (created by the caller).
    """
    pause_file = root / "cutover.pause"
    hook = {}
    if pause_cutover:
        hook = {
            "EDGE_ACTORS_TEST_PAUSE_AT": "target_activated",
            "EDGE_ACTORS_TEST_PAUSE_FILE": str(pause_file),
        }
    host, advertise = "127.0.0.1", None
    if partition is not None:
        partition.create()
        host, advertise = "0.0.0.0", partition.root_ip

    def node(name: str, *args: str, env: dict[str, str] | None = None) -> Daemon:
        if network is not None:
            return Daemon(root, name, *args, env=env, host=network.ip(name), netns=network.ns(name))
        return Daemon(root, name, *args, env=env, host=host, advertise=advertise)

    west = node("edge-west", "--hold-timeout", "5s", env=hook)
    east = node("edge-east", "--hold-timeout", "5s")
    topology = root / "topology.toml"
    topology.write_text(
        "".join(f'[edges.{d.name}]\nurl = "{d.url}"\ntoken = "{TOKEN}"\n\n' for d in (west, east))
    )
    args = ("--supervisor", "--topology", str(topology), "--journal")
    if partition is None:
        sup_a = node("sup-a", *args, journal)
    else:
        sup_a = Daemon(
            root, "sup-a", *args, journal_in_ns or journal, host=partition.ns_ip, netns=partition.ns
        )
    cluster = HaCluster(west, east, (sup_a, node("sup-b", *args, journal)), pause_file)
    try:
        await west.start()
        await east.start()
        await sup_a.start()
        await wait_leader(sup_a)
        await cluster.replicas[1].start()
        yield cluster
    finally:
        with anyio.CancelScope(shield=True):
            pause_file.touch()
            for daemon in cluster.all():
                await daemon.kill()
            if partition is not None:
                partition.delete()


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
    fault: Fault = "kill9",
    records: int = 3000,
    bandwidth_mbps: float = 4.0,
    settle_s: float = 90.0,
    partition: Partition | None = None,
    journal_in_ns: str | None = None,
    network: ShapedNetwork | None = None,
) -> FailoverOutcome:
    """One trial: cluster, seed, writer, migration via the follower, the fault on the leader.

    ``kill9``: SIGKILL. ``stop``: SIGSTOP until the follower leads, then SIGCONT.
    ``partition``: the leader's link (to the database and the edges) cut until the
    follower leads and the old leader says it follows, then healed. For the last two,
    the outcome also says how long the old leader took to stand down and whether an
    edge refuses a command at its epoch afterwards.
    """
    started = time.monotonic()
    outcome = FailoverOutcome(phase)
    async with ha_cluster(
        root,
        journal,
        pause_cutover=phase == "cutover",
        partition=partition,
        journal_in_ns=journal_in_ns,
        network=network,
    ) as cluster:
        leader, follower = cluster.replicas
        await seed_workload(cluster.west.local_url, records, seed)
        writer = Writer(cluster.west.local_url, seed)
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer.run)
            mid = await plan_migration(follower, bandwidth_mbps)  # forwarded to the leader
            outcome.killed_in = await _aim(cluster, follower, mid, phase)
            faulted_at = time.monotonic()
            if fault == "kill9":
                leader.signal(signal.SIGKILL)
                await leader.wait()
            elif fault == "stop":
                leader.signal(signal.SIGSTOP)
            else:
                assert partition is not None
                partition.cut()
            if phase == "cutover":
                cluster.pause_file.touch()  # the source finishes its step on its own
            if fault == "partition":
                assert partition is not None

                async def stand_down() -> None:  # measured while the follower takes over
                    stood_down = await wait_follower_in_ns(leader, partition)
                    outcome.stood_down_s = stood_down - faulted_at

                async with anyio.create_task_group() as both:
                    both.start_soon(stand_down)
                    outcome.takeover_s = await wait_leader(follower, timeout=30) - faulted_at
                partition.heal()
            else:
                outcome.takeover_s = await wait_leader(follower, timeout=30) - faulted_at
            if fault == "stop":
                leader.signal(signal.SIGCONT)
                outcome.stood_down_s = await wait_follower(leader) - faulted_at
            outcome.state, outcome.error = await settle(follower, mid, settle_s)
            await writer_more(writer)
            tg.cancel_scope.cancel()
        await check(cluster, follower, mid, writer, outcome)
        if fault != "kill9":
            outcome.stale_refused = await stale_leader_refused(cluster)
    outcome.seconds = time.monotonic() - started
    return outcome


async def wait_follower(daemon: Daemon, timeout: float = 30.0) -> float:
    """Wait until ``daemon`` answers ``role: follower``; return when (monotonic)."""
    with anyio.fail_after(timeout):
        while True:
            status = await supervisor_status(daemon)
            if status is not None and status.role == "follower":
                return time.monotonic()
            await anyio.sleep(0.02)


async def wait_follower_in_ns(daemon: Daemon, partition: Partition, timeout: float = 30.0) -> float:
    """Like :func:`wait_follower`, asking from inside the partitioned namespace (curl)."""
    probe = [
        "ip", "netns", "exec", partition.ns, "curl", "-s", "-m", "1",
        "-H", f"Authorization: Bearer {TOKEN}", f"{daemon.url}/admin/supervisor",
    ]  # fmt: skip
    with anyio.fail_after(timeout):
        while True:
            answer = await anyio.run_process(probe, check=False)
            if b'"role":"follower"' in answer.stdout:
                return time.monotonic()
            await anyio.sleep(0.02)


async def stale_leader_refused(cluster: HaCluster) -> bool:
    """Whether both edges refuse a command carrying the first leader's epoch (1)."""
    refused = 0
    for edge in (cluster.west, cluster.east):
        async with AdminClient(edge.url, TOKEN, timeout=5.0, leader_epoch=lambda: 1) as old:
            try:
                await old.set_status(WORKLOAD, "active")
            except EdgeHTTPError as exc:
                refused += exc.status == 409 and exc.code == "stale_leader"
    return refused == 2


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
