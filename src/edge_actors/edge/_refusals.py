"""What the daemon's domain refuses, as typed exceptions with stable codes (edge layer).

The router, the cutover saga and the transfer registry raise these; they know nothing of
HTTP. Each class carries the stable machine-readable ``code`` that clients see in the
``{"error": code, "message": ...}`` body; the HTTP status of each class is decided in
exactly one place, :data:`edge_actors.edge._http.REFUSAL_STATUS`.
"""

from __future__ import annotations

from typing import ClassVar

from ._errors import EdgeError

__all__ = [
    "ActivationTooLate",
    "CapacityExceeded",
    "CutoverFailed",
    "CutoverInProgress",
    "DigestMismatch",
    "ForwardFailed",
    "HeldQueueFull",
    "HoldLimitReached",
    "InvalidRouteChange",
    "LsnBehind",
    "NoSuchWorkload",
    "Refusal",
    "ServerBusy",
    "StaleEpoch",
    "StaleLeader",
    "StateNotDurable",
    "TransferExists",
    "WorkloadHeld",
    "WorkloadIsIncoming",
    "WorkloadIsMoved",
    "WorkloadNotActive",
    "WorkloadRedirected",
    "WriteAbandoned",
]


class Refusal(EdgeError):
    """A request the edge refuses; ``str(exc)`` is the message for humans.

    Attributes:
        code: The stable machine-readable code of the refusal.
    """

    code: ClassVar[str] = "refused"
    retry_after_s: ClassVar[int | None] = None
    """When set, the answer carries ``Retry-After`` (the refusal is momentary)."""

    @property
    def message(self) -> str:
        """The message for humans (the exception's text)."""
        return str(self)


class NoSuchWorkload(Refusal, LookupError):
    """The workload has no store or no route on this edge."""

    code = "workload_not_found"


class WorkloadIsIncoming(Refusal):
    """The workload is ``incoming`` here (a migration target): its source serves it."""

    code = "workload_incoming"


class WorkloadRedirected(Refusal):
    """The workload moved: its data requests belong at ``moved_to`` (same path).

    Attributes:
        moved_to: Base URL of the edge that serves the workload now.
    """

    code = "workload_redirected"

    def __init__(self, moved_to: str) -> None:
        super().__init__(f"moved to {moved_to}")
        self.moved_to = moved_to.rstrip("/")


class WorkloadIsMoved(Refusal):
    """The workload is ``moved`` here, so it cannot be activated here."""

    code = "workload_moved"


class WorkloadNotActive(Refusal):
    """Only an ``active`` workload may be cut over."""

    code = "workload_not_active"


class CutoverInProgress(Refusal):
    """A cutover of the workload owns its hold and route until it answers."""

    code = "cutover_in_progress"


class WorkloadHeld(Refusal):
    """The workload is held; release it first."""

    code = "workload_held"


class ActivationTooLate(Refusal):
    """An activation that could no longer be made durable within the time its caller
    gave it (``within_ms``): refused before anything was written, so the caller can undo
    its cutover without another call."""

    code = "activation_too_late"


class LsnBehind(Refusal):
    """The workload's LSN here is behind the LSN an activation requires."""

    code = "lsn_behind"


class DigestMismatch(Refusal):
    """The workload's content digest here differs from the source's at the same LSN."""

    code = "digest_mismatch"


class InvalidRouteChange(Refusal):
    """A routing change that is malformed (``moved`` without a URL, a URL without it)."""

    code = "invalid_body"


class CapacityExceeded(Refusal):
    """The write or create would exceed ``max_bytes`` / ``max_workloads``; nothing changed."""

    code = "capacity_exceeded"


class ForwardFailed(Refusal):
    """A held write forwarded to the new edge has an unknown outcome: not acknowledged."""

    code = "forward_failed"


class CutoverFailed(Refusal):
    """A cutover step failed; the message names the step and what the undo did.

    Attributes:
        held_ms: How long writes were held before the undo released them (0.0 when the
            cutover failed before holding anything).
    """

    code = "cutover_failed"

    def __init__(self, message: str, *, held_ms: float = 0.0) -> None:
        super().__init__(message)
        self.held_ms = held_ms


class StaleEpoch(Refusal):
    """The command carries an ownership epoch lower than one this edge has already seen:
    a newer owner decision exists, so the command is refused and nothing changed."""

    code = "stale_epoch"


class StaleLeader(Refusal):
    """The command comes from a supervisor whose leadership epoch is lower than one this
    edge has already seen: a newer leader exists, so the command is refused unchanged."""

    code = "stale_leader"


class TransferExists(Refusal):
    """A transfer with that id is already running on this edge."""

    code = "transfer_exists"


class HoldLimitReached(Refusal):
    """A hold renewal past ``hold_max_total_s`` from the hold's start; the hold stays as it
    was and ends with its current lease."""

    code = "hold_limit_reached"


class HeldQueueFull(Refusal):
    """The writes waiting on holds already take ``max_held_bytes``; this one was not
    queued (nothing written). Momentary: retry after the hold ends."""

    code = "held_queue_full"
    retry_after_s = 1


class StateNotDurable(Refusal, OSError):
    """The edge could not make a change of its routes or epochs durable (its state log's
    write failed: a disk error, or no space to compact it); the change was not
    acknowledged. An ``OSError`` too (``errno`` is the write's)."""

    code = "state_not_durable"

    @classmethod
    def of(cls, what: str, exc: OSError, path: object) -> StateNotDurable:
        """The refusal for ``exc``, raised writing ``what`` (at ``path`` unless ``exc``
        names its file), with ``exc``'s ``errno``."""
        failed = cls(
            f"{what} could not be written ({exc.strerror or exc}: {exc.filename or path}); "
            "the change was not made durable"
        )
        failed.errno = exc.errno
        return failed


class ServerBusy(Refusal):
    """The request bodies being read already take ``max_body_bytes_inflight``; this body
    was not read (nothing written). Momentary: retry shortly."""

    code = "server_busy"
    retry_after_s = 1


class WriteAbandoned(Refusal):
    """A write that waited on a hold, whose client disconnected before the release: not
    applied (nobody would learn its outcome, and a retry may already be on its way)."""

    code = "client_gone"
