"""A rollback after the cleanup phase dropped the source's copies, under writes.

The run is stopped (supervisor pause hook ``cleaned_up``) once cleanup has dropped the
source's data: the source keeps only its ``moved`` routes, the target serves and takes
writes. A rollback then copies every workload back in full (the target's whole content,
then the final delta under a hold), activates the source, and drops the target's copy:
every acknowledged write, those made on the target after the cutover included, is on the
source, and no write request failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from edge_actors._test_hooks import PAUSE_AT_ENV, PAUSE_FILE_ENV
from edge_actors.migration import MigrationMetrics

from .conftest import lost_writes, writing
from .ledger import (
    content_digest,
    crash_run,
    entered,
    make_workload,
    more_writes,
    plan_for,
    target_info,
    target_records,
)

if TYPE_CHECKING:
    from pathlib import Path

    from edge_actors.migration import MigrationService

    from .conftest import Edges

pytestmark = pytest.mark.anyio


async def _cleaned_up(pause: Path) -> None:
    with anyio.fail_after(60):
        while not await anyio.Path(f"{pause}.reached").exists():
            await anyio.sleep(0.02)


async def test_rollback_after_cleanup_copies_back(
    edges: Edges, service: MigrationService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = await make_workload(edges, "ledger", 1200, 512)
    catalog = await make_workload(edges, "catalog", 300, 256, seed=2)
    pause = tmp_path / "pause"
    monkeypatch.setenv(PAUSE_AT_ENV, "cleaned_up")
    monkeypatch.setenv(PAUSE_FILE_ENV, str(pause))
    async with writing(edges.west.url, "ledger", rate=100) as writer:
        plan = await service.plan(
            plan_for("ledger", "catalog", constraints={"max_downtime": "300ms"})
        )
        mid = plan.migration_id
        await service.execute(mid)
        await _cleaned_up(pause)
        for name in ("ledger", "catalog"):
            source = await target_info(edges, name, source=True)
            assert (source.status, source.records) == ("moved", 0)  # its data is gone
        await more_writes(writer)  # acknowledged by the target only
        status = await service.rollback(mid, timeout=90)
        assert status.state == "rolled_back", status
        await more_writes(writer)  # back on the source, the writer keeps going
    assert writer.failures == []
    assert await lost_writes(edges.west.url, "ledger", writer.acked) == []
    expected = {"ledger": content_digest(ledger, writer.acked), "catalog": content_digest(catalog)}
    for name, digest in expected.items():
        source = await target_info(edges, name, source=True)
        assert (source.status, source.held, source.digest) == ("active", False, digest)
        assert await target_records(edges, name) == 0  # the target's copy is dropped
    history = await service.history(mid)
    assert entered(history, "cleanup")
    assert [e.to_state for e in history][-2:] == ["rolling_back", "rolled_back"]
    metrics = await service.metrics(mid)
    assert isinstance(metrics, MigrationMetrics)
    assert metrics.rollbacks == 1


async def test_restarts_exhausted_in_cleanup_roll_back_with_every_write(
    edges: Edges, service: MigrationService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that keeps crashing after its cleanup is rolled back by the supervisor (its
    restarts exhausted): the rollback copies the dropped source copy back in full."""
    ledger = await make_workload(edges, "ledger", 1200, 512)
    pause = tmp_path / "pause"
    monkeypatch.setenv(PAUSE_AT_ENV, "cleaned_up")
    monkeypatch.setenv(PAUSE_FILE_ENV, str(pause))
    async with writing(edges.west.url, "ledger", rate=100) as writer:
        plan = await service.plan(plan_for("ledger", constraints={"max_downtime": "300ms"}))
        mid = plan.migration_id
        await service.execute(mid)
        # FAST_RESTART allows 3 restarts: the 4th crash exhausts the intensity. Each
        # incarnation goes through cleanup again and stops at the hook.
        for crash in range(1, 5):
            await _cleaned_up(pause)
            await anyio.Path(f"{pause}.reached").unlink()
            await more_writes(writer)  # acknowledged by the target only
            await crash_run(service, mid, crash)
        status = await service.wait(mid, {"rolled_back"}, timeout=60)
        assert status.state == "rolled_back", status
        await more_writes(writer)
    assert writer.failures == []
    assert await lost_writes(edges.west.url, "ledger", writer.acked) == []
    source = await target_info(edges, "ledger", source=True)
    assert (source.status, source.held) == ("active", False)
    assert source.digest == content_digest(ledger, writer.acked)
    assert await target_records(edges, "ledger") == 0
    history = await service.history(mid)
    [failed] = entered(history, "failed")
    assert "restarts exhausted" in failed.detail
    assert [e.to_state for e in history][-2:] == ["rolling_back", "rolled_back"]
