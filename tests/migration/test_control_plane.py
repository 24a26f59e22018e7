"""The migration control plane's shape: a supervised supervisor, one error channel, reports
of stale runs ignored, the journal off the event loop, validation as a service call."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import pytest
from structlog.testing import capture_logs

from edge_actors.actors import Backoff, Refusal
from edge_actors.clock import ManualClock
from edge_actors.migration import (
    IllegalTransition,
    InvalidRequest,
    MigrationMetrics,
    MigrationPlan,
    MigrationProgress,
    MigrationService,
    MigrationStatus,
    RestartPolicy,
    ServiceDefaults,
    UnknownMigration,
    _supervisor,
)
from edge_actors.migration._errors import StaleRun
from edge_actors.migration._messages import Cancel, PublishProgress, RunTotals, Transition
from edge_actors.migration._registry import MigrationRecord
from edge_actors.migration._scheduler import Preempt, Scheduler, Start
from edge_actors.migration._service import ROOT_NAME, SUPERVISOR_NAME
from edge_actors.migration.journal import Journal, SqliteJournal

from .conftest import until_run_stopped
from .ledger import entered, make_workload, open_service, plan_for, target_info, until

if TYPE_CHECKING:
    from pathlib import Path

    from .conftest import Edges

pytestmark = pytest.mark.anyio


async def test_the_supervisor_is_supervised_and_recovers_from_the_journal(
    edges: Edges, service: MigrationService
) -> None:
    """The supervisor crashes mid-migration: the ``migration-root`` supervisor (one_for_all)
    stops the run's actor and restarts both, the new instance recovers the migration from
    the journal and completes it, and a caller already waiting on it is woken by the new
    instance (it subscribes again)."""
    system = service.system
    assert system.lookup(ROOT_NAME) is not None
    await make_workload(edges, "tree", 1500, 1024)
    plan = await service.plan(plan_for("tree", bandwidth_limit_mbps=4))
    mid = plan.migration_id
    await service.execute(mid)
    await until(service, mid, bytes_done=100_000)
    actor = await service.actor_ref(mid)
    assert service._runs is not None
    assert actor in service._runs.children  # the migration actor lives in the tree
    outcome: list[MigrationStatus] = []

    async def waiter() -> None:
        outcome.append(await service.wait(mid, {"completed", "failed"}, timeout=60))

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        supervisor = system.lookup(SUPERVISOR_NAME)
        assert supervisor is not None
        await system.kill(supervisor)
    assert outcome[0].state == "completed", outcome
    assert system.lookup(SUPERVISOR_NAME) is supervisor  # the same ref, a new instance
    assert actor is not None
    assert not actor.is_alive  # one_for_all: the run went down with its supervisor
    history = await service.history(mid)
    assert any("recovered from the journal" in e.detail for e in history)
    assert len(entered(history, "completed")) == 1
    assert (await target_info(edges, "tree")).records == 1500


async def test_refusals_are_raised_with_stable_codes(
    edges: Edges, service: MigrationService
) -> None:
    await make_workload(edges, "codes", 10)
    plan = await service.plan(plan_for("codes"))
    with pytest.raises(IllegalTransition) as illegal:
        await service.resume(plan.migration_id)
    assert isinstance(illegal.value, Refusal)
    assert illegal.value.code == "illegal_transition"
    with pytest.raises(UnknownMigration) as unknown:
        await service.status("nope")
    assert unknown.value.code == "migration_not_found"
    with pytest.raises(InvalidRequest) as invalid:
        await service.configure(max_concurrent=0)
    assert invalid.value.code == "invalid_request"


async def test_a_report_of_a_run_that_is_not_current_changes_nothing(
    edges: Edges, service: MigrationService
) -> None:
    """A late report of a stopped run (here: one that never existed) is refused or
    ignored; the registry keeps its state and progress."""
    await make_workload(edges, "stale", 10)
    plan = await service.plan(plan_for("stale"))
    mid = plan.migration_id
    ref = service._ref
    assert ref is not None
    with pytest.raises(StaleRun) as stale:
        await ref.ask(Transition(mid, "planning", run_id="migration-sup-old-1"), timeout=5)
    assert stale.value.code == "stale_run"
    progress = MigrationProgress(migration_id=mid, state="sync", percent=99.0)
    late = PublishProgress(mid, progress, RunTotals(bytes_raw=10**9), "migration-sup-old-1")
    assert await ref.ask(late, timeout=5) is None
    assert (await service.status(mid)).state == "planned"
    assert (await service.progress(mid)).percent == 0.0
    assert (await service.metrics(mid)).bytes_raw == 0


async def test_journal_calls_run_on_a_worker_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No SQLite journal call (an fsync) ever runs on the event loop's thread."""
    journal = Journal(tmp_path)
    backend = SqliteJournal(journal)
    loop_thread = threading.get_ident()
    threads: list[int] = []
    read_settings = journal.settings

    def settings() -> dict[str, object]:
        threads.append(threading.get_ident())
        return read_settings()

    monkeypatch.setattr(journal, "settings", settings)
    try:
        await backend.save_setting("max_concurrent", 3)
        assert await backend.settings() == {"max_concurrent": 3}
    finally:
        await backend.close()
    assert threads
    assert threads[0] != loop_thread


