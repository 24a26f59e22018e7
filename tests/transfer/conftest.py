"""Fixtures of the transfer tests: a source registry and a real aiohttp peer edge."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from transfer_peer import PeerEdge, serving

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
    try:
        async with serving(edge.handle) as edge.url:
            yield edge
    finally:
        await registry.close()
