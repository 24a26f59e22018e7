"""Rollback paths under continuous writes: restarts exhausted, ``auto_rollback`` after a
failed validation, and a rollback to a named checkpoint through the daemon's admin routes
followed by a resume. Each ends with every acknowledged write where routing points."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
import pytest

from edge_actors.edge import add_migration_routes
from edge_actors.migration import MigrationMetrics

from .conftest import TOKEN, Edges, lost_writes, run_daemon, writing
from .ledger import (
    content_digest,
    crash_run,
    entered,
    make_workload,
    more_writes,
    plan_for,
    target_info,
    target_records,
    until,
)

if TYPE_CHECKING:
    from pathlib import Path

    from edge_actors.migration import MigrationService

pytestmark = pytest.mark.anyio


async def test_restarts_exhausted_rolls_back(edges: Edges, service: MigrationService) -> None:
    seeded = await make_workload(edges, "ledger", 1500, 1024)
    async with writing(edges.west.url, "ledger", rate=100) as writer:
        plan = await service.plan(
            plan_for("ledger", bandwidth_limit_mbps=2, constraints={"max_downtime": "300ms"})
        )
        mid = plan.migration_id
        await service.execute(mid)
        await until(service, mid, bytes_done=50_000)
        # FAST_RESTART allows 3 restarts: the 4th crash exhausts the intensity
        for crash in range(1, 5):
            await crash_run(service, mid, crash)
        status = await service.wait(mid, {"rolled_back"}, timeout=30)
        assert status.state == "rolled_back", status
    assert writer.failures == []
    assert await lost_writes(edges.west.url, "ledger", writer.acked) == []
    source = await target_info(edges, "ledger", source=True)
    assert (source.status, source.held) == ("active", False)
    assert source.digest == content_digest(seeded, writer.acked)
    assert await target_records(edges, "ledger") == 0  # the target's copy is dropped
    history = await service.history(mid)
    [failed] = entered(history, "failed")
    assert "restarts exhausted" in failed.detail
    assert [e.to_state for e in history][-2:] == ["rolling_back", "rolled_back"]
    metrics = await service.metrics(mid)
    assert isinstance(metrics, MigrationMetrics)
    assert (metrics.restarts, metrics.rollbacks) == (3, 1)


async def test_auto_rollback_after_failed_validation(
    edges: Edges, service: MigrationService
) -> None:
    seeded = await make_workload(edges, "checkout", 500)
    async with writing(edges.west.url, "checkout", rate=150) as writer:
        plan = await service.plan(
            plan_for("checkout", test_endpoints=["/v1/workloads/{workload}/no-such-probe"],
                     constraints={"max_downtime": "300ms"})
        )  # fmt: skip
        mid = plan.migration_id
        await service.execute(mid, auto_rollback=True)
        status = await service.wait(mid, {"rolled_back"}, timeout=30)
        assert status.state == "rolled_back", status
        await more_writes(writer)  # back on the source, the writer keeps going
    assert writer.failures == []
    assert await lost_writes(edges.west.url, "checkout", writer.acked) == []
    source = await target_info(edges, "checkout", source=True)
    assert (source.status, source.held) == ("active", False)
    assert source.digest == content_digest(seeded, writer.acked)
    assert await target_records(edges, "checkout") == 0
    history = await service.history(mid)
    states = [e.to_state for e in history]
    assert "cutover" in states  # it failed after switching: the rollback synced back
    [failed] = entered(history, "failed")
    assert "validation probe /v1/workloads/checkout/no-such-probe" in failed.detail
    assert "answered 404" in failed.detail
    assert states[-2:] == ["rolling_back", "rolled_back"]
    metrics = await service.metrics(mid)
    assert isinstance(metrics, MigrationMetrics)
    assert metrics.rollbacks == 1


async def test_rollback_to_checkpoint_via_routes_then_resume(
    edges: Edges, service: MigrationService, tmp_path: Path
) -> None:
    seeded = await make_workload(edges, "catalog", 1000, 1024)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        run_daemon(
            tmp_path, "edge-admin", extra_routes=lambda app: add_migration_routes(app, service)
        ) as host,
        aiohttp.ClientSession(headers=auth) as http,
        writing(edges.west.url, "catalog", rate=100) as writer,
    ):
        base = host.url + "/admin/migrations"

        async def call(method: str, path: str, body: Any = None, expect: int = 200) -> Any:
            async with http.request(method, base + path, json=body) as resp:
                assert resp.status == expect, await resp.text()
                return await resp.json()

        async def state_of(mid: str, states: set[str]) -> str:
            with anyio.fail_after(30):
                while (state := (await call("GET", f"/{mid}"))["status"]["state"]) not in states:
                    await anyio.sleep(0.05)
            return str(state)

        answer = await call(
            "POST", "", {**plan_for("catalog", bandwidth_limit_mbps=4,
                                    constraints={"max_downtime": "300ms"}), "execute": True},
            expect=201,
        )  # fmt: skip
        mid = answer["migration_id"]
        with anyio.fail_after(20):  # a mid-sync checkpoint with acknowledged data
            while True:
                cps = (await call("GET", f"/{mid}/checkpoints"))["checkpoints"]
                synced = [
                    c for c in cps
                    if c["phase"] == "sync" and c["workloads"]["catalog"]["acked_lsn"] > 0
                ]  # fmt: skip
                if synced:
                    break
                await anyio.sleep(0.05)
        chosen = synced[0]
        chosen_lsn = chosen["workloads"]["catalog"]["acked_lsn"]
        missing = await call("POST", f"/{mid}/rollback", {"checkpoint_id": "nope-cp1"}, 404)
        assert "nope-cp1" in missing["message"]
        await call("POST", f"/{mid}/rollback", {"checkpoint_id": chosen["checkpoint_id"]})
        assert await state_of(mid, {"paused", "failed", "rolled_back"}) == "paused"
        last = (await call("GET", f"/{mid}/checkpoints"))["checkpoints"][-1]
        assert last["reason"] == f"rolled back to {chosen['checkpoint_id']}"
        assert last["workloads"]["catalog"]["acked_lsn"] == chosen_lsn
        assert last["workloads"]["catalog"]["routing"] == "source"
        assert (await target_info(edges, "catalog", source=True)).status == "active"
        assert (await target_info(edges, "catalog")).status == "incoming"  # kept for resume
        await call("POST", f"/{mid}/resume")
        assert await state_of(mid, {"completed", "failed", "rolled_back"}) == "completed"
        history = (await call("GET", f"/{mid}/history"))["history"]
        metrics = await call("GET", f"/{mid}/metrics")
        await more_writes(writer)
    assert writer.failures == []
    assert await lost_writes(edges.east.url, "catalog", writer.acked) == []
    target = await target_info(edges, "catalog")
    assert target.status == "active"
    assert target.digest == content_digest(seeded, writer.acked)
    paused = [e for e in history if e["to_state"] == "paused"]
    assert [e["detail"] for e in paused] == [f"rolled back to checkpoint {chosen['checkpoint_id']}"]
    assert metrics["rollbacks"] == 1
