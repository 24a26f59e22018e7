"""Fixtures of the transfer tests: a source registry and a real aiohttp peer edge."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from aiohttp import web
from transfer_peer import PeerEdge

from edge_actors.store import StoreRegistry

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path


@pytest.fixture
async def source(tmp_path: Path) -> AsyncIterator[StoreRegistry]:
    registry = await StoreRegistry.open(tmp_path / "source")
    try:
        yield registry
    finally:
        await registry.close()


@pytest.fixture
async def peer(tmp_path: Path) -> AsyncIterator[PeerEdge]:
    registry = await StoreRegistry.open(tmp_path / "target")
    edge = PeerEdge(registry)
    app = web.Application()
    app.router.add_get("/peer/stream", edge.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    edge.url = f"http://{host}:{port}"
    try:
        yield edge
    finally:
        await runner.cleanup()
        await registry.close()
