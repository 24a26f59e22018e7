"""A PostgreSQL journal whose server dies and comes back, and sessions outside its pool."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import asyncpg
import pytest

from edge_actors.migration.journal import JournalUnavailable, PostgresJournal, open_journal

if TYPE_CHECKING:
    from pathlib import Path

    from postgres.server import PostgresServer

pytestmark = pytest.mark.anyio


async def test_a_server_killed_mid_run_is_journal_unavailable_then_served_again(
    own_postgres: PostgresServer, tmp_path: Path
) -> None:
    journal = await open_journal(own_postgres.url, data_dir=tmp_path)
    try:
        await journal.save_setting("before", 1)
        own_postgres.kill()
        with anyio.fail_after(60), pytest.raises(JournalUnavailable) as caught:
            await journal.save_setting("during", 2)
        assert f"migration journal {own_postgres.url}" in str(caught.value)
        with anyio.fail_after(60), pytest.raises(JournalUnavailable):
            await journal.settings()  # reads too, and no hang
        own_postgres.start()  # same data directory and port: crash recovery
        with anyio.fail_after(60):
            while True:
                try:
                    settings = await journal.settings()
                    break
                except JournalUnavailable:
                    await anyio.sleep(0.05)  # the pool reconnects on a later call
        assert settings == {"before": 1}  # the failed write left nothing behind
    finally:
        await journal.close()


async def test_a_dedicated_session_reaches_the_journal_database(
    postgres_url: str, tmp_path: Path
) -> None:
    journal = await open_journal(postgres_url, data_dir=tmp_path)
    assert isinstance(journal, PostgresJournal)
    try:
        await journal.save_setting("k", 1)
        conn = await journal.connect()
        try:
            assert await conn.fetchval("SELECT value FROM settings WHERE key = 'k'") == "1"
        finally:
            await conn.close()
    finally:
        await journal.close()


async def test_the_drivers_protocol_state_error_is_journal_unavailable(
    postgres_url: str, tmp_path: Path
) -> None:
    # After a server is killed mid-call, asyncpg can raise InternalClientError ("cannot
    # switch to state 11; another operation (2) is in progress") on the pooled connection;
    # the admin API then answered 400 invalid_plan instead of 503 journal_unavailable.
    journal = await open_journal(postgres_url, data_dir=tmp_path)
    assert isinstance(journal, PostgresJournal)
    try:
        with pytest.raises(JournalUnavailable, match="InternalClientError"):
            async with journal._conn():
                raise asyncpg.exceptions.InternalClientError(
                    "cannot switch to state 11; another operation (2) is in progress"
                )
        await journal.save_setting("after", 1)  # the pool still serves
        assert await journal.settings() == {"after": 1}
    finally:
        await journal.close()
