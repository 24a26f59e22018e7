"""``EDGE_ACTORS_JOURNAL`` puts LocalRuntime's migration journal in PostgreSQL: a live
migration driven by a workflow is checked by digest on the target and by its records in
the PostgreSQL journal (and nothing is journaled in the data directory instead)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
from nodes_support import mig, run_nodes

from edge_actors import seed_workload
from edge_actors.migration.journal import open_journal
from edge_actors.runtime import Engine

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_local_runtime_journals_a_live_migration_in_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("EDGE_ACTORS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("EDGE_ACTORS_JOURNAL", postgres_url)
    engine = Engine()
    try:
        seeded = seed_workload("edge-w", "orders", records=400, engine=engine)
        results = run_nodes(
            engine,
            mig(
                "plan",
                operation="plan_migration",
                source_edge="edge-w",
                target_edge="edge-e",
                workloads=["orders"],
                strategy="live",
            ),
            mig("exec", operation="execute_migration", wait=True),
            mig("check", operation="get_progress", validate_functionality=True),
            links=(
                ("plan", "status", "exec", "input"),
                ("exec", "result", "check", "migration_id"),
            ),
        )
    finally:
        engine.shutdown()
    assert results["exec"]["state"] == "completed", results["exec"]
    mid = results["plan"]["migration_id"]
    validation = results["check"]["validation"]
    target = validation["workloads"]["orders"]["target"]
    assert (target["records"], target["digest"]) == (400, seeded.digest)
    assert validation["digests_match"] is True

    async def journaled() -> None:
        journal = await open_journal(postgres_url, data_dir=tmp_path / "unused")
        try:
            [entry] = await journal.load()
            history = await journal.history(mid)
            checkpoints = await journal.checkpoints(mid)
            [owner] = await journal.owners()
        finally:
            await journal.close()
        assert (entry.plan.migration_id, entry.status.state) == (mid, "completed")
        states = [e.to_state for e in history]
        assert states[0] == "planned"
        assert states[-1] == "completed"
        assert {"sync", "cutover", "validation", "cleanup"} <= set(states)
        assert checkpoints
        assert (owner.workload, owner.owner_edge, owner.epoch) == ("orders", "edge-e", 1)

    anyio.run(journaled)
    assert not (data_dir / "migrations" / "migrations.sqlite").exists()
