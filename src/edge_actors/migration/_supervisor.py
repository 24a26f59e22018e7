"""The migration supervisor: the shared state of all migrations (layer: migration).

One :class:`MigrationSupervisor` actor per actor system owns the registry of migrations
(plans, statuses, progress, metrics, checkpoints) and journals every change before
replying. It schedules by priority under ``max_concurrent`` (extra migrations wait
``queued``; an ``emergency`` preempts the lowest-priority running one), runs each
migration in a :class:`MigrationActor` under its own engine supervisor (restart intensity
from the actor engine), and rolls a migration back when its restarts are exhausted or it
fails with ``auto_rollback``. On start it resumes unfinished migrations from the journal.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from edge_actors._log import get_logger
from edge_actors.actors import Actor, Backoff, SupervisorRef, Terminated
from edge_actors.errors import ConfigError
from edge_actors.units import parse_duration

from ._actor import MigrationActor
from ._errors import (
    IllegalTransition,
    InvalidRequest,
    MigrationRefusal,
    UnknownCheckpoint,
    UnknownMigration,
)
from ._messages import (
    Configure,
    Control,
    Execute,
    GetResume,
    Query,
    Register,
    Restarted,
    ResumePoint,
    RunContext,
    RunControl,
    RunEnded,
    RunMode,
    SaveCheckpoint,
    SetDetail,
    Shutdown,
    Transition,
)
from ._models import (
    ACTIVE_STATES,
    PHASES,
    RUNNING_STATES,
    Checkpoint,
    HistoryEvent,
    MigrationMetrics,
    MigrationPlan,
    MigrationProgress,
    MigrationStatus,
    MigrationSummary,
    OverallMetrics,
    ServiceDefaults,
)
from ._strategies import Strategy, get_strategy
from ._transitions import TRANSITIONS, check_transition

if TYPE_CHECKING:
    from ._gateway import EdgeGateway
    from ._journal import Journal

__all__ = ["MigrationSupervisor", "RestartPolicy"]

_PAUSABLE = frozenset(("planning", "pre_sync", "sync"))
_REQUESTS = (Register, Execute, Control, Query, Configure)
"""Messages that come from callers (through ``MigrationService``), not from our actors."""


class RestartPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Restart intensity of each migration actor (the actor engine's semantics).

    Attributes:
        max_restarts: restarts allowed within ``within_s``; one more rolls back.
        within_s: the intensity window in seconds.
        backoff: delay between restarts.
    """

    max_restarts: int = 3
    within_s: float = 60.0
    backoff: Backoff = Backoff(initial_s=0.2, factor=2.0, max_s=2.0)


class _Recover(msgspec.Struct, frozen=True):
    """Self message: load the journal and resume unfinished migrations."""


class _Entry:
    """Everything the supervisor holds about one migration."""

    def __init__(
        self,
        plan: MigrationPlan,
        status: MigrationStatus,
        metrics: MigrationMetrics,
        checkpoint: Checkpoint | None,
    ) -> None:
        self.plan = plan
        self.strategy: Strategy = get_strategy(plan.strategy)
        self.status = status
        self.metrics = metrics
        self.checkpoint = checkpoint
        self.cp_seq = checkpoint.seq if checkpoint is not None else 0
        self.progress = MigrationProgress(
            migration_id=plan.migration_id,
            state=status.state,
            phase=status.phase,
            records_total=sum(e.records for e in plan.estimates),
            bytes_remaining=plan.estimated_bytes,
        )
        self._restore_progress()
        self.control = RunControl()
        self.engine: SupervisorRef | None = None
        self.running = False
        self.want_run = False
        self.mode: RunMode = "migrate"
        self.queued_at = time.monotonic()
        self.entered_at = time.monotonic()
        self.changed = anyio.Event()

    def _restore_progress(self) -> None:
        """Rebuild the live progress of an entry loaded from the journal.

        Progress is not journaled, but what it reports about finished work is: the
        acknowledged bytes and records are in the metrics, round and stage in the latest
        checkpoint. Without this a paused migration read 0 % after a service restart.
        """
        p, m, estimated = self.progress, self.metrics, self.plan.estimated_bytes
        if self.checkpoint is not None:
            p.round, p.stage = self.checkpoint.round, self.checkpoint.stage
        if self.status.state == "completed":
            p.bytes_done, p.records_done = m.bytes_raw, m.records
            p.bytes_remaining, p.percent, p.eta_s = 0, 100.0, 0.0
        elif m.bytes_raw:
            p.bytes_done, p.records_done = m.bytes_raw, m.records
            p.bytes_remaining = max(0, estimated - m.bytes_raw)
            if estimated:  # the same arithmetic as the migration actor's
                p.percent = min(100.0, 100.0 * p.bytes_done / max(1, estimated))

    def notify(self) -> None:
        changed, self.changed = self.changed, anyio.Event()
        changed.set()


