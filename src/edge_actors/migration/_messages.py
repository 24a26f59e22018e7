"""Messages between the migration supervisor, migration actors and the service (layer: migration).

Each message is a msgspec Struct; replies to asks are plain values. :class:`RunControl`
is how the supervisor stops a running migration within one chunk: it records the intent
(pause, preempt, cancel, rollback, shutdown) and cancels the run's cancel scope, which
closes the transfer stream and so stops the sender on the source edge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import msgspec

from edge_actors.clock import SYSTEM_CLOCK, Clock

# msgspec resolves these annotations at runtime: keep them out of TYPE_CHECKING.
from ._models import Checkpoint, MigrationStatus, Phase, WorkloadCheckpoint

if TYPE_CHECKING:
    import anyio

    from edge_actors.actors import ActorRef

    from ._gateway import EdgeGateway
    from ._models import MigrationMetrics, MigrationPlan, MigrationProgress
    from ._strategies import Strategy

__all__ = [
    "Intent",
    "RunContext",
    "RunControl",
    "RunMode",
]

Intent = Literal["pause", "preempt", "cancel", "rollback", "shutdown"]


class RunControl:
    """Stop switch of one migration's run (owned by the supervisor, read by the actor)."""

    def __init__(self) -> None:
        self.intent: Intent | None = None
        self.checkpoint_id: str | None = None
        self.detail = ""
        self._scope: anyio.CancelScope | None = None

    def attach(self, scope: anyio.CancelScope) -> None:
        """Bind the running scope; cancel it at once if an intent is already pending."""
        self._scope = scope
        if self.intent is not None:
            scope.cancel()

    def detach(self) -> None:
        """The run ended; later requests only record their intent."""
        self._scope = None

    @property
    def attached(self) -> bool:
        """Whether a run is executing right now."""
        return self._scope is not None

    def request(
        self, intent: Intent, *, checkpoint_id: str | None = None, detail: str = ""
    ) -> None:
        """Record ``intent`` and stop the running run (if any)."""
        self.intent = intent
        self.checkpoint_id = checkpoint_id
        self.detail = detail
        if self._scope is not None:
            self._scope.cancel()

    def clear(self) -> None:
        """Forget the handled intent."""
        self.intent = None
        self.checkpoint_id = None
        self.detail = ""


class RunContext:
    """What a migration actor needs; created by the supervisor, reused across restarts."""

    def __init__(
        self,
        *,
        plan: MigrationPlan,
        strategy: Strategy,
        gateway: EdgeGateway,
        supervisor: ActorRef[Any],
        progress: MigrationProgress,
        metrics: MigrationMetrics,
        control: RunControl,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.plan = plan
        self.strategy = strategy
        self.gateway = gateway
        self.supervisor = supervisor
        self.progress = progress
        self.metrics = metrics
        self.control = control
        self.clock = clock


# -- actor -> supervisor -------------------------------------------------------------------


class Transition(msgspec.Struct, frozen=True):
    """Change the migration's state (validated and journaled); reply: the new status."""

    migration_id: str
    to_state: str
    detail: str = ""
    error: str | None = None


class SetDetail(msgspec.Struct, frozen=True):
    """Update what the migration is doing (``waiting for time window ...``)."""

    migration_id: str
    detail: str


class SaveCheckpoint(msgspec.Struct, frozen=True):
    """Journal a checkpoint; reply: the :class:`Checkpoint` with its id."""

    migration_id: str
    phase: Phase
    round: int
    stage: int
    workloads: dict[str, WorkloadCheckpoint]
    reason: str


class GetResume(msgspec.Struct, frozen=True):
    """Ask where to start; reply: :class:`ResumePoint`."""

    migration_id: str


RunMode = Literal["migrate", "rollback", "cancel"]


class ResumePoint(msgspec.Struct, frozen=True):
    """Current status, latest checkpoint, what to run and a rollback's target checkpoint."""

    status: MigrationStatus
    checkpoint: Checkpoint | None
    rollback_to: Checkpoint | None
    mode: RunMode = "migrate"


class RunEnded(msgspec.Struct, frozen=True):
    """The actor's run finished (any outcome but a crash); frees its slot."""

    migration_id: str


class Restarted(msgspec.Struct, frozen=True):
    """The actor was restarted after a crash (counted and journaled)."""

    migration_id: str
    error: str


class Run(msgspec.Struct, frozen=True):
    """Message to the migration actor: run (or resume) from the latest checkpoint."""


# -- service -> supervisor -----------------------------------------------------------------


class Register(msgspec.Struct, frozen=True):
    """Journal a validated plan; reply: status."""

    plan: Any


class Execute(msgspec.Struct, frozen=True):
    """Queue a planned migration for execution; reply: status."""

    migration_id: str
    auto_rollback: bool = False


class Control(msgspec.Struct, frozen=True):
    """Pause, resume, cancel or roll back; reply: status."""

    migration_id: str
    action: Literal["pause", "resume", "cancel", "rollback"]
    checkpoint_id: str | None = None


class Query(msgspec.Struct, frozen=True):
    """Read-only query; reply depends on ``what``."""

    what: Literal[
        "status",
        "progress",
        "metrics",
        "overall",
        "active",
        "history",
        "checkpoints",
        "watch",
        "defaults",
        "all",
    ]
    migration_id: str | None = None


class Configure(msgspec.Struct, frozen=True):
    """Change service defaults; reply: the new :class:`ServiceDefaults`."""

    values: dict[str, Any]


class Shutdown(msgspec.Struct, frozen=True):
    """Stop every running migration's run (journal keeps them resumable)."""
