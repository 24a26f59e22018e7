"""JSON bodies of the edge daemon's HTTP API, as msgspec Structs (edge layer).

The daemon decodes every request body into one of these (a malformed body is a 400
naming the field) and encodes every answer from one; :class:`EdgeClient` and
:class:`AdminClient` decode the same types, so both sides share one definition.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from edge_actors.schema import MigrationId
from edge_actors.transfer import TransferProgress
from edge_actors.wire import Change, Lsn

__all__ = [
    "MOVED_TO_HEADER",
    "ActivateRequest",
    "ApiHealth",
    "CapacityInfo",
    "CreateWorkload",
    "CutoverAnswer",
    "CutoverRequest",
    "Epoch",
    "ErrorBody",
    "HealthInfo",
    "HoldAnswer",
    "HoldRequest",
    "LinkRate",
    "LoadInfo",
    "LsnAnswer",
    "ReleaseAnswer",
    "ReleaseRequest",
    "SetStatus",
    "TransferList",
    "WorkloadInfo",
    "WorkloadList",
    "WorkloadStatus",
    "WriteAnswer",
]

MOVED_TO_HEADER = "X-Edge-Moved-To"
"""Answer header of a held write the daemon forwarded: the base URL now serving it."""

Epoch = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
"""An ownership epoch (fencing token, see :mod:`._fence`); a command without one is not
fenced."""

WorkloadStatus = Literal["active", "incoming", "moved"]
"""Routing status of a workload on one edge.