class MigrationSupervisor(Actor[object]):
    """The registry and scheduler of migrations; talk to it through ``MigrationService``.

    Args:
        journal: the opened journal.
        gateway: how to reach the edges.
        defaults: defaults for plans (overridden by settings persisted by ``configure``).
        restart: restart intensity of migration actors.
    """

    def __init__(
        self,
        journal: Journal,
        gateway: EdgeGateway,
        defaults: ServiceDefaults,
        restart: RestartPolicy,
    ) -> None:
        self.journal = journal
        self.gateway = gateway
        self.defaults = defaults
        self.restart = restart
        self.entries: dict[str, _Entry] = {}
        self._ids = itertools.count(1)
        self.mlog = get_logger("migration.supervisor")

    async def on_start(self) -> None:
        self.ref.tell_nowait(_Recover())

    async def on_stop(self) -> None:
        for entry in self.entries.values():
            if entry.running:
                entry.control.request("shutdown")
        for entry in self.entries.values():
            if entry.engine is not None and entry.engine.is_alive:
                await self.system.unwatch(self.ref, entry.engine.ref)
                await self.system.stop(entry.engine.ref, timeout=5.0)

    async def receive(self, message: object) -> Any:
        try:
            return await self._dispatch(message)
        except MigrationRefusal:
            raise
        except ConfigError as exc:
            raise InvalidRequest(str(exc)) from exc
        except Exception as exc:
            if not isinstance(message, _REQUESTS):
                raise  # a message of our own migration actors: a bug, crash loudly
            # A caller's malformed request (a service API bypassed, a field of the wrong
            # type) must never take down the registry of every migration: refuse it.
            self.mlog.error("supervisor.request_refused", request=_short(message), exc_info=exc)
            raise InvalidRequest(
                f"migration supervisor refused {type(message).__name__} request "
                f"{_short(message)}: {type(exc).__name__}: {exc}"
            ) from exc

    async def _dispatch(self, message: object) -> Any:
        if isinstance(message, Transition):
            entry = self._get(message.migration_id)
            intent = entry.control.intent
            if intent in ("pause", "preempt", "cancel") and message.to_state in RUNNING_STATES:
                # The run was stopped for ``intent`` after it sent this: moving on to the
                # next phase now would make the pending pause or cancel illegal.
                raise IllegalTransition(
                    message.migration_id, entry.status.state, message.to_state,
                    f"{intent} requested",
                )  # fmt: skip
            self._transition(entry, message.to_state, message.detail, message.error)
            if message.to_state == "failed" and intent in ("pause", "preempt"):
                entry.control.clear()  # the run's outcome supersedes it (failed -> paused)
            return self._status(entry)
        if isinstance(message, SaveCheckpoint):
            return self._save_checkpoint(message)
        if isinstance(message, SetDetail):
            entry = self._get(message.migration_id)
            entry.status.detail = message.detail
            entry.progress.detail = message.detail
            self.journal.save_status(entry.status, entry.metrics)
            entry.notify()
            return None
        if isinstance(message, GetResume):
            return self._resume_point(self._get(message.migration_id))
        if isinstance(message, RunEnded):
            await self._run_ended(self._get(message.migration_id))
            return None
        if isinstance(message, Restarted):
            entry = self._get(message.migration_id)
            entry.metrics.restarts += 1
            self._event(entry, entry.status.state, f"actor restarted after crash: {message.error}")
            return None
        if isinstance(message, Terminated):
            await self._engine_terminated(message)
            return None
        if isinstance(message, Register):
            if not isinstance(message.plan, MigrationPlan):
                raise ConfigError(f"plan: expected a MigrationPlan, got {_short(message.plan)}")
            return self._register(message.plan)
        if isinstance(message, Execute):
            return await self._execute(message)
        if isinstance(message, Control):
            return await self._control(message)
        if isinstance(message, Query):
            return self._query(message)
        if isinstance(message, Configure):
            return await self._configure(message.values)
        if isinstance(message, Shutdown):
            for entry in self.entries.values():
                if entry.running:
                    entry.control.request("shutdown")
            return None
        if isinstance(message, _Recover):
            await self._recover()
            return None
        raise ConfigError(f"migration supervisor: unknown message {message!r}")

    # -- registry -------------------------------------------------------------------------

    def _get(self, migration_id: str | None) -> _Entry:
        if migration_id is not None and not isinstance(migration_id, str):
            raise ConfigError(f"migration_id: expected a string, got {_short(migration_id)}")
        entry = self.entries.get(migration_id or "")
        if entry is None:
            raise UnknownMigration(f"unknown migration {migration_id!r}")
        return entry

    @staticmethod
    def _status(entry: _Entry) -> MigrationStatus:
        return msgspec.structs.replace(entry.status)

    def _register(self, plan: MigrationPlan) -> MigrationStatus:
        if plan.migration_id in self.entries:
            raise ConfigError(f"migration_id: {plan.migration_id!r} already exists")
        now = time.time()
        status = MigrationStatus(
            migration_id=plan.migration_id,
            state="planned",
            priority=plan.priority,
            strategy=plan.strategy,
            updated_at=now,
        )
        self.journal.add_plan(plan, status)
        entry = _Entry(plan, status, MigrationMetrics(
            migration_id=plan.migration_id, workload_bytes=plan.estimated_bytes
        ), None)  # fmt: skip
        self.entries[plan.migration_id] = entry
        self.mlog.info("migration.planned", migration_id=plan.migration_id, plan=plan.strategy)
        return self._status(entry)

    def _transition(
        self, entry: _Entry, to_state: str, detail: str = "", error: str | None = None
    ) -> None:
        status = entry.status
        check_transition(status.migration_id, status.state, to_state)
        now = time.time()
        mono = time.monotonic()
        if status.state in RUNNING_STATES:
            spent = mono - entry.entered_at
            durations = entry.metrics.phase_durations_s
            durations[status.state] = durations.get(status.state, 0.0) + spent
            entry.metrics.duration_s += spent
        entry.entered_at = mono
        event = HistoryEvent(
            migration_id=status.migration_id,
            at=now,
            from_state=status.state,
            to_state=to_state,
            detail=detail or (error or ""),
        )
        status.state = to_state  # type: ignore[assignment]  # validated by check_transition
        if to_state in PHASES:
            status.phase = to_state
        status.detail = detail
        if error is not None:
            status.error = error
        elif to_state in RUNNING_STATES or to_state == "queued":
            status.error = None
        if to_state != "rolling_back" and to_state != "paused":
            status.rollback_checkpoint = None
        status.updated_at = now
        entry.metrics.state = status.state
        entry.progress.state = status.state
        entry.progress.phase = status.phase
        entry.progress.detail = detail
        if to_state == "queued":
            entry.want_run = True
            entry.queued_at = mono
        self.journal.transition(status, event, entry.metrics)
        self.mlog.info(
            "migration.transition",
            migration_id=status.migration_id,
            from_state=event.from_state,
            to_state=to_state,
            detail=event.detail,
        )
        entry.notify()

    def _event(self, entry: _Entry, state: str, detail: str) -> None:
        event = HistoryEvent(
            migration_id=entry.plan.migration_id,
            at=time.time(),
            from_state=state,
            to_state=state,
            detail=detail,
        )
        self.journal.transition(entry.status, event, entry.metrics)
        entry.notify()

    def _save_checkpoint(self, message: SaveCheckpoint) -> Checkpoint:
        entry = self._get(message.migration_id)
        entry.cp_seq += 1
        checkpoint = Checkpoint(
            checkpoint_id=f"{message.migration_id}-cp{entry.cp_seq}",
            migration_id=message.migration_id,
            seq=entry.cp_seq,
            created_at=time.time(),
            phase=message.phase,
            round=message.round,
            stage=message.stage,
            workloads=message.workloads,
            reason=message.reason,
        )
        self.journal.add_checkpoint(checkpoint, entry.metrics)
        entry.checkpoint = checkpoint
        return checkpoint

    def _resume_point(self, entry: _Entry) -> ResumePoint:
        target = None
        cp_id = entry.status.rollback_checkpoint
        if cp_id is not None:
            target = next(
                (c for c in self.journal.checkpoints(entry.plan.migration_id)
                 if c.checkpoint_id == cp_id),
                None,
            )  # fmt: skip
        return ResumePoint(
            status=self._status(entry), checkpoint=entry.checkpoint, rollback_to=target,
            mode=entry.mode,
        )  # fmt: skip

    # -- runs ---------------------------------------------------------------------------

    async def _start_run(self, entry: _Entry, mode: RunMode = "migrate") -> None:
        entry.want_run = False
        entry.running = True
        entry.mode = mode
        try:
            await self._spawn_run(entry, mode)
        except BaseException:
            # A run that never started must not keep its concurrency slot.
            entry.running = False
            await self._stop_engine(entry)
            raise
        self.mlog.info("migration.run_started", migration_id=entry.plan.migration_id, mode=mode)

    async def _spawn_run(self, entry: _Entry, mode: RunMode) -> None:
        n = next(self._ids)
        mid = entry.plan.migration_id
        engine = await self.system.spawn_supervisor(
            name=f"migration-sup-{mid}-{n}",
            max_restarts=self.restart.max_restarts,
            within_s=self.restart.within_s,
            backoff=self.restart.backoff,
        )
        entry.engine = engine
        await self.system.watch(self.ref, engine.ref)
        ctx = RunContext(
            plan=entry.plan,
            strategy=entry.strategy,
            gateway=self.gateway,
            supervisor=self.ref,
            progress=entry.progress,
            metrics=entry.metrics,
            control=entry.control,
        )
        await engine.spawn_child(
            lambda: MigrationActor(ctx), name=f"migration-{mid}-{n}", restart="transient"
        )

    def actor_ref(self, migration_id: str) -> Any:
        """The running migration actor's ref (tests kill it), or ``None``."""
        entry = self._get(migration_id)
        if entry.engine is None or not entry.engine.is_alive or not entry.engine.children:
            return None
        return entry.engine.children[0]

    async def _stop_engine(self, entry: _Entry) -> None:
        engine, entry.engine = entry.engine, None
        if engine is not None and engine.is_alive:
            await self.system.unwatch(self.ref, engine.ref)
            await self.system.stop(engine.ref, timeout=5.0)

    async def _run_ended(self, entry: _Entry) -> None:
        entry.running = False
        entry.mode = "migrate"
        await self._stop_engine(entry)
        started = await self._pending_intent(entry)
        if not started and entry.status.state == "failed" and entry.status.auto_rollback:
            self.mlog.warning("migration.auto_rollback", migration_id=entry.plan.migration_id)
            await self._start_run(entry, "rollback")
        await self._schedule()

    async def _pending_intent(self, entry: _Entry) -> bool:
        """Carry out a request accepted after the run stopped listening (it arrived
        between the run's last transition and its ``RunEnded``); True if a run started."""
        control = entry.control
        intent = control.intent
        if intent not in ("pause", "cancel", "rollback"):
            return False
        control.clear()
        state = entry.status.state
        try:
            if intent == "pause":
                if state != "paused":
                    check_transition(entry.plan.migration_id, state, "paused")
                    entry.want_run = False
                    self._transition(entry, "paused", f"paused while {state}")
                return False
            if intent == "cancel":
                check_transition(entry.plan.migration_id, state, "cancelled")
                if entry.checkpoint is not None:
                    await self._start_run(entry, "cancel")
                    return True
                entry.want_run = False
                self._transition(entry, "cancelled")
                return False
            check_transition(entry.plan.migration_id, state, "rolling_back")
        except IllegalTransition as exc:
            self.mlog.warning("migration.intent_dropped", intent=intent, error=str(exc))
            return False
        entry.want_run = False
        await self._start_run(entry, "rollback")
        return True

    async def _engine_terminated(self, notice: Terminated) -> None:
        for entry in self.entries.values():
            if entry.engine is not None and entry.engine.name == notice.ref_name:
                break
        else:
            return
        entry.engine = None
        if not entry.running:
            return
        entry.running = False
        entry.control.clear()  # a request for the dead run must not stop the rollback run
        reason = f"restarts exhausted: {notice.reason}"
        self.mlog.error("migration.restarts_exhausted", migration_id=entry.plan.migration_id)
        state = entry.status.state
        if state == "rolling_back" or entry.mode == "rollback":
            if state != "failed":
                if "failed" not in TRANSITIONS.get(state, ()):
                    # queued or paused: the rollback run crashed before it began
                    self._transition(entry, "rolling_back")
                self._transition(entry, "failed", error=f"rollback failed: {reason}")
        else:
            if "failed" in TRANSITIONS.get(state, ()):
                self._transition(entry, "failed", error=reason)
            elif state != "failed":
                # queued or paused: the run crashed before it entered a phase, and neither
                # may become failed; the rollback run goes on from rolling_back.
                self._transition(entry, "rolling_back", error=reason)
            await self._start_run(entry, "rollback")
        await self._schedule()

    async def _schedule(self) -> None:
        limit = self.defaults.max_concurrent
        busy = [e for e in self.entries.values() if e.running and e.mode == "migrate"]
        free = limit - len(busy)
        waiting = sorted(
            (e for e in self.entries.values() if e.want_run and not e.running),
            key=lambda e: (-e.plan.priority, e.queued_at),
        )
        for entry in waiting:
            if free > 0:
                free -= 1
                await self._start_run(entry)
                continue
            if not entry.strategy.preempts:
                continue
            victims = [
                e for e in busy
                if not e.strategy.preempts and e.status.state in _PAUSABLE
                and e.control.intent is None and e.plan.priority < entry.plan.priority
            ]  # fmt: skip
            if not victims:
                continue
            victim = min(victims, key=lambda e: (e.plan.priority, -e.queued_at))
            busy.remove(victim)
            victim.control.request("preempt", detail=f"preempted by {entry.plan.migration_id}")
            self.mlog.info(
                "migration.preempted",
                migration_id=victim.plan.migration_id,
                by=entry.plan.migration_id,
            )
            await self._start_run(entry)

    async def _recover(self) -> None:
        for key, value in self.journal.settings().items():
            if key in ServiceDefaults.__struct_fields__:
                setattr(self.defaults, key, value)
        for item in self.journal.load():
            entry = _Entry(item.plan, item.status, item.metrics, item.checkpoint)
            self.entries[item.plan.migration_id] = entry
            state = item.status.state
            if state in RUNNING_STATES or state == "queued":
                entry.want_run = True
                self._event(entry, state, "recovered from the journal after a restart")
            elif state == "rolling_back" or (state == "failed" and self._rollback_due(entry)):
                await self._start_run(entry, "rollback")
        await self._schedule()

    def _rollback_due(self, entry: _Entry) -> bool:
        """Whether a failed migration still owes the rollback the supervisor starts after
        a failure (``auto_rollback``, restarts exhausted): the process may have died
        between journaling ``failed`` and the rollback run's ``rolling_back``."""
        error = entry.status.error or ""
        if not (entry.status.auto_rollback or error.startswith("restarts exhausted")):
            return False
        into_failed = [
            e for e in self.journal.history(entry.plan.migration_id)
            if e.to_state == "failed" and e.from_state != "failed"
        ]  # fmt: skip
        return bool(into_failed) and into_failed[-1].from_state != "rolling_back"

    # -- service requests ---------------------------------------------------------------

    async def _execute(self, message: Execute) -> MigrationStatus:
        entry = self._get(message.migration_id)
        check_transition(message.migration_id, entry.status.state, "queued")
        if entry.status.state != "planned":
            raise IllegalTransition(
                message.migration_id, entry.status.state, "queued", "only a planned one executes"
            )
        entry.status.auto_rollback = message.auto_rollback
        self._transition(entry, "queued", "waiting for an execution slot")
        await self._schedule()
        return self._status(entry)

    async def _control(self, message: Control) -> MigrationStatus:
        entry = self._get(message.migration_id)
        state = entry.status.state
        mid = message.migration_id
        action = message.action
        if action not in ("pause", "resume", "cancel", "rollback"):
            raise ConfigError(
                f"action: expected pause, resume, cancel or rollback, got {_short(action)}"
            )
        cp_id = message.checkpoint_id
        if cp_id is not None and not isinstance(cp_id, str):
            raise ConfigError(f"checkpoint_id: expected a string, got {_short(cp_id)}")
        if action == "pause":
            check_transition(mid, state, "paused")
            if state == "rolling_back":  # (only the rollback itself ends paused, at a checkpoint)
                raise IllegalTransition(mid, state, "paused", "a rollback cannot be paused")
            if entry.running:
                entry.control.request("pause")
            else:
                entry.want_run = False
                self._transition(entry, "paused", f"paused while {state}")
        elif action == "resume":
            check_transition(mid, state, "queued")
            if state != "paused":
                raise IllegalTransition(mid, state, "queued", "only a paused migration resumes")
            self._transition(entry, "queued", "resumed")
            await self._schedule()
        elif action == "cancel":
            check_transition(mid, state, "cancelled")
            cut = self._cut_over(entry)
            if cut:
                raise IllegalTransition(
                    mid, state, "cancelled", f"{', '.join(cut)} already cut over; use rollback"
                )
            if entry.running:
                entry.control.request("cancel")
            elif entry.checkpoint is not None:
                await self._start_run(entry, "cancel")
            else:
                entry.want_run = False
                self._transition(entry, "cancelled")
        else:
            if cp_id is not None:
                ids = [c.checkpoint_id for c in self.journal.checkpoints(mid)]
                if cp_id not in ids:
                    raise UnknownCheckpoint(
                        f"checkpoint {cp_id!r} does not belong to migration {mid} "
                        f"(its checkpoints: {', '.join(ids) or 'none'})"
                    )
            check_transition(mid, state, "rolling_back")
            entry.status.rollback_checkpoint = cp_id
            if entry.running:
                entry.control.request("rollback", checkpoint_id=cp_id)
            else:
                entry.want_run = False
                await self._start_run(entry, "rollback")
        return self._status(entry)

    @staticmethod
    def _cut_over(entry: _Entry) -> list[str]:
        if entry.checkpoint is None:
            return []
        return [w for w, c in entry.checkpoint.workloads.items() if c.routing == "target"]

    def _query(self, message: Query) -> Any:
        what = message.what
        if what == "active":
            return [self._summary(e) for e in self.entries.values()
                    if e.status.state in ACTIVE_STATES]  # fmt: skip
        if what == "all":
            return [self._status(e) for e in self.entries.values()]
        if what == "overall":
            return self._overall()
        if what == "defaults":
            return msgspec.structs.replace(self.defaults)
        if what == "history":
            if message.migration_id is not None:
                self._get(message.migration_id)
            return self.journal.history(message.migration_id)
        entry = self._get(message.migration_id)
        if what == "status":
            return self._status(entry)
        if what == "watch":
            return self._status(entry), entry.changed
        if what == "progress":
            progress = msgspec.structs.replace(entry.progress)
            progress.expected_downtime_ms = progress.expected_downtime_ms
            return progress
        if what == "metrics":
            metrics = msgspec.convert(msgspec.to_builtins(entry.metrics), MigrationMetrics)
            if entry.running and entry.status.state in RUNNING_STATES:
                spent = time.monotonic() - entry.entered_at
                metrics.duration_s += spent
                phase = entry.status.state
                metrics.phase_durations_s[phase] = metrics.phase_durations_s.get(phase, 0) + spent
            return metrics
        return self.journal.checkpoints(entry.plan.migration_id)

    def _summary(self, entry: _Entry) -> MigrationSummary:
        plan = entry.plan
        return MigrationSummary(
            migration_id=plan.migration_id,
            state=entry.status.state,
            phase=entry.status.phase,
            strategy=plan.strategy,
            priority=plan.priority,
            source_edge=plan.source_edge,
            target_edge=plan.target_edge,
            workloads=list(plan.workloads),
            detail=entry.status.detail,
            percent=entry.progress.percent,
        )

    def _overall(self) -> OverallMetrics:
        out = OverallMetrics(migrations=len(self.entries))
        durations = []
        for entry in self.entries.values():
            m, state = entry.metrics, entry.status.state
            out.by_state[state] = out.by_state.get(state, 0) + 1
            out.bytes_raw += m.bytes_raw
            out.bytes_wire += m.bytes_wire
            out.rollbacks += m.rollbacks
            out.restarts += m.restarts
            out.max_downtime_ms = max(out.max_downtime_ms, m.max_downtime_ms)
            if state == "completed":
                durations.append(m.duration_s)
        out.completed = out.by_state.get("completed", 0)
        out.failed = out.by_state.get("failed", 0)
        out.rolled_back = out.by_state.get("rolled_back", 0)
        out.compression_ratio = out.bytes_raw / out.bytes_wire if out.bytes_wire else 1.0
        out.mean_duration_s = sum(durations) / len(durations) if durations else 0.0
        return out

    async def _configure(self, values: dict[str, Any]) -> ServiceDefaults:
        parsed: dict[str, Any] = {}
        for key, value in values.items():
            if value is None and key != "bandwidth_limit_mbps":
                continue
            if key == "checkpoint_interval":
                parsed["checkpoint_interval_s"] = parse_duration(value, field=key)
            elif key == "bandwidth_limit_mbps":
                parsed[key] = None if value is None else _positive(key, value)
            elif key == "sync_batch_size" or key == "max_concurrent":
                hi = 1_000_000 if key == "sync_batch_size" else 1000
                if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
                    raise ConfigError(f"{key}: expected an integer 1..{hi}, got {value!r}")
                parsed[key] = value
            elif key == "enable_compression":
                if not isinstance(value, bool):
                    raise ConfigError(f"{key}: expected true or false, got {value!r}")
                parsed[key] = value
            else:
                known = (
                    "checkpoint_interval, bandwidth_limit_mbps, sync_batch_size, "
                    "enable_compression, max_concurrent"
                )
                raise ConfigError(f"{key}: unknown setting (known: {known})")
        for key, value in parsed.items():
            setattr(self.defaults, key, value)
            self.journal.save_setting(key, value)
        await self._schedule()
        return msgspec.structs.replace(self.defaults)


def _positive(field: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value < math.inf  # NaN fails both comparisons
    ):
        raise ConfigError(f"{field}: expected a positive finite number, got {_short(value)}")
    return float(value)


def _short(value: object, limit: int = 80) -> str:
    """``repr(value)``, shortened to ``limit`` characters for error messages."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
