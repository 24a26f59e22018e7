"""The journal's statements and row decoding, shared by both backends (layer: migration).

One data model, one set of statements: written with PostgreSQL's numbered parameters
(``$1``), each used once and in order, so SQLite reads them as plain ``?``
(:func:`sqlite`). Upserts use ``ON CONFLICT`` (SQLite >= 3.24, ``RETURNING`` >= 3.35),
so the owner epoch is read and incremented in one statement on both backends. Values
(plans, statuses, metrics, checkpoints, settings) are stored as msgspec JSON text.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import msgspec

from .._models import Checkpoint, HistoryEvent, MigrationMetrics, MigrationPlan, MigrationStatus
from .._ownership import OwnerRecord
from ._protocol import JournalEntry

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "ADD_CHECKPOINT",
    "ADD_EVENT",
    "ADD_PLAN",
    "CHECKPOINTS",
    "HAND_OVER",
    "HISTORY",
    "HISTORY_ALL",
    "LOAD",
    "OWNER",
    "OWNERS",
    "SAVE_METRICS",
    "SAVE_OWNER",
    "SAVE_SETTING",
    "SAVE_STATUS",
    "SETTINGS",
    "SETTLE_OWNER",
    "Statement",
    "add_checkpoint",
    "add_plan",
    "checkpoint",
    "entry",
    "event",
    "hand_over",
    "owner",
    "save_owner",
    "save_setting",
    "save_status",
    "setting",
    "settle_owner",
    "sqlite",
    "transition",
]

Statement = tuple[str, tuple[Any, ...]]
"""One SQL statement (``$n`` parameters) with its arguments."""

_OWNER_COLUMNS = "workload, owner_edge, epoch, handing_to, migration_id, updated_at"

ADD_PLAN = (
    "INSERT INTO migrations (migration_id, plan, status, metrics, created_at) "
    "VALUES ($1, $2, $3, $4, $5)"
)
ADD_EVENT = (
    "INSERT INTO events (migration_id, at, from_state, to_state, detail) "
    "VALUES ($1, $2, $3, $4, $5)"
)
SAVE_STATUS = "UPDATE migrations SET status = $1, metrics = $2 WHERE migration_id = $3"
SAVE_METRICS = "UPDATE migrations SET metrics = $1 WHERE migration_id = $2"
ADD_CHECKPOINT = (
    "INSERT INTO checkpoints (checkpoint_id, migration_id, seq, data) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (checkpoint_id) DO UPDATE SET migration_id = excluded.migration_id, "
    "seq = excluded.seq, data = excluded.data"
)
CHECKPOINTS = "SELECT data FROM checkpoints WHERE migration_id = $1 ORDER BY seq"
HISTORY_ALL = "SELECT migration_id, at, from_state, to_state, detail FROM events ORDER BY seq"
HISTORY = (
    "SELECT migration_id, at, from_state, to_state, detail FROM events "
    "WHERE migration_id = $1 ORDER BY seq"
)
# Plan order: creation time, then the order the plans were journaled (their first event),
# so plans made at the same instant (a manual clock) come back as they were made.
LOAD = (
    "SELECT m.migration_id, m.plan, m.status, m.metrics, "
    "(SELECT c.data FROM checkpoints c WHERE c.migration_id = m.migration_id "
    "ORDER BY c.seq DESC LIMIT 1) "
    "FROM migrations m ORDER BY m.created_at, "
    "(SELECT min(e.seq) FROM events e WHERE e.migration_id = m.migration_id)"
)
SAVE_OWNER = (
    f"INSERT INTO owners ({_OWNER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) "
    "ON CONFLICT (workload) DO UPDATE SET owner_edge = excluded.owner_edge, "
    "epoch = excluded.epoch, handing_to = excluded.handing_to, "
    "migration_id = excluded.migration_id, updated_at = excluded.updated_at"
)
HAND_OVER = (
    f"INSERT INTO owners ({_OWNER_COLUMNS}) VALUES ($1, $2, 1, $3, $4, $5) "
    "ON CONFLICT (workload) DO UPDATE SET owner_edge = excluded.owner_edge, "
    "epoch = owners.epoch + 1, handing_to = excluded.handing_to, "
    "migration_id = excluded.migration_id, updated_at = excluded.updated_at "
    f"RETURNING {_OWNER_COLUMNS}"
)
SETTLE_OWNER = (
    f"INSERT INTO owners ({_OWNER_COLUMNS}) VALUES ($1, $2, $3, NULL, $4, $5) "
    "ON CONFLICT (workload) DO UPDATE SET owner_edge = excluded.owner_edge, "
    "epoch = excluded.epoch, handing_to = NULL, "
    "migration_id = excluded.migration_id, updated_at = excluded.updated_at "
    "WHERE owners.epoch <= excluded.epoch "
    f"RETURNING {_OWNER_COLUMNS}"
)
OWNER = f"SELECT {_OWNER_COLUMNS} FROM owners WHERE workload = $1"
OWNERS = f"SELECT {_OWNER_COLUMNS} FROM owners ORDER BY workload"
SAVE_SETTING = (
    "INSERT INTO settings (key, value) VALUES ($1, $2) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
SETTINGS = "SELECT key, value FROM settings"

_enc = msgspec.json.Encoder()
_PARAM = re.compile(r"\$\d+")


def sqlite(sql: str) -> str:
    """``sql`` with SQLite's positional parameters (``$1`` -> ``?``).

    Every statement here uses each parameter once, in ascending order, so positions match.
    """
    return _PARAM.sub("?", sql)


def _json(value: object) -> str:
    return _enc.encode(value).decode()


# -- the statements of each write (one transaction each) ---------------------------------


def add_plan(plan: MigrationPlan, status: MigrationStatus) -> list[Statement]:
    """A new plan, its first status and metrics, and its ``planned`` event."""
    metrics = MigrationMetrics(migration_id=plan.migration_id, workload_bytes=plan.estimated_bytes)
    mid = plan.migration_id
    return [
        (ADD_PLAN, (mid, _json(plan), _json(status), _json(metrics), plan.created_at)),
        (ADD_EVENT, (mid, plan.created_at, "", status.state, "planned")),
    ]


def transition(
    status: MigrationStatus, event: HistoryEvent, metrics: MigrationMetrics
) -> list[Statement]:
    """A state change: the new status with its metrics, and its event."""
    return [
        *save_status(status, metrics),
        (
            ADD_EVENT,
            (event.migration_id, event.at, event.from_state, event.to_state, event.detail),
        ),
    ]


def save_status(status: MigrationStatus, metrics: MigrationMetrics) -> list[Statement]:
    """A status and metrics change that is not a transition."""
    return [(SAVE_STATUS, (_json(status), _json(metrics), status.migration_id))]


def add_checkpoint(checkpoint: Checkpoint, metrics: MigrationMetrics) -> list[Statement]:
    """A checkpoint with the metrics at that moment."""
    cp = checkpoint
    return [
        (ADD_CHECKPOINT, (cp.checkpoint_id, cp.migration_id, cp.seq, _json(cp))),
        (SAVE_METRICS, (_json(metrics), cp.migration_id)),
    ]


def save_owner(record: OwnerRecord) -> Statement:
    """The upsert of one owner record."""
    r = record
    return SAVE_OWNER, (r.workload, r.owner_edge, r.epoch, r.handing_to, r.migration_id,
                        r.updated_at)  # fmt: skip


def hand_over(
    workload: str, from_edge: str, to_edge: str, migration_id: str, at: float
) -> Statement:
    """The atomic next-epoch upsert (``RETURNING`` the record)."""
    return HAND_OVER, (workload, from_edge, to_edge, migration_id, at)


def settle_owner(record: OwnerRecord) -> Statement:
    """The settle upsert, a no-op (no row returned) when the journal has a newer epoch."""
    r = record
    return SETTLE_OWNER, (r.workload, r.owner_edge, r.epoch, r.migration_id, r.updated_at)


def save_setting(key: str, value: object) -> Statement:
    """The upsert of one setting."""
    return SAVE_SETTING, (key, _json(value))


# -- rows to values ------------------------------------------------------------------------


def checkpoint(data: str) -> Checkpoint:
    """A checkpoint from its stored JSON."""
    return msgspec.json.decode(data, type=Checkpoint)


def event(row: Sequence[Any]) -> HistoryEvent:
    """A history event from a ``HISTORY`` row."""
    mid, at, from_state, to_state, detail = row
    return HistoryEvent(
        migration_id=mid, at=at, from_state=from_state, to_state=to_state, detail=detail
    )


def entry(row: Sequence[Any]) -> JournalEntry:
    """A journal entry from a ``LOAD`` row."""
    _mid, plan, status, metrics, last = row
    return JournalEntry(
        plan=msgspec.json.decode(plan, type=MigrationPlan),
        status=msgspec.json.decode(status, type=MigrationStatus),
        metrics=msgspec.json.decode(metrics, type=MigrationMetrics),
        checkpoint=None if last is None else checkpoint(last),
    )


def owner(row: Sequence[Any]) -> OwnerRecord:
    """An owner record from an owner row."""
    workload, owner_edge, epoch, handing_to, migration_id, updated_at = row
    return OwnerRecord(
        workload=workload,
        owner_edge=owner_edge,
        epoch=epoch,
        handing_to=handing_to,
        migration_id=migration_id,
        updated_at=updated_at,
    )


def setting(row: Sequence[Any]) -> tuple[str, object]:
    """A (key, value) setting from a ``SETTINGS`` row."""
    key, value = row
    return key, msgspec.json.decode(value)
