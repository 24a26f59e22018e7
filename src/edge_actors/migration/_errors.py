"""Errors of the migration engine (layer: migration; imports only the ``errors`` leaf).

Each refusal has its own class named for the condition; messages name the migration, the
value that was wrong and, where it helps, what would have been accepted.
"""

from __future__ import annotations

from edge_actors.errors import EdgeActorsError

__all__ = [
    "EdgeUnreachable",
    "IllegalTransition",
    "InsufficientCapacity",
    "MigrationError",
    "UnknownCheckpoint",
    "UnknownEdgeName",
    "UnknownMigration",
    "WorkloadNotOnEdge",
]


class MigrationError(EdgeActorsError):
    """Base class of the migration layer's errors."""


class UnknownMigration(MigrationError, LookupError):
    """No migration with that id is known to the supervisor (nor in its journal)."""


class UnknownCheckpoint(MigrationError, LookupError):
    """A checkpoint id does not exist or belongs to another migration."""


class IllegalTransition(MigrationError):
    """A state change the transition table forbids (e.g. resume a completed migration).

    Attributes:
        migration_id: the migration.
        from_state: the state it is in.
        to_state: the state that was asked for.
    """

    def __init__(self, migration_id: str, from_state: str, to_state: str, why: str = "") -> None:
        self.migration_id = migration_id
        self.from_state = from_state
        self.to_state = to_state
        extra = f": {why}" if why else ""
        super().__init__(
            f"migration {migration_id}: illegal transition {from_state} -> {to_state}{extra}"
        )


class InsufficientCapacity(MigrationError):
    """The target edge has less free space than the plan's size estimate.

    Attributes:
        edge: the target edge.
        needed_bytes: the estimate of the workloads' size.
        free_bytes: what the target reported free.
    """

    def __init__(self, edge: str, needed_bytes: int, free_bytes: int) -> None:
        self.edge = edge
        self.needed_bytes = needed_bytes
        self.free_bytes = free_bytes
        super().__init__(
            f"target edge {edge!r} has {free_bytes} bytes free but the workloads need "
            f"{needed_bytes} bytes (use force_migration to override)"
        )


class UnknownEdgeName(MigrationError, LookupError):
    """The gateway does not know an edge of that name (message lists the known ones)."""


class WorkloadNotOnEdge(MigrationError, LookupError):
    """A workload does not exist on the edge it was looked up on."""


class EdgeUnreachable(MigrationError):
    """An edge did not answer, or answered an operation with an unexpected error."""