async def test_validate_compares_both_sides_and_probes(
    edges: Edges, service: MigrationService
) -> None:
    """``validate`` after a completed migration: the source copy is released, the verdict
    rests on the digests compared at cutover, and the target answers the probe."""
    await make_workload(edges, "checked", 200)
    plan = await service.plan(plan_for("checked"))
    mid = plan.migration_id
    status = await service.execute(mid, wait=True, timeout=30)
    assert status.state == "completed", status
    report = await service.validate(mid, ["/api/health"])
    assert report.digests_match is True
    assert report.workloads["checked"].basis.startswith("compared by the migration")
    assert report.workloads["checked"].target is not None
    assert report.endpoints[0].status == 200
    assert report.passed is True


def _record(
    mid: str, priority: int, strategy: str, state: str, queued_at: float
) -> MigrationRecord:
    plan = msgspec.convert(
        {
            "migration_id": mid,
            "source_edge": "a",
            "target_edge": "b",
            "workloads": ["w"],
            "strategy": strategy,
            "priority": priority,
            "constraints": {},
            "bandwidth_bps": None,
            "bandwidth_explicit": False,
            "enable_compression": True,
            "sync_batch_size": 100,
            "checkpoint_interval_s": 60.0,
        },
        MigrationPlan,
    )
    status = MigrationStatus(migration_id=mid, state=state)  # type: ignore[arg-type]
    record = MigrationRecord(plan, status, MigrationMetrics(migration_id=mid), None, 0.0)
    record.queued_at = queued_at
    return record


def test_scheduler_starts_by_priority_and_preempts_the_lowest() -> None:
    scheduler = Scheduler()
    low = _record("low", 2, "live", "sync", 1.0)
    mid_ = _record("mid", 5, "live", "sync", 2.0)
    urgent = _record("urgent", 10, "emergency", "queued", 3.0)
    later = _record("later", 7, "live", "queued", 0.5)
    urgent.want_run = later.want_run = True
    running = {"low", "mid"}
    decisions = scheduler.decide(
        [low, mid_, urgent, later],
        2,
        running=lambda r: r.migration_id in running,
        migrating=lambda r: True,
        stopping=lambda r: False,
    )
    # the emergency preempts the lowest priority; the live one waits for a slot
    assert decisions == [Preempt("low", "urgent"), Start("urgent")]
    decisions = scheduler.decide(
        [low, mid_, urgent, later],
        4,
        running=lambda r: r.migration_id in running,
        migrating=lambda r: True,
        stopping=lambda r: False,
    )
    assert decisions == [Start("urgent"), Start("later")]


async def test_validate_a_migration_planned_before_this_service_started(
    edges: Edges, tmp_path: Path
) -> None:
    """The plan comes from the journal: a migration planned by an earlier process (and no
    longer active) can still be validated (the node used to fail on it)."""
    await make_workload(edges, "older", 50)
    data_dir = tmp_path / "journal"
    async with open_service(edges, data_dir) as first:
        plan = await first.plan(plan_for("older"))
        assert (await first.execute(plan.migration_id, wait=True, timeout=30)).state == (
            "completed"
        )
    async with open_service(edges, data_dir) as second:
        assert await second.active() == []
        report = await second.validate(plan.migration_id)
    assert report.digests_match is True
    assert report.endpoints == []
    assert report.passed is True


