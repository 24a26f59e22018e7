"""Control requests racing with the end of a run or with a phase transition: a request
the supervisor accepted is carried out, never silently dropped or turned into a crash."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from edge_actors.migration import EdgeUnreachable, IllegalTransition, _phases, _runner, _supervisor
from edge_actors.migration._messages import Cancel, Pause

from .conftest import until_run_stopped
from .ledger import make_workload, open_service, plan_for, target_info, until

if TYPE_CHECKING:
    from pathlib import Path

    from edge_actors.migration import MigrationService

    from .conftest import Edges

pytestmark = pytest.mark.anyio


async def test_cancel_accepted_while_the_paused_run_ends_is_carried_out(
    edges: Edges, service: MigrationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel that reaches the supervisor after the run journaled ``paused`` but before
    the run ended (its ``RunEnded`` still on the way) must still cancel the migration."""
    original = _supervisor.MigrationSupervisor._on_transition
    sent: list[str] = []

    async def transition(self: Any, message: Any) -> Any:
        status = await original(self, message)
        if message.to_state == "paused" and not sent:
            sent.append(message.migration_id)
            # The caller's cancel lands in the mailbox before the actor's RunEnded.
            self.ref.tell_nowait(Cancel(message.migration_id))
        return status

    monkeypatch.setattr(_supervisor.MigrationSupervisor, "_on_transition", transition)
    await make_workload(edges, "race-cancel", 1500, 1024)
    plan = await service.plan(plan_for("race-cancel", bandwidth_limit_mbps=4))
    mid = plan.migration_id
    await service.execute(mid)
    await until(service, mid, bytes_done=100_000)
    await service.pause(mid)
    status = await service.wait(mid, {"cancelled"}, timeout=15)
    assert sent == [mid]
    assert status.state == "cancelled", status
    with pytest.raises(Exception, match="race-cancel"):
        await target_info(edges, "race-cancel")


