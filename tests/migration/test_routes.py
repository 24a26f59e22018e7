"""The daemon's /admin/migrations routes over a MigrationService."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import pytest

from edge_actors.edge import AdminClient, add_migration_routes

from .conftest import TOKEN, Edges, run_daemon, seed

if TYPE_CHECKING:
    from pathlib import Path

    from edge_actors.migration import MigrationService

pytestmark = pytest.mark.anyio


async def test_migration_admin_routes(
    edges: Edges, service: MigrationService, tmp_path: Path
) -> None:
    async with AdminClient(edges.west.url, TOKEN) as admin:
        await admin.create_workload("web-frontend")
    await seed(edges.west.url, "web-frontend", 200)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        run_daemon(
            tmp_path, "edge-admin", extra_routes=lambda app: add_migration_routes(app, service)
        ) as host,
        aiohttp.ClientSession() as http,
    ):
        base = host.url + "/admin/migrations"
        async with http.get(base) as resp:
            assert resp.status == 401
        body = {
            "source_edge": "edge-west",
            "target_edge": "edge-east",
            "workloads": ["web-frontend"],
            "constraints": {"max_downtime": "300ms"},
        }
        async with http.post(base, json={**body, "strategy": "warp"}, headers=auth) as resp:
            assert resp.status == 400
            message = (await resp.json())["message"]
            assert message.startswith("strategy: expected one of live, staged,"), message
            assert message.endswith("got 'warp'"), message
        async with http.post(base, json=body, headers=auth) as resp:
            assert resp.status == 201
            mid = (await resp.json())["migration_id"]
        async with http.get(base, headers=auth) as resp:
            assert [m["migration_id"] for m in (await resp.json())["migrations"]] == [mid]
        async with http.post(f"{base}/{mid}/resume", headers=auth) as resp:
            assert resp.status == 409
            assert "planned -> queued" in (await resp.json())["message"]
        async with http.post(f"{base}/{mid}/execute", headers=auth) as resp:
            assert resp.status == 200
        await service.wait(mid, {"completed", "failed"}, timeout=30)
        async with http.get(f"{base}/{mid}", headers=auth) as resp:
            assert (await resp.json())["status"]["state"] == "completed"
        async with http.get(f"{base}/{mid}/metrics", headers=auth) as resp:
            assert (await resp.json())["bytes_raw"] > 0
        async with http.get(f"{base}/{mid}/history", headers=auth) as resp:
            assert (await resp.json())["history"][-1]["to_state"] == "completed"
        async with http.get(f"{base}/nope/metrics", headers=auth) as resp:
            assert resp.status == 404
