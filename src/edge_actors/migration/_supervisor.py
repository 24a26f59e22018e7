"""The migration supervisor actor: requests, runs and recovery (layer: migration).

One :class:`MigrationSupervisor` per actor system, a supervised child of the
``migration-root`` supervisor (see ``MigrationService``). It owns the :class:`Registry`
(records and journal) and drives the :class:`Scheduler` and the :class:`RunTable`: plain
classes only this actor calls. Each run of a migration is a :class:`MigrationActor`, a
``temporary`` child of the ``migration-runs`` supervisor that this actor watches and
restarts within the :class:`RestartPolicy` (the run's manager), with an intent lane on
which this actor sends pause, preempt, cancel, rollback and shutdown: the migration actor
cancels its own phase task, carries the intent out and reports the outcome. A refusal is a
raised :class:`~._errors.MigrationRefusal`; anything else from our own actors' reports is a
bug and crashes this actor, whose supervisor restarts it from the journal.

Over 500 lines since ownership and fencing (owner-record asks, the reconciler's passes,
the rollback retry): every message of the control plane is dispatched here, one ``match``;
the logic behind each lives in the plain classes (``_ownership``, ``_reconciler``,
``_runs``). The next split would move the crash handling to ``_runs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from edge_actors._log import get_logger
from edge_actors.actors import Actor, Terminated
from edge_actors.clock import SYSTEM_CLOCK
from edge_actors.errors import ConfigError
from edge_actors.schema import short

from ._errors import (
    IllegalTransition,
    IntentPending,
    InvalidRequest,
    MigrationRefusal,
    StaleRun,
    UnknownCheckpoint,
)
from ._messages import (
    Cancel,
    Configure,
    Execute,
    GetActorRef,
    GetCheckpoints,
    GetDefaults,
    GetHistory,
    GetMetrics,
    GetOverall,
    GetOwner,
    GetPlan,
    GetProgress,
    GetResume,
    GetStatus,
    HandOver,
    ListActive,
    ListAll,
    Pause,
    PublishProgress,
    Register,
    Request,
    Resume,
    ResumePoint,
    RollBack,
    Run,
    RunEnded,
    RunMode,
    RunReport,
    SaveCheckpoint,
    SetDetail,
    SettleOwner,
    Shutdown,
    Subscribe,
    Transition,
    Unsubscribe,
)
from ._models import RUNNING_STATES, TERMINAL_STATES, ServiceDefaults
from ._ownership import Owners
from ._reconciler import (
    EdgeAnswered,
    ReconcileDone,
    ReconcileItem,
    Reconciler,
    ReconcileSettle,
    ReconcileWork,
)
from ._registry import MigrationRecord, Registry
from ._runs import RestartPolicy, RunTable
from ._scheduler import Preempt, Scheduler, Start
from ._settings import parse_settings
from ._slots import LinkSlots
from ._transitions import TRANSITIONS, check_transition
from .journal import JournalUnavailable

if TYPE_CHECKING:
    from edge_actors.actors import ActorRef, SupervisorRef
    from edge_actors.clock import Clock

    from ._gateway import EdgeGateway
    from .journal import JournalBackend

__all__ = ["MigrationSupervisor", "RestartPolicy"]


class MigrationSupervisor(Actor[Request | RunReport | Terminated]):
    """The owner of every migration's record and run; talk to it through ``MigrationService``.

    Args:
        journal: the opened journal (any backend; it outlives restarts of this actor).
        gateway: how to reach the edges.
        defaults: defaults for plans (overridden by settings persisted by ``configure``).
        restart: restart intensity of migration actors.
        clock: the time source of the registry and of every migration actor.
        runs: the ``migration-runs`` supervisor the migration actors are children of.
        leader: this supervisor's name as an elected leader of replicas (``"b (epoch
            2)"``), journaled in the history of each migration it starts driving;
            ``None`` for the embedded supervisor (no such event).
    """

    def __init__(
        self,
        journal: JournalBackend,
        gateway: EdgeGateway,
        defaults: ServiceDefaults,
        restart: RestartPolicy,
        clock: Clock = SYSTEM_CLOCK,
        *,
        runs: SupervisorRef,
        reconcile_interval_s: float = 30.0,
        leader: str | None = None,
    ) -> None:
        self.gateway = gateway
        self.leader = leader
        self._driven: set[str] = set()
        self.defaults = msgspec.structs.replace(defaults)
        self.restart = restart
        self.clock = clock
        self.journal = journal
        self.registry = Registry(journal, clock)
        self.owners = Owners(journal, clock)
        self._rollback_attempts: dict[str, int] = {}
        self.reconcile_interval_s = reconcile_interval_s
        self.reconciler: Reconciler  # bound in on_start, like the runs
        self.scheduler = Scheduler()
        self.link_slots = LinkSlots(self.defaults.link_transfers)
        """Transfer slots per link, shared by every run (``link_transfers``)."""
        self.runs_supervisor = runs
        self.runs: RunTable  # bound in on_start: it needs our system and ref
        self.mlog = get_logger("migration.supervisor")

    async def on_start(self) -> None:
        # Also after a restart by the root supervisor (on_restart calls on_start): the
        # records come back from the journal before any request or report is handled.
        self.runs = RunTable(
            self.system,
            self.ref,
            self.runs_supervisor,
            self.gateway,
            self.restart,
            self.clock,
            self.link_slots,
        )
        await self._recover()
        self.reconciler = Reconciler(self.runs, self.reconcile_interval_s)
        await self.reconciler.schedule(0.0)  # a pass on every start

    async def on_stop(self) -> None:
        await self.reconciler.stop()
        await self.runs.end_all()
        self.registry.close_watchers()  # they subscribe again with the next instance

    async def receive(self, message: Request | RunReport | Terminated) -> Any:
        try:
            return await self._dispatch(message)
        except (MigrationRefusal, JournalUnavailable):
            raise  # a refusal to the asker; a lost journal crashes us (restart from it)
        except Exception as exc:
            if isinstance(message, RunReport | Terminated):
                raise  # a report of our own actors went wrong: a bug, crash loudly
            if isinstance(exc, ConfigError):  # a bad value (a duration): same message
                raise InvalidRequest(str(exc)) from exc
            # A caller's malformed request (a service API bypassed, a field of the wrong
            # type) must never take down the registry of every migration: refuse it.
            self.mlog.error("supervisor.request_refused", request=short(message), exc_info=exc)
            raise InvalidRequest(
                f"migration supervisor refused {type(message).__name__} request "
                f"{short(message)}: {type(exc).__name__}: {exc}"
            ) from exc

    async def _dispatch(self, message: object) -> Any:
        match message:
            case (
                Transition() | SaveCheckpoint() | SetDetail() | PublishProgress() | GetResume()
                | RunEnded() | GetOwner() | HandOver() | SettleOwner()
            ):  # fmt: skip
                return await self._report(message)
            case Terminated():
                await self._on_actor_terminated(message)
                return None
            case _:
                return await self._request(message)

    async def _report(self, message: RunReport) -> Any:
        registry = self.registry
        mid = message.migration_id
        record = registry.get(mid)
        run = self.runs.get(mid)
        if run is None or run.run_id != message.run_id:
            if isinstance(message, PublishProgress | RunEnded):
                return None  # a tell of a stopped run: nothing to answer
            raise StaleRun(
                f"migration {mid}: run {message.run_id!r} is not its current run; "
                f"{type(message).__name__} ignored"
            )
        match message:
            case Transition():
                return await self._on_transition(message)
            case SaveCheckpoint():
                registry.apply_totals(record, message.totals)
                return await registry.save_checkpoint(record, message)
            case SetDetail(detail=detail):
                await registry.set_detail(record, detail)
                return None
            case PublishProgress():
                registry.apply_totals(record, message.totals)
                registry.apply_progress(record, message.progress)
                return None
            case GetResume():
                return await self._resume_point(record)
            case RunEnded():
                await self._on_run_ended(message)
                return None
            case GetOwner(workload=w, default_owner=edge):
                return await self.owners.get(w, edge)
            case HandOver(workload=w, from_edge=old, to_edge=new):
                return await self.owners.hand_over(w, old, new, mid)
            case SettleOwner(workload=w, owner_edge=edge, epoch=epoch):
                return await self.owners.settle(w, edge, epoch, mid)

    async def _request(self, message: object) -> Any:
        registry = self.registry
        match message:
            case Register(plan=plan):
                return await registry.register(plan)
            case Execute():
                return await self._execute(message)
            case Pause(migration_id=mid):
                return await self._pause(registry.get(mid))
            case Resume(migration_id=mid):
                return await self._resume(registry.get(mid))
            case Cancel(migration_id=mid):
                return await self._cancel(registry.get(mid))
            case RollBack(migration_id=mid, checkpoint_id=cp_id):
                return await self._rollback(registry.get(mid), cp_id)
            case GetStatus(migration_id=mid):
                return registry.status(registry.get(mid))
            case GetProgress(migration_id=mid):
                return registry.progress(registry.get(mid))
            case GetMetrics(migration_id=mid):
                record = registry.get(mid)
                return registry.metrics(record, running=mid in self.runs)
            case GetOverall():
                return registry.overall()
            case ListActive():
                return registry.summaries()
            case ListAll():
                return registry.statuses()
            case GetHistory(migration_id=mid):
                if mid is not None:
                    registry.get(mid)
                return await registry.history(mid)
            case GetCheckpoints(migration_id=mid):
                return await registry.checkpoints(registry.get(mid).migration_id)
            case GetDefaults():
                return msgspec.structs.replace(self.defaults)
            case GetPlan(migration_id=mid):
                return registry.get(mid).plan
            case GetActorRef(migration_id=mid):
                return self.actor_ref(registry.get(mid).migration_id)
            case Subscribe(migration_id=mid, channel=channel):
                record = registry.get(mid)
                registry.subscribe(record, channel)
                return registry.status(record)
            case Unsubscribe(migration_id=mid, channel=channel):
                registry.unsubscribe(registry.get(mid), channel)
                return None
            case Configure(values=values):
                return await self._configure(values)
            case Shutdown():
                for mid in self.runs:
                    self.runs.send_intent(mid, "shutdown")
                return None
            case ReconcileWork(passes=passes, only=only):
                self.reconciler.working = passes
                return await self._reconcile_work(only)
            case ReconcileDone(unreachable=edges):
                self.reconciler.unreachable = edges
                return None
            case EdgeAnswered(edge=edge):
                await self.reconciler.edge_answered(edge)
                return None
            case ReconcileSettle(workload=w, owner_edge=edge, epoch=epoch, migration_id=mid):
                return await self.owners.settle(w, edge, epoch, mid)
        raise InvalidRequest(f"migration supervisor: unknown message {short(message)}")

    # -- reports of the migration actors ------------------------------------------------

    async def _on_transition(self, message: Transition) -> Any:
        record = self.registry.get(message.migration_id)
        if message.totals is not None:
            self.registry.apply_totals(record, message.totals)
        run = self.runs.get(message.migration_id)
        intent = run.intent if run is not None else None
        if (
            intent is not None
            and intent.kind in ("pause", "preempt", "cancel")
            and message.to_state in RUNNING_STATES
        ):
            # The intent is on the run's lane already: moving on to the next phase now
            # would make it illegal (cutover cannot be paused). The run waits for it.
            raise IntentPending(
                message.migration_id, record.status.state, message.to_state,
                f"{intent.kind} requested",
            )  # fmt: skip
        await self.registry.transition(record, message.to_state, message.detail, message.error)
        if run is not None and message.to_state not in RUNNING_STATES:
            run.intent = None  # taken effect (paused, queued, cancelled) or superseded
        return self.registry.status(record)

    async def _resume_point(self, record: MigrationRecord) -> ResumePoint:
        run = self.runs.get(record.migration_id)
        target = None
        cp_id = record.status.rollback_checkpoint
        if cp_id is not None:
            checkpoints = await self.registry.checkpoints(record.migration_id)
            target = next((c for c in checkpoints if c.checkpoint_id == cp_id), None)
        return ResumePoint(
            status=self.registry.status(record),
            checkpoint=record.checkpoint,
            rollback_to=target,
            mode=run.mode if run is not None else "migrate",
            intent=run.intent if run is not None else None,
            intent_seq=run.seq if run is not None else 0,
            metrics=self.registry.metrics(record, running=False),
            progress=self.registry.progress(record),
        )

    async def _on_run_ended(self, message: RunEnded) -> None:
        record = self.registry.get(message.migration_id)
        self.registry.apply_totals(record, message.totals)
        run = self.runs.get(message.migration_id)
        if run is None:
            return
        if message.intent_seq < run.seq and run.intent is not None:
            actor = self.actor_ref(message.migration_id)
            if actor is not None:
                # An intent arrived after the run last looked at its lane and has not
                # taken effect: the same actor runs again and carries it out first (its
                # resume point names it), so the run is not over until it has.
                actor.tell_nowait(Run())
                return
        await self.runs.end(message.migration_id)
        status = record.status
        if status.state in TERMINAL_STATES:
            self._rollback_attempts.pop(record.migration_id, None)
        if status.state == "failed" and status.auto_rollback:
            self.mlog.warning("migration.auto_rollback", migration_id=record.migration_id)
            await self._start_run(record, "rollback")
        await self._schedule()

    async def _on_actor_terminated(self, notice: Terminated) -> None:
        """A run's actor ended without being stopped by us: a crash. Restart the run
        within its policy, or (exhausted) fail it and roll it back."""
        if self.reconciler.is_pass(notice.ref_name):
            await self.reconciler.schedule(self.reconcile_interval_s)
            return
        mid = self.runs.by_actor(notice.ref_name)
        if mid is None:
            return
        record = self.registry.get(mid)
        if await self.runs.restart_after_crash(mid):
            record.metrics.restarts += 1
            self.mlog.warning("migration.actor_restarted", migration_id=mid, reason=notice.reason)
            await self.registry.event(record, f"actor restarted after crash: {notice.reason}")
            return
        run = self.runs.forget(mid)  # intents for the dead run die with it
        reason = f"restarts exhausted: {notice.reason}"
        self.mlog.error("migration.restarts_exhausted", migration_id=mid)
        state = record.status.state
        if state in TERMINAL_STATES:  # it crashed after its outcome: nothing to undo
            await self._schedule()
            return
        transition = self.registry.transition
        if state == "rolling_back" or run.mode == "rollback":
            # Not terminal: the rollback is retried, with capped backoff, until the edges
            # answer (an edge outage must not leave two copies or a hold behind).
            attempt = self._rollback_attempts.get(mid, 0)
            self._rollback_attempts[mid] = attempt + 1
            delay = self.restart.rollback_retry.delay(attempt)
            error = f"rollback failed: {reason}; retrying in {delay:g}s (attempt {attempt + 1})"
            if state != "failed":
                if "failed" not in TRANSITIONS.get(state, ()):
                    # queued or paused: the rollback run crashed before it began
                    await transition(record, "rolling_back")
                await transition(record, "failed", error=error)
            else:
                await self.registry.event(record, error)
            self.mlog.warning("migration.rollback_retry", migration_id=mid, delay_s=delay)
            record.want_run = False
            await self.runs.start(record, "rollback", delay_s=delay)
        else:
            if "failed" in TRANSITIONS.get(state, ()):
                await transition(record, "failed", error=reason)
            elif state != "failed":
                # queued or paused: the run crashed before it entered a phase, and neither
                # may become failed; the rollback run goes on from rolling_back.
                await transition(record, "rolling_back", error=reason)
            await self._start_run(record, "rollback")
        await self._schedule()

    # -- runs ---------------------------------------------------------------------------

    async def _start_run(self, record: MigrationRecord, mode: RunMode = "migrate") -> None:
        record.want_run = False
        if self.leader is not None and record.migration_id not in self._driven:
            self._driven.add(record.migration_id)
            await self.registry.event(record, f"driven by supervisor leader {self.leader}")
        await self.runs.start(record, mode)

    def actor_ref(self, migration_id: str) -> ActorRef[Any] | None:
        """The running migration actor's ref, or ``None``."""
        return self.runs.actor_ref(migration_id)

    async def _schedule(self) -> None:
        decisions = self.scheduler.decide(
            self.registry.records.values(),
            self.defaults.max_concurrent,
            running=lambda r: r.migration_id in self.runs,
            migrating=lambda r: self.runs[r.migration_id].mode == "migrate",
            stopping=lambda r: self.runs[r.migration_id].intent is not None,
        )
        for decision in decisions:
            match decision:
                case Start(migration_id=mid):
                    await self._start_run(self.registry.get(mid))
                case Preempt(victim=victim, by=by):
                    self.runs.send_intent(victim, "preempt", detail=f"preempted by {by}")
                    self.mlog.info("migration.preempted", migration_id=victim, by=by)

    async def _recover(self) -> None:
        settings, entries = await self.registry.read_journal()
        for key, value in settings.items():
            if key in ServiceDefaults.__struct_fields__:
                setattr(self.defaults, key, value)
        self.link_slots.resize(self.defaults.link_transfers)
        for record in self.registry.load(entries):
            state = record.status.state
            if state in RUNNING_STATES or state == "queued":
                record.want_run = True
                record.metrics.restarts += 1  # it restarts from its checkpoint, like a crash
                await self.registry.event(record, "recovered from the journal after a restart")
            elif state == "rolling_back" or (
                state == "failed" and await self.registry.rollback_due(record)
            ):
                await self._start_run(record, "rollback")
        await self._schedule()

    async def _reconcile_work(self, only: tuple[str, ...] | None) -> list[ReconcileItem]:
        """The owner records whose migration is known and has no run going (with ``only``:
        whose migration's source or target is one of those edges)."""
        items = []
        for record in await self.owners.all():
            migration = self.registry.records.get(record.migration_id)
            if migration is None or record.migration_id in self.runs:
                continue
            plan = migration.plan
            if only is not None and not {plan.source_edge, plan.target_edge} & set(only):
                continue
            items.append(ReconcileItem(
                record=record, source_edge=plan.source_edge, target_edge=plan.target_edge
            ))  # fmt: skip
        return items

    # -- service requests ---------------------------------------------------------------

    async def _configure(self, values: object) -> ServiceDefaults:
        for key, value in parse_settings(values).items():
            setattr(self.defaults, key, value)
            await self.registry.save_setting(key, value)
        self.link_slots.resize(self.defaults.link_transfers)
        await self._schedule()
        return msgspec.structs.replace(self.defaults)

    async def _execute(self, message: Execute) -> Any:
        record = self.registry.get(message.migration_id)
        state = record.status.state
        check_transition(record.migration_id, state, "queued")
        if state != "planned":
            raise IllegalTransition(
                record.migration_id, state, "queued", "only a planned one executes"
            )
        if not isinstance(message.auto_rollback, bool):
            raise InvalidRequest(
                f"auto_rollback: expected true or false, got {short(message.auto_rollback)}"
            )
        record.status.auto_rollback = message.auto_rollback
        await self.registry.transition(record, "queued", "waiting for an execution slot")
        await self._schedule()
        return self.registry.status(record)

    async def _pause(self, record: MigrationRecord) -> Any:
        mid, state = record.migration_id, record.status.state
        check_transition(mid, state, "paused")
        if state == "rolling_back":  # (only the rollback itself ends paused, at a checkpoint)
            raise IllegalTransition(mid, state, "paused", "a rollback cannot be paused")
        if mid in self.runs:
            self.runs.send_intent(mid, "pause")
        else:
            record.want_run = False
            await self.registry.transition(record, "paused", f"paused while {state}")
        return self.registry.status(record)

    async def _resume(self, record: MigrationRecord) -> Any:
        mid, state = record.migration_id, record.status.state
        check_transition(mid, state, "queued")
        if state != "paused":
            raise IllegalTransition(mid, state, "queued", "only a paused migration resumes")
        await self.registry.transition(record, "queued", "resumed")
        await self._schedule()
        return self.registry.status(record)

    async def _cancel(self, record: MigrationRecord) -> Any:
        mid, state = record.migration_id, record.status.state
        check_transition(mid, state, "cancelled")
        checkpoint = record.checkpoint
        cut = [] if checkpoint is None else [
            w for w, c in checkpoint.workloads.items() if c.routing == "target"
        ]  # fmt: skip
        if cut:
            raise IllegalTransition(
                mid, state, "cancelled", f"{', '.join(cut)} already cut over; use rollback"
            )
        if mid in self.runs:
            self.runs.send_intent(mid, "cancel")
        elif checkpoint is not None:
            await self._start_run(record, "cancel")
        else:
            record.want_run = False
            await self.registry.transition(record, "cancelled")
        return self.registry.status(record)

    async def _rollback(self, record: MigrationRecord, cp_id: object) -> Any:
        mid, state = record.migration_id, record.status.state
        if cp_id is not None:
            if not isinstance(cp_id, str):
                raise InvalidRequest(f"checkpoint_id: expected a string, got {short(cp_id)}")
            ids = [c.checkpoint_id for c in await self.registry.checkpoints(mid)]
            if cp_id not in ids:
                raise UnknownCheckpoint(
                    f"checkpoint {cp_id!r} does not belong to migration {mid} "
                    f"(its checkpoints: {', '.join(ids) or 'none'})"
                )
        check_transition(mid, state, "rolling_back")
        record.status.rollback_checkpoint = cp_id
        if mid in self.runs:
            self.runs.send_intent(mid, "rollback", checkpoint_id=cp_id)
        else:
            record.want_run = False
            await self._start_run(record, "rollback")
        return self.registry.status(record)
