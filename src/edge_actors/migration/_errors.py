"""Errors of the migration engine (layer: migration; imports the ``errors`` leaf and actors).

Each condition has its own class named for it; messages name the migration, the value
that was wrong and, where it helps, what would have been accepted. Every class carries a
stable ``code`` (the admin API's error code). The ones a caller's request can cause
(:class:`MigrationRefusal` and its subclasses) are :class:`edge_actors.actors.Refusal`\\s:
the supervisor *raises* them to the asker without crashing, so there is one error
channel: a refusal is raised, a reply is a value, anything else is a crash.
"""

from __future__ import annotations

from edge_actors.actors import Refusal
from edge_actors.errors import ConfigError, EdgeActorsError

__all__ = [
    "EdgeUnreachable",
    "IllegalTransition",
    "InsufficientCapacity",
    "IntentPending",
    "InvalidRequest",
    "MigrationError",
    "MigrationRefusal",
    "NotConverged",
    "StaleRun",
    "UnknownCheckpoint",
    "UnknownEdgeName",
    "UnknownMigration",
    "WorkloadNotOnEdge",
]


class MigrationError(EdgeActorsError):
    """Base class of the migration layer's errors."""

    code: str = "migration_error"


class MigrationRefusal(MigrationError, Refusal):
    """A request the migration supervisor refuses; raised to the asker, never a crash."""

    code: str = "migration_refused"


class InvalidRequest(MigrationRefusal, ConfigError):
    """A malformed request (a field of the wrong type, an unknown setting or action)."""

    code: str = "invalid_request"


class UnknownMigration(MigrationRefusal, LookupError):
    """No migration with that id is known to the supervisor (nor in its journal)."""

    code: str = "migration_not_found"


class UnknownCheckpoint(MigrationRefusal, LookupError):
    """A checkpoint id does not exist or belongs to another migration."""

    code: str = "checkpoint_not_found"


class IllegalTransition(MigrationRefusal):
    """A state change the transition table forbids (e.g. resume a completed migration).

    Attributes:
        migration_id: the migration.
        from_state: the state it is in.
        to_state: the state that was asked for.
    """

    code: str = "illegal_transition"

    def __init__(self, migration_id: str, from_state: str, to_state: str, why: str = "") -> None:
        self.migration_id = migration_id
        self.from_state = from_state
        self.to_state = to_state
        extra = f": {why}" if why else ""
        super().__init__(
            f"migration {migration_id}: illegal transition {from_state} -> {to_state}{extra}"
        )


class IntentPending(IllegalTransition):
    """A run asked to enter another phase while a pause, preempt or cancel it has not
    taken yet is on its intent lane: the run waits for the intent instead."""

    code: str = "intent_pending"


class StaleRun(MigrationRefusal):
    """A report of a run that is no longer the migration's current run (it was stopped
    while its message waited in the supervisor's mailbox); the report is ignored."""

    code: str = "stale_run"


class InsufficientCapacity(MigrationRefusal):
    """The target edge has less free space than the plan's size estimate.

    Attributes:
        edge: the target edge.
        needed_bytes: the estimate of the workloads' size.
        free_bytes: what the target reported free.
    """

    code: str = "insufficient_capacity"

    def __init__(self, edge: str, needed_bytes: int, free_bytes: int) -> None:
        self.edge = edge
        self.needed_bytes = needed_bytes
        self.free_bytes = free_bytes
        super().__init__(
            f"target edge {edge!r} has {free_bytes} bytes free but the workloads need "
            f"{needed_bytes} bytes (use force_migration to override)"
        )


class UnknownEdgeName(MigrationError, LookupError):
    """The gateway does not know an edge of that name (message lists the known ones).

    Not a refusal: inside a migration run it is a fact about the edges, handled by the run
    (or a crash the engine restarts), never silently answered.
    """

    code: str = "edge_not_found"


class WorkloadNotOnEdge(MigrationError, LookupError):
    """A workload does not exist on the edge it was looked up on (a gateway fact)."""

    code: str = "workload_not_found"


class EdgeUnreachable(MigrationError):
    """An edge did not answer, or answered an operation with an unexpected error.

    Attributes:
        edge: the edge's name when known (``waiting for edge X``).
        held_ms: a failed cutover only: how long the source held writes before its undo
            released them, as the source measured it (``None``: not known).
    """

    code: str = "edge_unreachable"

    def __init__(
        self, message: str, *, edge: str | None = None, held_ms: float | None = None
    ) -> None:
        super().__init__(message)
        self.edge = edge
        self.held_ms = held_ms


class NotConverged(EdgeUnreachable):
    """The edges do not yet show exactly one copy accepting writes and no hold: a run may
    not end (retried like an edge that does not answer)."""

    code: str = "not_converged"
