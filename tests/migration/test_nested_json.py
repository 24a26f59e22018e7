"""Deeply nested JSON is a 400 on every JSON route, the migration routes included."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import pytest

from edge_actors.edge import add_migration_routes

from .conftest import TOKEN, Edges, run_daemon

if TYPE_CHECKING:
    from pathlib import Path

    from edge_actors.migration import MigrationService

pytestmark = pytest.mark.anyio

NESTED = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
ROUTES = [
    "/admin/migrations",
    "/admin/migrations/m-1/execute",
    "/admin/migrations/m-1/rollback",
    "/admin/workloads",
    "/admin/workloads/app/hold",
    "/admin/workloads/app/release",
    "/admin/workloads/app/prepare",
    "/admin/workloads/app/activate",
    "/admin/workloads/app/cutover",
    "/admin/transfers",
]


async def test_nested_json_is_400_on_every_json_route(
    edges: Edges, service: MigrationService, tmp_path: Path
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with (
        run_daemon(
            tmp_path, "edge-admin", extra_routes=lambda app: add_migration_routes(app, service)
        ) as host,
        aiohttp.ClientSession() as http,
    ):
        for route in ROUTES:
            async with http.post(host.url + route, data=NESTED, headers=auth) as resp:
                answer = await resp.json()
                assert (route, resp.status) == (route, 400), answer
                assert answer["error"] == "invalid_json"
        async with http.put(
            host.url + "/admin/workloads/app/status", data=NESTED, headers=auth
        ) as resp:
            assert resp.status == 400
