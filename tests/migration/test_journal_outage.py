"""The supervisor on a PostgreSQL journal whose server dies mid-run: it crashes, is
restarted from the journal once the server is back, and loses nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import anyio
import pytest
from structlog.testing import capture_logs

from edge_actors.edge import AdminClient, add_migration_routes
from edge_actors.migration import MigrationService
from edge_actors.migration.journal import JournalUnavailable

from .conftest import FAST_RESTART, TOKEN, lost_writes, run_daemon, seed, writing
from .ledger import make_workload, plan_for

if TYPE_CHECKING:
    from pathlib import Path

    from postgres.server import PostgresServer

    from .conftest import Edges

pytestmark = pytest.mark.anyio


async def test_a_lost_journal_crashes_the_supervisor_which_resumes_from_it(
    edges: Edges, own_postgres: PostgresServer, tmp_path: Path
) -> None:
    await make_workload(edges, "ledger", 200)
    async with MigrationService(
        edges.gateway, tmp_path / "unused", journal=own_postgres.url, restart=FAST_RESTART
    ) as service:
        assert service.journal_location == own_postgres.url
        plan = await service.plan(plan_for("ledger"))
        mid = plan.migration_id
        own_postgres.kill()
        with capture_logs() as logs:
            with anyio.fail_after(60), pytest.raises(JournalUnavailable):
                await service.history(mid)  # the supervisor crashes on it, not hangs
            # Restarted by its root, it waits the journal out instead of crashing again.
            with anyio.fail_after(60):
                while not any(e["event"] == "supervisor.journal_unavailable" for e in logs):
                    await anyio.sleep(0.05)
        own_postgres.start()
        with anyio.fail_after(60):
            history = await service.history(mid)
        assert [e.to_state for e in history] == ["planned"]
        assert (await service.status(mid)).state == "planned"
        await service.execute(mid)
        status = await service.wait(mid, {"completed", "failed"}, timeout=60)
        assert status.state == "completed", status


async def test_a_journal_lost_mid_sync_under_writes_then_back_completes_losing_nothing(
    edges: Edges, own_postgres: PostgresServer, tmp_path: Path
) -> None:
    async with AdminClient(edges.west.url, TOKEN) as admin:
        await admin.create_workload("ledger")
    await seed(edges.west.url, "ledger", 1500, 1024)
    async with (
        writing(edges.west.url, "ledger", rate=100) as writer,
        MigrationService(
            edges.gateway, tmp_path / "unused", journal=own_postgres.url, restart=FAST_RESTART
        ) as service,
    ):
        request = plan_for(
            "ledger", bandwidth_limit_mbps=3, checkpoint_interval=0.2,
            constraints={"max_downtime": "300ms"},
        )  # fmt: skip
        plan = await service.plan(request)
        mid = plan.migration_id
        await service.execute(mid)
        async with AdminClient(edges.east.url, TOKEN) as east:
            with anyio.fail_after(30):
                while True:
                    try:
                        if (await east.workload("ledger")).records > 300:
                            break
                    except Exception:  # not created on the target yet
                        pass
                    await anyio.sleep(0.05)
        with capture_logs() as logs:
            own_postgres.kill()  # mid-sync: the next checkpoint cannot be journaled
            with anyio.fail_after(60):
                while not any(e["event"] == "supervisor.journal_unavailable" for e in logs):
                    await anyio.sleep(0.05)
        own_postgres.start()
        status = await service.wait(mid, {"completed", "failed"}, timeout=120)
        assert status.state == "completed", status
        await writer.wait_for_writes(20)  # it keeps writing, now against the target
        history = [e.detail for e in await service.history(mid)]
    assert writer.failures == []
    assert await lost_writes(edges.east.url, "ledger", writer.acked) == []
    assert any("recovered from the journal" in d for d in history)


async def test_the_admin_api_answers_503_while_the_journal_is_lost(
    edges: Edges, own_postgres: PostgresServer, tmp_path: Path
) -> None:
    await make_workload(edges, "ledger", 50)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with capture_logs() as logs:
        await _answer_503_then_stop(edges, own_postgres, tmp_path, auth)
    # The supervisor, restarted to wait out the lost journal, stops when told; so do the
    # root waiting for that restart and the runs. They used to be killed after the stop's
    # 10 s grace (the stop waited for the restart to finish).
    stopped = {
        e["actor"]: e["reason"]
        for e in logs
        if e["event"] == "actor.stopped" and not e["actor"].startswith("migration-reconciler")
    }
    assert stopped == dict.fromkeys(
        ("migration-supervisor", "migration-runs", "migration-root"), "normal"
    ), logs


async def _answer_503_then_stop(
    edges: Edges, own_postgres: PostgresServer, tmp_path: Path, auth: dict[str, str]
) -> None:
    async with MigrationService(
        edges.gateway, tmp_path / "unused", journal=own_postgres.url, restart=FAST_RESTART
    ) as service:
        mid = (await service.plan(plan_for("ledger"))).migration_id
        async with (
            run_daemon(
                tmp_path, "edge-admin", extra_routes=lambda app: add_migration_routes(app, service)
            ) as host,
            aiohttp.ClientSession() as http,
        ):
            own_postgres.kill()
            url = f"{host.url}/admin/migrations/{mid}/history"
            async with http.get(url, headers=auth) as resp:
                body = await resp.json()
            assert (resp.status, body["error"]) == (503, "journal_unavailable"), body
            assert resp.headers["Retry-After"] == "5"
            assert own_postgres.url in body["message"]