async def test_pause_just_before_the_cutover_transition_pauses(
    edges: Edges, service: MigrationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pause the supervisor accepts (state ``sync``) while the actor's own transition to
    ``cutover`` is already on the way must pause the migration, not journal ``cutover``
    and then crash-loop on ``cutover -> paused`` until it is rolled back."""
    original = _phases.Phases._cutover

    async def cutover(self: Any, names: list[str]) -> None:
        # The caller's pause lands in the supervisor's mailbox just before our transition.
        self.ctx.supervisor.tell_nowait(Pause(self.mid))
        monkeypatch.setattr(_phases.Phases, "_cutover", original)
        await original(self, names)

    monkeypatch.setattr(_phases.Phases, "_cutover", cutover)
    await make_workload(edges, "race-pause", 300)
    plan = await service.plan(plan_for("race-pause"))
    mid = plan.migration_id
    await service.execute(mid)
    status = await service.wait(mid, {"paused"}, timeout=20)
    assert status.state == "paused", status
    assert (await service.metrics(mid)).restarts == 0  # type: ignore[union-attr]
    assert (await target_info(edges, "race-pause", source=True)).status == "active"
    await service.resume(mid)
    status = await service.wait(mid, {"completed", "failed"}, timeout=30)
    assert status.state == "completed", status
    assert (await target_info(edges, "race-pause")).status == "active"


async def test_resumed_run_that_exhausts_its_restarts_is_rolled_back(
    edges: Edges, service: MigrationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resumed migration (``queued``) whose run crashes before it enters a phase (the
    target does not answer) exhausts its restarts: it must be rolled back as documented,
    not stay ``queued`` forever with no run (``queued -> failed`` is not a transition)."""
    await make_workload(edges, "resume-down", 1500, 1024)
    plan = await service.plan(plan_for("resume-down", bandwidth_limit_mbps=4))
    mid = plan.migration_id
    await service.execute(mid)
    await until(service, mid, bytes_done=100_000)
    assert (await service.pause(mid)).state == "paused"
    original = edges.gateway.workload_info

    async def workload_info(edge: str, workload: str) -> Any:
        if edge == "edge-east":
            raise EdgeUnreachable(f"edge {edge!r} does not answer")
        return await original(edge, workload)

    monkeypatch.setattr(edges.gateway, "workload_info", workload_info)
    await service.resume(mid)
    status = await service.wait(mid, {"rolled_back", "failed"}, timeout=20)
    assert status.state == "rolled_back", status
    assert "restarts exhausted" in (status.error or ""), status
    assert (await target_info(edges, "resume-down", source=True)).status == "active"


async def test_a_running_rollback_cannot_be_paused(
    edges: Edges, service: MigrationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pausing while ``rolling_back`` would cancel the rollback half way and park the
    migration ``paused`` with its routing half restored: it is refused, and the rollback
    finishes."""
    await make_workload(edges, "rb-pause", 1500, 1024)
    plan = await service.plan(plan_for("rb-pause", bandwidth_limit_mbps=4))
    mid = plan.migration_id
    await service.execute(mid)
    await until(service, mid, bytes_done=100_000)
    assert (await service.pause(mid)).state == "paused"
    original = edges.gateway.drop_workload
    edge_answers = anyio.Event()

    async def drop_workload(edge: str, workload: str, **kw: Any) -> Any:
        await edge_answers.wait()  # a slow edge: the rollback is still running
        return await original(edge, workload, **kw)

    monkeypatch.setattr(edges.gateway, "drop_workload", drop_workload)
    await service.rollback(mid, wait=False)
    await service.wait(mid, {"rolling_back"}, timeout=10)
    with pytest.raises(IllegalTransition, match="rolling_back -> paused"):
        await service.pause(mid)
    edge_answers.set()
    status = await service.wait(mid, {"rolled_back", "failed"}, timeout=20)
    assert status.state == "rolled_back", status


async def test_rollback_after_exhausted_restarts_ignores_a_stale_pause(
    edges: Edges, service: MigrationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pause accepted while the crashed actor was down (between its last crash and the
    engine's termination) must not hijack the rollback run that follows: the rollback
    completes instead of stopping at once as ``paused``."""
    await make_workload(edges, "stale-pause", 200)
    original = edges.gateway.workload_info
    calls: list[str] = []

    async def workload_info(edge: str, workload: str) -> Any:
        if edge == "edge-west" and len(calls) < 4:  # the first run and its 3 restarts
            calls.append(edge)
            raise EdgeUnreachable(f"edge {edge!r} does not answer")
        return await original(edge, workload)

    terminated = _supervisor.MigrationSupervisor._on_actor_terminated

    async def actor_terminated(self: Any, notice: Any) -> None:
        if len(calls) == 4:  # the crash that exhausts the restarts
            for mid, run in list(self.runs.items()):
                if run.actor is not None and run.actor.name == notice.ref_name:
                    self.runs.send_intent(mid, "pause")  # what Pause does meanwhile
        await terminated(self, notice)

    plan = await service.plan(plan_for("stale-pause"))
    mid = plan.migration_id
    monkeypatch.setattr(edges.gateway, "workload_info", workload_info)
    monkeypatch.setattr(_supervisor.MigrationSupervisor, "_on_actor_terminated", actor_terminated)
    await service.execute(mid)
    status = await service.wait(mid, {"rolled_back", "paused"}, timeout=20)
    assert len(calls) == 4
    assert status.state == "rolled_back", status


async def test_cancel_survives_a_crash_while_it_is_carried_out(
    edges: Edges, service: MigrationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash while a running migration is being cancelled (the target's drop fails once)
    restarts the actor: it must finish the cancel, not resume migrating."""
    await make_workload(edges, "cancel-crash", 1500, 1024)
    plan = await service.plan(plan_for("cancel-crash", bandwidth_limit_mbps=4))
    mid = plan.migration_id
    original = edges.gateway.drop_workload
    failures: list[str] = []

    async def drop_workload(edge: str, workload: str, **kw: Any) -> Any:
        if not failures:
            failures.append(edge)
            raise EdgeUnreachable(f"edge {edge!r} does not answer")
        return await original(edge, workload, **kw)

    monkeypatch.setattr(edges.gateway, "drop_workload", drop_workload)
    await service.execute(mid)
    await until(service, mid, bytes_done=100_000)
    status = await service.cancel(mid, timeout=20)
    assert failures == ["edge-east"]
    assert status.state == "cancelled", status
    assert (await service.metrics(mid)).restarts == 1  # type: ignore[union-attr]
    assert (await target_info(edges, "cancel-crash", source=True)).status == "active"


async def test_rollback_to_a_checkpoint_before_the_target_copy_existed(
    edges: Edges, service: MigrationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rolling back to a checkpoint taken in planning (no copy on the target yet) returns
    the migration to it (``paused``, resumable) instead of failing it on the missing copy."""
    await make_workload(edges, "early-cp", 200)
    plan = await service.plan(plan_for("early-cp"))
    mid = plan.migration_id
    original = edges.gateway.health
    gate = anyio.Event()

    async def health(edge: str) -> Any:
        await gate.wait()  # planning waits here until the test has paused it
        return await original(edge)

    monkeypatch.setattr(edges.gateway, "health", health)
    await service.execute(mid)
    await service.wait(mid, {"planning"}, timeout=10)
    assert (await service.pause(mid)).state == "paused"
    gate.set()
    first = (await service.checkpoints(mid))[0]
    assert first.phase == "planning"
    status = await service.rollback(mid, first.checkpoint_id, timeout=20)
    assert status.state == "paused", status
    await service.resume(mid)
    status = await service.wait(mid, {"completed", "failed"}, timeout=30)
    assert status.state == "completed", status


async def test_auto_rollback_not_started_before_a_restart_runs_on_recovery(
    edges: Edges, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process died after ``failed`` was journaled but before the auto rollback began:
    the next service on the journal starts that rollback (nothing else ever would)."""
    start_run = _supervisor.MigrationSupervisor._start_run

    async def no_rollback(self: Any, record: Any, mode: str = "migrate") -> None:
        if mode != "rollback":  # the process "dies" before the rollback run starts
            await start_run(self, record, mode)

    async def probe(edge: str, path: str) -> int:
        return 500

    await make_workload(edges, "auto-rb", 200)
    data_dir = tmp_path / "journal"
    with monkeypatch.context() as patch:
        patch.setattr(_supervisor.MigrationSupervisor, "_start_run", no_rollback)
        patch.setattr(edges.gateway, "probe", probe)
        async with open_service(edges, data_dir) as first:
            plan = await first.plan(plan_for("auto-rb", test_endpoints=["/health"]))
            mid = plan.migration_id
            status = await first.execute(mid, auto_rollback=True, wait=True, timeout=30)
            assert status.state == "failed", status
            assert (await target_info(edges, "auto-rb", source=True)).status == "moved"
    async with open_service(edges, data_dir) as second:
        status = await second.wait(mid, {"rolled_back"}, timeout=30)
        assert status.state == "rolled_back", status
    assert (await target_info(edges, "auto-rb", source=True)).status == "active"


async def test_pause_while_the_run_is_failing_does_not_crash_loop(
    edges: Edges, service: MigrationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pause accepted while the run is failing (releasing holds before journaling
    ``failed``) must not crash-loop the actor on ``failed -> paused`` until the supervisor
    rolls back a migration that had no ``auto_rollback``: it ends ``failed``."""
    original = _runner.Runner.release_source_holds

    async def release(self: Any) -> None:
        with anyio.CancelScope(shield=True):  # like the release itself
            # The supervisor accepts the pause meanwhile (its reply says so; a refusal
            # would be raised).
            await self.ctx.supervisor.ask(Pause(self.mid), timeout=10)
        monkeypatch.setattr(_runner.Runner, "release_source_holds", original)
        await original(self)

    async def probe(edge: str, path: str) -> int:
        return 500

    monkeypatch.setattr(_runner.Runner, "release_source_holds", release)
    monkeypatch.setattr(edges.gateway, "probe", probe)
    await make_workload(edges, "fail-pause", 200)
    plan = await service.plan(plan_for("fail-pause", test_endpoints=["/health"]))
    mid = plan.migration_id
    await service.execute(mid)
    status = await service.wait(mid, {"failed", "rolled_back", "paused"}, timeout=20)
    # A crash loop would keep the actor alive (restarting) instead of ending the run.
    await until_run_stopped(edges, service, mid)
    status = await service.status(mid)
    assert status.state == "failed", status
    assert "validation probe" in (status.error or ""), status
    assert (await service.metrics(mid)).restarts == 0  # type: ignore[union-attr]


async def test_rollback_run_exhausting_its_restarts_before_starting_fails(
    edges: Edges, service: MigrationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rollback of a paused migration whose run crashes before it journals
    ``rolling_back`` (an edge cannot be resolved) ends ``failed`` once its restarts are
    exhausted, instead of staying ``paused`` with the caller waiting for nothing."""
    await make_workload(edges, "rb-crash", 1500, 1024)
    plan = await service.plan(plan_for("rb-crash", bandwidth_limit_mbps=4))
    mid = plan.migration_id
    await service.execute(mid)
    await until(service, mid, bytes_done=100_000)
    assert (await service.pause(mid)).state == "paused"

    def resolve(edge: str) -> str:
        raise EdgeUnreachable(f"edge {edge!r} is not known any more")

    monkeypatch.setattr(edges.gateway, "resolve", resolve)
    status = await service.rollback(mid, timeout=15)
    assert status.state == "failed", status
    assert "rollback failed: restarts exhausted" in (status.error or ""), status
