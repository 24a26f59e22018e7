"""The PostgreSQL harness itself: a real server answers, and each test gets its own database."""

from __future__ import annotations

import asyncpg
import pytest

pytestmark = pytest.mark.anyio


async def test_fresh_database_is_empty_and_writable(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        assert tables == 0
        await conn.execute("CREATE TABLE probe (k text PRIMARY KEY, v bigint)")
        await conn.execute("INSERT INTO probe VALUES ('a', 1)")
        assert await conn.fetchval("SELECT v FROM probe WHERE k = 'a'") == 1
    finally:
        await conn.close()


async def test_each_test_gets_another_database(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval("SELECT to_regclass('public.probe')") is None
    finally:
        await conn.close()
