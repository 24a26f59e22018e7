"""Fixtures of the edge tests: real daemons on loopback ports with real data dirs."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from edge_actors.edge import AdminClient, EdgeClient, EdgeConfig, EdgeDaemon

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path
    from typing import TypeAlias

    StartDaemon: TypeAlias = Callable[..., AbstractAsyncContextManager[EdgeDaemon]]
    """``start_daemon(name, **config)``: an async context manager running an EdgeDaemon."""

TOKEN = "test-cluster-token-0123456789abcdefghij"


@pytest.fixture
def start_daemon(tmp_path: Path) -> StartDaemon:
    """Return ``start(name, **config)``: an async context manager running an EdgeDaemon."""

    @asynccontextmanager
    async def start(name: str = "edge-a", **overrides: Any) -> AsyncIterator[EdgeDaemon]:
        settings: dict[str, Any] = {
            "name": name,
            "data_dir": str(tmp_path / name),
            "cluster_token": TOKEN,
            "hold_timeout_s": 20.0,
            "shutdown_timeout_s": 2.0,
        }
        settings.update(overrides)
        async with EdgeDaemon(EdgeConfig(**settings)) as daemon:
            yield daemon

    return start


@pytest.fixture
async def daemon(
    start_daemon: StartDaemon,
) -> AsyncIterator[EdgeDaemon]:
    """One running daemon named ``edge-a``."""
    async with start_daemon("edge-a") as running:
        yield running


@pytest.fixture
async def client(daemon: EdgeDaemon) -> AsyncIterator[EdgeClient]:
    """A data client of ``daemon``."""
    async with EdgeClient(daemon.url, token=TOKEN) as data:
        yield data


@pytest.fixture
async def admin(daemon: EdgeDaemon) -> AsyncIterator[AdminClient]:
    """An admin client of ``daemon`` with the right token."""
    async with AdminClient(daemon.url, TOKEN) as adm:
        yield adm


class Pair(NamedTuple):
    """Two running daemons (``edge-west`` source, ``edge-east`` target) and their clients."""

    west: EdgeDaemon
    east: EdgeDaemon
    admin_west: AdminClient
    admin_east: AdminClient
    client: EdgeClient


@pytest.fixture
async def pair(
    start_daemon: StartDaemon,
) -> AsyncIterator[Pair]:
    """Daemons ``edge-west`` and ``edge-east``, admin clients of both, a data client of west."""
    async with (
        start_daemon("edge-west") as west,
        start_daemon("edge-east") as east,
        AdminClient(west.url, TOKEN) as admin_west,
        AdminClient(east.url, TOKEN) as admin_east,
        EdgeClient(west.url, token=TOKEN) as client,
    ):
        yield Pair(west, east, admin_west, admin_east, client)