async def test_a_run_restarts_within_its_policy_window_on_the_injected_clock(
    edges: Edges, tmp_path: Path
) -> None:
    """The supervisor restarts a crashed run itself (its actors are temporary children of
    ``migration-runs``) with the engine's intensity semantics: with ``max_restarts=1`` two
    crashes within ``within_s`` would exhaust the run, but crashes spread out over more
    than ``within_s`` of the service's clock never do."""
    clock = ManualClock()
    restart = RestartPolicy(max_restarts=1, within_s=10.0, backoff=Backoff(initial_s=0.0))
    defaults = ServiceDefaults(checkpoint_interval_s=0.5, sync_batch_size=200)
    await make_workload(edges, "spread", 1500, 1024)
    async with MigrationService(
        edges.gateway, tmp_path / "j", defaults=defaults, restart=restart, clock=clock
    ) as service:
        plan = await service.plan(plan_for("spread", bandwidth_limit_mbps=4))
        mid = plan.migration_id
        await service.execute(mid)
        await until(service, mid, bytes_done=50_000)
        for _ in range(3):
            ref = await service.actor_ref(mid)
            assert ref is not None
            await service.system.kill(ref)
            with anyio.fail_after(10):
                while (now := await service.actor_ref(mid)) is None or now is ref:
                    await anyio.sleep(0.01)
            clock.advance(11.0)
        status = await service.wait(mid, {"completed", "failed", "rolled_back"}, timeout=60)
        assert status.state == "completed", status
        assert (await service.metrics(mid)).restarts == 3


async def test_a_run_killed_after_its_outcome_is_not_run_again(
    edges: Edges, service: MigrationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The actor is killed right after ``completed`` is journaled (before its RunEnded):
    the restarted incarnation finds the outcome reached and ends the run, instead of
    migrating a completed migration again (``completed -> cleanup``, a crash loop)."""
    original = _supervisor.MigrationSupervisor._on_transition
    killed: list[str] = []

    async def transition(self: Any, message: Any) -> Any:
        status = await original(self, message)
        if message.to_state == "completed" and not killed:
            actor = self.runs.actor_ref(message.migration_id)
            killed.append(actor.name)
            await self.system.kill(actor)
        return status

    monkeypatch.setattr(_supervisor.MigrationSupervisor, "_on_transition", transition)
    await make_workload(edges, "done-kill", 100)
    plan = await service.plan(plan_for("done-kill"))
    mid = plan.migration_id
    status = await service.execute(mid, wait=True, timeout=30)
    assert status.state == "completed", status
    await until_run_stopped(edges, service, mid)
    assert len(killed) == 1
    assert (await service.status(mid)).state == "completed"
    assert (await service.metrics(mid)).restarts == 1
    history = await service.history(mid)
    assert len(entered(history, "completed")) == 1
    assert not entered(history, "failed")


async def test_a_request_accepted_during_a_cancel_is_looked_at_not_lost(
    edges: Edges, service: MigrationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rollback accepted while a paused migration is being cancelled waits for the
    cancel (a cancel is not interrupted); then the run looks at it and drops it, logged
    (a cancelled migration has nothing to roll back), instead of forgetting it silently."""
    await make_workload(edges, "late-rb", 1500, 1024)
    plan = await service.plan(plan_for("late-rb", bandwidth_limit_mbps=4))
    mid = plan.migration_id
    await service.execute(mid)
    await until(service, mid, bytes_done=100_000)
    assert (await service.pause(mid)).state == "paused"
    original = edges.gateway.drop_workload
    edge_answers = anyio.Event()
    dropping = anyio.Event()

    async def drop_workload(edge: str, workload: str, **kw: Any) -> Any:
        dropping.set()
        await edge_answers.wait()  # the cancel run is busy dropping the target's copy
        return await original(edge, workload, **kw)

    monkeypatch.setattr(edges.gateway, "drop_workload", drop_workload)
    ref = service._ref
    assert ref is not None
    with capture_logs() as logs:
        assert (await ref.ask(Cancel(mid), timeout=5)).state == "paused"  # accepted
        with anyio.fail_after(10):
            await dropping.wait()
        accepted = await service.rollback(mid, wait=False)
        assert accepted.rollback_checkpoint is None
        edge_answers.set()
        status = await service.wait(mid, {"cancelled"}, timeout=20)
        await until_run_stopped(edges, service, mid)
    assert status.state == "cancelled", status
    dropped = [e for e in logs if e["event"] == "migration.intent_dropped"]
    assert [e["intent"] for e in dropped] == ["rollback"]
