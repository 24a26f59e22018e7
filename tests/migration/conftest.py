"""Fixtures of the migration tests: two real daemons on loopback, the HTTP gateway, the
migration service with its journal, and a writer that keeps writing during migrations."""

from __future__ import annotations

import random
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio
import pytest

from edge_actors.edge import (
    AdminClient,
    EdgeClient,
    EdgeConfig,
    EdgeDaemon,
    EdgeEndpoint,
    HttpEdgeGateway,
    Topology,
)
from edge_actors.migration import MigrationService, RestartPolicy, ServiceDefaults

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    from aiohttp import web

TOKEN = "migration-test-token-0123456789abcdefghij"


class Edges(NamedTuple):
    """The source (``west``) and target (``east``) daemons and a gateway over both."""

    west: EdgeDaemon
    east: EdgeDaemon
    gateway: HttpEdgeGateway
    topology: Topology


@asynccontextmanager
async def run_daemon(
    tmp_path: Path,
    name: str,
    *,
    extra_routes: Callable[[web.Application], None] | None = None,
    **overrides: Any,
) -> AsyncIterator[EdgeDaemon]:
    settings: dict[str, Any] = {
        "name": name,
        "data_dir": str(tmp_path / name),
        "cluster_token": TOKEN,
        "hold_timeout_s": 20.0,
        "shutdown_timeout_s": 2.0,
    }
    settings.update(overrides)
    async with EdgeDaemon(EdgeConfig(**settings), extra_routes=extra_routes) as daemon:
        yield daemon


@pytest.fixture
async def edges(tmp_path: Path) -> AsyncIterator[Edges]:
    async with (
        run_daemon(tmp_path, "edge-west") as west,
        run_daemon(tmp_path, "edge-east") as east,
    ):
        topology = Topology(
            {
                "edge-west": EdgeEndpoint(west.url, TOKEN),
                "edge-east": EdgeEndpoint(east.url, TOKEN),
            }
        )
        async with HttpEdgeGateway(topology) as gateway:
            yield Edges(west, east, gateway, topology)


FAST_RESTART = RestartPolicy(max_restarts=3, within_s=30.0, outage_budget_s=0.0)
"""No outage budget: an edge that does not answer is a crash at once, as these tests of
restarts and rollbacks expect (``test_edge_outage.py`` tests the waiting)."""


@pytest.fixture
async def service(edges: Edges, tmp_path: Path) -> AsyncIterator[MigrationService]:
    defaults = ServiceDefaults(checkpoint_interval_s=0.5, sync_batch_size=200)
    async with MigrationService(
        edges.gateway, tmp_path / "supervisor", defaults=defaults, restart=FAST_RESTART
    ) as svc:
        yield svc


@asynccontextmanager
async def migrating(
    tmp_path: Path, west: EdgeDaemon, east: EdgeDaemon, *, east_url: str | None = None
) -> AsyncIterator[tuple[Edges, MigrationService]]:
    """A gateway and a migration service (as the ``service`` fixture's) over two daemons
    the test started itself; ``east_url``: reach east there (a tap in front of it)."""
    topology = Topology(
        {
            "edge-west": EdgeEndpoint(west.url, TOKEN),
            "edge-east": EdgeEndpoint(east_url or east.url, TOKEN),
        }
    )
    defaults = ServiceDefaults(checkpoint_interval_s=0.5, sync_batch_size=200)
    async with (
        HttpEdgeGateway(topology) as gateway,
        MigrationService(
            gateway, tmp_path / "supervisor", defaults=defaults, restart=FAST_RESTART
        ) as service,
    ):
        yield Edges(west, east, gateway, topology), service


