"""The PostgreSQL harness itself: a real server answers, and each test gets its own database."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import asyncpg
import pytest

from ha._network import ShapedNetwork, network_unavailable
from postgres.server import Databases, PostgresServer

if TYPE_CHECKING:
    from pathlib import Path

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


def test_a_server_runs_inside_a_network_namespace(tmp_path: Path) -> None:
    reason = network_unavailable()
    if reason is not None:
        pytest.skip(reason)
    network = ShapedNetwork(os.getpid() + 31, ["pg"])
    network.create()
    try:
        server = PostgresServer(
            data_dir=tmp_path / "pgdata", host=network.ip("pg"), netns=network.ns("pg")
        )
        server.init()
        with (server.data_dir / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {network.subnet} trust\n")
        server.start()
        try:
            assert (
                Databases(server).create().startswith(f"postgresql://postgres@{network.ip('pg')}")
            )
        finally:
            server.stop()
    finally:
        network.delete()
