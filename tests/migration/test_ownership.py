"""Owner records with epochs in the journal, and the epochs a migration hands to the edges."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest

from edge_actors.migration import MigrationError
from edge_actors.migration._ownership import Owners, StaleOwnerEpoch
from edge_actors.migration.journal import Journal, SqliteJournal
from edge_actors.migration.journal._sqlite import _SCHEMA, SCHEMA_VERSION

from .ledger import make_workload, plan_for, target_info

if TYPE_CHECKING:
    from pathlib import Path

    from edge_actors.migration import MigrationService

    from .conftest import Edges

pytestmark = pytest.mark.anyio


def test_a_journal_from_before_owner_records_is_upgraded_in_place(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "migrations.sqlite")
    old.executescript(_SCHEMA)  # version 1: what journals held before owner records
    old.execute("INSERT INTO settings VALUES ('max_concurrent', '3')")
    old.commit()
    old.close()
    journal = Journal(tmp_path)
    assert journal.schema_version == SCHEMA_VERSION == 2
    assert journal.settings() == {"max_concurrent": 3}  # nothing lost
    assert journal.owners() == []
    journal.close()
    reopened = Journal(tmp_path)  # an upgraded journal opens as it is
    assert reopened.schema_version == SCHEMA_VERSION
    reopened.close()


def test_a_journal_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    Journal(tmp_path).close()
    db = sqlite3.connect(tmp_path / "migrations.sqlite")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(MigrationError, match="schema version 3; this version of edge_actors"):
        Journal(tmp_path)


async def test_each_handover_takes_the_next_epoch_and_survives_a_reopen(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    owners = Owners(SqliteJournal(journal))
    assert (await owners.get("orders", "west")).epoch == 0
    first = await owners.hand_over("orders", "west", "east", "mig-1")
    assert (first.owner_edge, first.epoch, first.handing_to) == ("west", 1, "east")
    settled = await owners.settle("orders", "east", 1, "mig-1")
    assert (settled.owner_edge, settled.epoch, settled.handing_to) == ("east", 1, None)
    back = await owners.hand_over("orders", "east", "west", "mig-1")
    assert back.epoch == 2
    with pytest.raises(StaleOwnerEpoch, match="settle at epoch 1 refused"):
        await owners.settle("orders", "east", 1, "mig-1")
    journal.close()
    reopened = Journal(tmp_path)
    [record] = reopened.owners()
    reopened.close()
    assert (record.owner_edge, record.epoch, record.handing_to) == ("east", 2, "west")


async def test_a_cutover_is_one_journaled_epoch_step_seen_by_both_edges(
    edges: Edges, service: MigrationService, tmp_path: Path
) -> None:
    await make_workload(edges, "owned", 300)
    plan = await service.plan(plan_for("owned"))
    await service.execute(plan.migration_id)
    status = await service.wait(plan.migration_id, {"completed", "failed"}, timeout=30)
    assert status.state == "completed", status
    journal = Journal(tmp_path / "supervisor")
    [record] = journal.owners()
    journal.close()
    assert (record.workload, record.owner_edge, record.epoch) == ("owned", "edge-east", 1)
    assert record.handing_to is None
    source = await target_info(edges, "owned", source=True)
    target = await target_info(edges, "owned")
    assert (source.status, source.epoch) == ("moved", 1)
    assert (target.status, target.epoch) == ("active", 1)