``active``: served here. ``incoming``: a migration target being filled; data requests are
409. ``moved``: served elsewhere; data requests are 307 to ``moved_to``.
"""


class ErrorBody(msgspec.Struct, frozen=True, omit_defaults=True):
    """Every error answer: a stable machine code and a message for humans.

    ``held_ms`` is only in a failed cutover's answer: how long writes were held before
    the undo released them.
    """

    error: str
    message: str
    held_ms: float | None = None


class LsnAnswer(msgspec.Struct, frozen=True):
    """Answer of a write: the workload LSN after it (the last op's LSN for a batch)."""

    lsn: int


class WriteAnswer(msgspec.Struct, frozen=True):
    """Outcome of a data write inside the daemon: the LSN of its last op, and the edge
    that committed it when the daemon forwarded it there (``None``: this edge)."""

    lsn: int
    moved_to: str | None = None


class WorkloadInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A workload on one edge: routing status and store statistics.

    ``records``, ``bytes``, ``lsn`` are 0 and ``digest`` is empty when the edge keeps only
    a ``moved`` route for a workload whose data it already released.
    """

    name: str
    status: WorkloadStatus
    records: int
    bytes: int
    lsn: int
    digest: str
    moved_to: str | None = None
    held: bool = False
    cutover: bool = False
    epoch: int = 0
    retiring_to: str | None = None
    activated_lsn: int | None = None
    activated_digest: str | None = None
    migration_id: str | None = None
    """The migration the copy here is bound to (see :class:`~._routing.Route`)."""


class WorkloadList(msgspec.Struct, frozen=True):
    """Answer of ``GET /admin/workloads``."""

    workloads: list[WorkloadInfo]


class CreateWorkload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Body of ``POST /admin/workloads``; ``migration_id`` binds the new copy to the
    migration that creates it (the only one whose peers may stream into it)."""

    name: str
    status: Literal["active", "incoming"] = "active"
    epoch: Epoch | None = None
    migration_id: MigrationId | None = None


class SetStatus(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Body of ``PUT /admin/workloads/{w}/status``; ``moved_to`` is required for ``moved``.

    ``migration_id`` rebinds the copy to that migration; without it the binding stays.
    ``keep_if_active`` (with ``incoming`` and an ``epoch``: a cutover's undo of an
    activation it cut at its deadline): if the activation at ``epoch`` is durable here,
    or becomes so (its write was in progress: waited for), it is kept and the answer says
    ``active``; otherwise the undo proceeds. Defaults are left out of the encoded body, so
    an edge from before a field still takes the calls that do not use it."""

    status: WorkloadStatus
    moved_to: str | None = None
    epoch: Epoch | None = None
    migration_id: MigrationId | None = None
    keep_if_active: bool = False


class HoldRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Optional body of ``POST /admin/workloads/{w}/hold``.

    ``lease_s`` overrides the daemon's ``hold_timeout_s`` for this hold.
    """

    lease_s: float | None = None
    epoch: Epoch | None = None


class HoldAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """Answer of a hold: the store LSN after the last acknowledged write."""

    lsn: int
    lease_s: float


class ReleaseRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Body of ``POST /admin/workloads/{w}/release``: flip to ``moved`` first when set.

    ``migration_id`` (with ``moved_to``) binds the moved copy to the migration that moved
    it: the source side of that migration's rollback."""

    moved_to: str | None = None
    epoch: Epoch | None = None
    migration_id: MigrationId | None = None


class ReleaseAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """Answer of a release: how many writes waited and how long writes were held."""

    held_writes: int
    held_ms: float
    status: WorkloadStatus
    moved_to: str | None = None


class ActivateRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Body of ``POST /admin/workloads/{w}/activate`` (a cutover's target side).

    The workload goes ``active`` only if its LSN is at least ``min_lsn`` and, when its LSN
    equals ``min_lsn`` and ``digest`` is set, its digest equals ``digest``; else nothing
    changes (409).
    """

    min_lsn: Lsn
    digest: str | None = None
    epoch: Epoch | None = None
    delta: tuple[Change, ...] = ()
    """The cutover's final delta inline (the changes since the last delta round, up to
    ``min_lsn``), applied to the ``incoming`` copy before the checks: one call instead of
    a peer stream's round trips inside the hold, for a small delta."""
    within_ms: Annotated[float, msgspec.Meta(gt=0, le=3_600_000)] | None = None
    """The most time the activation may take here, from its receipt, until it is durable:
    when the target's forecast of its durable writes no longer fits, it refuses (409
    ``activation_too_late``) before writing anything, and the caller's cutover is undone
    without a second call. ``None``: no limit."""


class PrepareActivation(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST /admin/workloads/{w}/prepare``: a cutover's source announces its
    activation to the target before it holds anything.

    The target keeps its durable steps (a snapshot install's fsyncs and move) and its
    background applies out of the activation's way until the activation ends or
    ``quiet_ms`` passes, after waiting up to ``settle_ms`` for those already running.
    """

    quiet_ms: Annotated[float, msgspec.Meta(gt=0, le=10_000)]
    """How long, after it answers, the target waits for the activation at most (a peer
    cannot slow the edge's background work for longer than 10 s per call)."""
    settle_ms: Annotated[float, msgspec.Meta(ge=0, le=10_000)] = 0.0
    """The most time the target waits for durable steps in flight before it answers."""


class PreparedActivation(msgspec.Struct, frozen=True, kw_only=True):
    """Answer to :class:`PrepareActivation`.

    Attributes:
        workload: The workload on the target (as ``GET /admin/workloads/{w}``).
        settled_ms: How long the target took to get ready: opening the copy's store for
            the activation's write, and waiting for durable steps in flight.
        in_flight: Durable steps still running when it answered (0 unless ``settle_ms``
            ran out).
    """

    workload: WorkloadInfo
    settled_ms: float
    in_flight: int


class CutoverRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST /admin/workloads/{w}/cutover`` on the source edge.

    Attributes:
        target_name: the target edge's name (its link limiter, logs).
        target_url: the target's base URL: peer stream, admin calls and ``moved_to``.
        target_token: the bearer credential the target accepts: a transfer grant for this
            migration and workload from the supervisor (``HttpEdgeGateway``), never the
            target's own token when the supervisor mints grants.
        migration_id: the migration it serves (logs, peer ``Hello``).
        transfer_id: id of the final delta's transfer.
        from_lsn: the LSN the target has acknowledged; the final delta is
            ``(from_lsn, hold LSN]``.
        batch_size: records per chunk of the final delta.
        compression: zstd chunks.
        lease_s: lease of the hold (default: the daemon's ``hold_timeout_s``).
        epoch: the ownership epoch of this handover (both edges fence by it).
        deadline_ms: the hold's budget, counted from the moment writes are held: every
            step up to the release (final delta, activation, flip) is planned to fit in
            it from the source's measured step times; a cutover whose activation will
            not fit is undone before it (writes released to this edge). An activation
            cut at the deadline is undone with a call to the target that may take up to
            the budget again. ``None``: no deadline but the admin calls' own timeouts
            (the migration always sends one: ``max_downtime``).
    """

    target_name: str
    target_url: str
    target_token: str
    migration_id: str
    transfer_id: str
    from_lsn: Lsn = 0
    batch_size: int = 1000
    compression: bool = True
    lease_s: float | None = None
    epoch: Epoch | None = None
    deadline_ms: Annotated[float, msgspec.Meta(gt=0)] | None = None


class CutoverAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """Answer of a cutover: the switch happened; what it held and what the target has.

    ``steps_ms`` times each step inside the hold: ``hold`` (in-flight writes finishing),
    ``final_delta``, ``activate`` (the target round trip; the ``retiring_to`` mark is
    written before the hold),
    ``flip`` (route ``moved`` and the release; the route is persisted after the release,
    before the answer, and not counted here). An activation cut at its deadline whose
    durable write had begun, and so stood, is timed as ``activate`` up to the cut and
    ``kept``: the call that found it durable (such a hold ends past the deadline, and
    ``kept`` says why).
    ``raw_bytes`` / ``wire_bytes``: the final delta's payload bytes the target
    acknowledged and frame bytes put on the wire (for the migration's byte metrics).
    """

    hold_lsn: int
    target_lsn: int
    digest: str
    held_writes: int
    held_ms: float
    moved_to: str
    records: int
    steps_ms: dict[str, float]
    raw_bytes: int = 0
    wire_bytes: int = 0


class LinkRate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Body of ``PUT /admin/links/{target_name}``: bits per second, ``None`` = unlimited."""

    rate_bps: float | None


class CapacityInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Answer of ``GET /admin/capacity``; ``None`` limits mean unlimited."""

    max_bytes: int | None
    used_bytes: int
    free_bytes: int | None
    max_workloads: int | None
    used_workloads: int


class LoadInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Request counters and current load of a daemon since it started."""

    requests_total: int
    errors_total: int
    reads_total: int
    writes_total: int
    inflight: int
    held_writes: int
    active_transfers: int


class HealthInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Answer of ``GET /admin/health``."""

    status: Literal["ok"]
    name: str
    url: str
    uptime_s: float
    workloads: int
    load: LoadInfo
    capacity: CapacityInfo


class ApiHealth(msgspec.Struct, frozen=True, kw_only=True):
    """Answer of the token-free probes ``GET /api/health`` and ``GET /api/status``."""

    status: Literal["ok"]
    name: str
    uptime_s: float
    workloads: int


class TransferList(msgspec.Struct, frozen=True):
    """Answer of ``GET /admin/transfers``: the latest progress of each running transfer."""

    transfers: list[TransferProgress]