async def seed(url: str, workload: str, records: int, value_bytes: int = 512) -> None:
    """Fill ``workload`` on the edge at ``url`` (via its daemon) with random-looking values.

    The values come from a generator seeded with the workload's name, so a run is the
    same every time (sizes, compression ratios and digests do not vary between runs).
    """
    rng = random.Random(f"seed:{workload}")
    async with EdgeClient(url, token=TOKEN) as client:
        for start in range(0, records, 500):
            ops = [
                (f"k{i:06d}", rng.randbytes(value_bytes))
                for i in range(start, min(records, start + 500))
            ]
            await client.batch(workload, ops)


class Writer:
    """Writes continuously to a workload through ``EdgeClient`` (which follows 307s).

    Keeps ``acked``: key -> value of every acknowledged write, and counts failures.
    """

    def __init__(self, url: str, workload: str, *, keys: int = 3000, rate: float = 400.0) -> None:
        self.url = url
        self.workload = workload
        self.keys = keys
        self.rate = rate
        self.acked: dict[str, bytes] = {}
        self.failures: list[str] = []
        self.writes = 0
        self._stop = anyio.Event()
        self._wanted = anyio.Event()  # set on every acknowledged write

    def stop(self) -> None:
        self._stop.set()

    async def wait_for_writes(self, more: int, timeout: float = 30.0) -> None:
        """Wait until ``more`` further writes were acknowledged (from now on).

        Waits on the writer's own count instead of sleeping: "the writer kept going
        after the migration" then holds however slow the machine is.

        Raises:
            TimeoutError: fewer were acknowledged within ``timeout`` seconds.
        """
        target = self.writes + more
        self._wanted = anyio.Event()
        with anyio.fail_after(timeout):
            while self.writes < target:
                await self._wanted.wait()
                self._wanted = anyio.Event()

    async def run(self) -> None:
        rng = random.Random(7)
        async with EdgeClient(self.url, timeout=60.0, token=TOKEN) as client:
            n = 0
            while not self._stop.is_set():
                key = f"w{rng.randrange(self.keys):05d}"
                value = f"{n}:".encode() + rng.randbytes(64)
                try:
                    await client.put(self.workload, key, value)
                except Exception as exc:  # every failed request is counted
                    self.failures.append(repr(exc))
                else:
                    self.acked[key] = value
                    self.writes += 1
                    self._wanted.set()
                n += 1
                with anyio.move_on_after(1.0 / self.rate):
                    await self._stop.wait()


async def until_run_stopped(
    edges: Edges, service: MigrationService, migration_id: str, timeout: float = 30.0
) -> None:
    """Wait until the run of ``migration_id`` has ended and no edge runs a transfer.

    The run's end is observable: the supervisor has stopped its actor (``actor_ref`` is
    ``None``), and both daemons' ``active_transfers`` load counters are back to 0. From
    then on nothing can acknowledge more bytes, and nothing restarts the run by itself;
    a test asserts "nothing more happened" after this instead of after a sleep.

    Raises:
        TimeoutError: the run or a transfer still runs after ``timeout`` seconds.
    """
    async with (
        AdminClient(edges.west.url, TOKEN) as west,
        AdminClient(edges.east.url, TOKEN) as east,
    ):
        with anyio.fail_after(timeout):
            while (
                await service.actor_ref(migration_id) is not None
                or (await west.health()).load.active_transfers
                or (await east.health()).load.active_transfers
            ):
                await anyio.sleep(0.02)


async def lost_writes(url: str, workload: str, acked: dict[str, bytes]) -> list[str]:
    """Keys whose acknowledged value is not what the edge at ``url`` serves."""
    lost = []
    async with EdgeClient(url, token=TOKEN) as client:
        for key, value in acked.items():
            if await client.get(workload, key) != value:
                lost.append(key)
    return lost


@asynccontextmanager
async def writing(url: str, workload: str, **kw: Any) -> AsyncIterator[Writer]:
    """Run a :class:`Writer` for the duration of the block."""
    writer = Writer(url, workload, **kw)
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run)
        try:
            yield writer
        finally:
            writer.stop()
