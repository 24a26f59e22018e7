"""Fixtures of the high-availability tests: a fresh PostgreSQL journal database."""

from __future__ import annotations

import pytest

from edge_actors.migration.journal import PostgresJournal


@pytest.fixture
async def dsn(postgres_url: str) -> str:
    """A fresh database (real PostgreSQL) with the journal's schema, lease table included."""
    journal = await PostgresJournal.open(postgres_url)
    await journal.close()
    return postgres_url
