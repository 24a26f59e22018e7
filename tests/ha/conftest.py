"""Fixtures of the high-availability tests: a fresh PostgreSQL database with the lease table."""

from __future__ import annotations

import asyncpg
import pytest

from edge_actors.migration._leadership import LEADER_TABLE_DDL


@pytest.fixture
async def dsn(postgres_url: str) -> str:
    """A fresh database (real PostgreSQL) holding the ``supervisor_leader`` table."""
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(LEADER_TABLE_DDL)
    finally:
        await conn.close()
    return postgres_url
