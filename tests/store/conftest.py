"""Fixtures of the store tests: real SQLite store files under ``tmp_path``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from edge_actors.store import WorkloadStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path


@pytest.fixture
async def store(anyio_backend: str, tmp_path: Path) -> AsyncIterator[WorkloadStore]:
    """An empty, open workload store named ``w``; closed after the test."""
    s = await WorkloadStore.open(tmp_path / "w.sqlite", "w", create=True)
    try:
        yield s
    finally:
        await s.close()
