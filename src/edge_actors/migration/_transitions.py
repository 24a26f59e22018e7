"""The migration state machine's transition table (layer: migration).

Every state change of a migration goes through :func:`check_transition`; anything not in
:data:`TRANSITIONS` is an :class:`IllegalTransition` naming both states, so "resume a
completed migration" is an error, never a silent no-op.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import IllegalTransition

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["TRANSITIONS", "check_transition"]

_ABORT = ("failed", "paused", "cancelled", "queued")

TRANSITIONS: Mapping[str, frozenset[str]] = {
    # planned -> paused: held before it starts; resume then queues it like any paused one.
    "planned": frozenset(("queued", "planning", "paused", "cancelled")),
    "queued": frozenset(("planning", "pre_sync", "sync", "cutover", "validation", "cleanup",
                         "paused", "cancelled", "rolling_back")),
    "planning": frozenset(("pre_sync", "rolling_back", *_ABORT)),
    "pre_sync": frozenset(("sync", "rolling_back", *_ABORT)),
    # sync -> rolling_back: rollback of a staged migration with stages already cut over.
    "sync": frozenset(("cutover", "rolling_back", *_ABORT)),
    # cutover is short and holds writes: it cannot be paused or cancelled, only finished
    # or failed (the failure path releases the hold) and rolled back.
    "cutover": frozenset(("validation", "sync", "cleanup", "failed", "rolling_back")),
    # validation -> sync: the next stage of a staged migration.
    "validation": frozenset(("cleanup", "sync", "failed", "paused", "queued", "rolling_back")),
    # cleanup -> rolling_back: the source's dropped copies are copied back in full.
    "cleanup": frozenset(("completed", "failed", "rolling_back")),
    "paused": frozenset(("queued", "planning", "pre_sync", "sync", "cutover", "validation",
                         "cleanup", "cancelled", "rolling_back")),
    "failed": frozenset(("rolling_back",)),
    # rolling_back -> paused: rollback to a checkpoint leaves the migration resumable.
    "rolling_back": frozenset(("rolled_back", "paused", "failed")),
    "completed": frozenset(),
    "rolled_back": frozenset(),
    "cancelled": frozenset(),
}  # fmt: skip


def check_transition(migration_id: str, from_state: str, to_state: str) -> None:
    """Raise unless ``from_state -> to_state`` is in the table.

    Raises:
        IllegalTransition: the change is not allowed; the message names both states and
            says when ``from_state`` is terminal.
    """
    allowed = TRANSITIONS.get(from_state)
    if allowed is None:
        raise IllegalTransition(migration_id, from_state, to_state, "unknown state")
    if to_state not in allowed:
        why = f"{from_state} is terminal" if not allowed else ""
        raise IllegalTransition(migration_id, from_state, to_state, why)
