"""The ``EdgeGateway`` protocol: every edge operation the migration engine needs (layer: migration).

The engine never speaks HTTP itself; ``edge_actors.edge.HttpEdgeGateway`` implements this
protocol over the daemons' admin API (resolving edge names through a topology). Errors a
gateway raises are the migration layer's own: :class:`UnknownEdgeName`,
:class:`WorkloadNotOnEdge`, :class:`EdgeUnreachable` (anything else unexpected).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

import msgspec

if TYPE_CHECKING:
    from collections.abc import Callable

    from edge_actors.transfer import TransferProgress

__all__ = [
    "CutoverResult",
    "CutoverSpec",
    "EdgeCapacity",
    "EdgeGateway",
    "EdgeWorkload",
    "ReleaseResult",
    "TransferRequest",
    "WorkloadRouting",
]

WorkloadRouting = Literal["active", "incoming", "moved"]


class EdgeWorkload(msgspec.Struct, frozen=True, kw_only=True):
    """A workload on one edge: routing status and store statistics."""

    name: str
    status: WorkloadRouting
    records: int
    bytes: int
    lsn: int
    digest: str
    moved_to: str | None = None
    held: bool = False
    cutover: bool = False
    epoch: int = 0
    """The highest ownership epoch the edge has seen for the workload."""
    retiring_to: str | None = None
    """Set when a cutover from this edge was cut short after it may have activated the
    target (this edge redirects there until ownership is settled)."""
    activated_lsn: int | None = None
    activated_digest: str | None = None
    """The LSN and digest an activation (or a cutover from here) confirmed on this edge."""
    migration_id: str | None = None
    """The migration the copy is bound to: only its peers may stream into it."""


class EdgeCapacity(msgspec.Struct, frozen=True, kw_only=True):
    """Capacity of an edge; ``None`` limits are unlimited."""

    max_bytes: int | None
    used_bytes: int
    free_bytes: int | None
    max_workloads: int | None
    used_workloads: int


class ReleaseResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a release reports: writes that waited and how long writes were held."""

    held_writes: int
    held_ms: float


class TransferRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One transfer of a workload's changes ``(from_lsn, to_lsn]`` between two edges.

    Attributes:
        transfer_id: unique id (logs, progress).
        migration_id: the migration it serves.
        workload: the workload, the same name on both edges.
        from_lsn: ship changes after this LSN.
        to_lsn: up to this LSN (``None``: the sender's LSN when it starts).
        batch_size: records per chunk.
        compression: zstd chunks.
    """

    transfer_id: str
    migration_id: str
    workload: str
    from_lsn: int
    to_lsn: int | None = None
    batch_size: int = 1000
    compression: bool = True


class CutoverSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A one-call cutover of a workload from its source edge to a target edge.

    Attributes:
        transfer_id: id of the final delta's transfer.
        migration_id: the migration it serves.
        workload: the workload, the same name on both edges.
        from_lsn: the LSN the target has acknowledged (the final delta starts after it).
        batch_size: records per chunk.
        compression: zstd chunks.
        lease_s: the hold's lease on the source.
        epoch: the ownership epoch of this handover (both edges fence by it).
        deadline_ms: the hold's budget on the source (``max_downtime``), counted from the
            hold: every step up to the release, the flip or the undo included, fits in it.
    """

    transfer_id: str
    migration_id: str
    workload: str
    from_lsn: int
    batch_size: int = 1000
    compression: bool = True
    lease_s: float | None = None
    epoch: int | None = None
    deadline_ms: float | None = None


class CutoverResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a cutover reports: hold and target LSNs, the target's digest at the switch,
    held writes, the measured hold and its steps (milliseconds), and what its final
    delta shipped (records and payload bytes acknowledged, frame bytes put on the wire)."""

    hold_lsn: int
    target_lsn: int
    digest: str
    held_writes: int
    held_ms: float
    records: int = 0
    steps_ms: dict[str, float] = msgspec.field(default_factory=dict)
    raw_bytes: int = 0
    wire_bytes: int = 0


class EdgeGateway(Protocol):
    """The edge operations of the migration engine.

    Every coroutine may be cancelled; a cancelled :meth:`transfer` stops the sender on the
    source edge within one chunk.
    """

    def resolve(self, edge: str) -> str:
        """Return the base URL of ``edge``; raises :class:`UnknownEdgeName`."""
        ...

    def edges(self) -> list[str]:
        """Names of every known edge."""
        ...

    async def health(self, edge: str) -> bool:
        """Whether the edge answers its health check (``False`` when down)."""
        ...

    async def capacity(self, edge: str) -> EdgeCapacity:
        """Capacity limits and use of ``edge``."""
        ...

    async def workload_info(self, edge: str, workload: str) -> EdgeWorkload:
        """Status and statistics; raises :class:`WorkloadNotOnEdge`."""
        ...

    async def create_workload(
        self,
        edge: str,
        workload: str,
        status: WorkloadRouting,
        *,
        migration_id: str | None = None,
        epoch: int | None = None,
    ) -> None:
        """Create an empty workload (``active`` or ``incoming``), bound to ``migration_id``
        (the only migration whose peer streams the edge lets into it); refused by the edge
        (:class:`EdgeUnreachable`) when it has seen a higher ``epoch``."""
        ...

    async def drop_workload(
        self, edge: str, workload: str, *, keep_route: bool = False, epoch: int | None = None
    ) -> None:
        """Delete a workload's data; ``keep_route`` keeps its ``moved`` redirect; refused
        by the edge (:class:`EdgeUnreachable`) when it has seen a higher ``epoch``."""
        ...

    async def restore_workload(
        self, edge: str, workload: str, *, epoch: int, migration_id: str
    ) -> None:
        """Give ``workload`` an empty store again on ``edge``, whose copy was dropped,
        under its ``moved`` route (kept: data requests still redirect), bound to
        ``migration_id`` so that its peer streams may fill it; a store already there is
        kept. Refused (:class:`EdgeUnreachable`) when the route is not ``moved`` or the
        edge has seen a higher ``epoch``."""
        ...

    async def set_status(
        self,
        edge: str,
        workload: str,
        status: WorkloadRouting,
        moved_to: str | None = None,
        *,
        epoch: int | None = None,
        migration_id: str | None = None,
    ) -> None:
        """Set the routing status (``moved`` needs ``moved_to``); refused by the edge
        (:class:`EdgeUnreachable`) when it has seen a higher ``epoch``. ``migration_id``
        rebinds the copy to that migration; without it the copy keeps its binding."""
        ...

    async def activate(
        self, edge: str, workload: str, *, min_lsn: int, digest: str | None, epoch: int
    ) -> None:
        """Have ``edge`` confirm it holds ``workload`` at ``min_lsn`` or later (and
        ``digest`` when exactly at it) and go ``active``, fenced by ``epoch`` (a
        cutover's target side); refused (:class:`EdgeUnreachable`, nothing changed) when
        behind, different, or at a lower or burned epoch."""
        ...

    async def hold(
        self, edge: str, workload: str, *, lease_s: float | None = None, epoch: int | None = None
    ) -> int:
        """Hold new writes (queued, not refused); return the LSN once in-flight ones are done."""
        ...

    async def release(
        self,
        edge: str,
        workload: str,
        moved_to: str | None,
        *,
        epoch: int | None = None,
        migration_id: str | None = None,
    ) -> ReleaseResult:
        """Flip to ``moved`` when ``moved_to`` is given (bound to ``migration_id``, the
        source side of its rollback), then let held writes proceed."""
        ...

    async def cutover(self, source: str, target: str, spec: CutoverSpec) -> CutoverResult:
        """Cut ``spec.workload`` over from ``source`` to ``target`` in one call.

        The source holds writes, ships the final delta, has the target confirm LSN and
        digest and go active, flips its route to moved and releases the held writes
        (forwarded to the target). On failure (:class:`EdgeUnreachable` naming the step,
        with the source's ``held_ms``) the source has undone it: target incoming, route
        unchanged, hold released; when the call's outcome is unknown, the source's
        routing tells (moved = cut over). ``spec.deadline_ms`` bounds the hold.
        """
        ...

    async def transfer(
        self,
        source: str,
        target: str,
        request: TransferRequest,
        on_progress: Callable[[TransferProgress], None],
    ) -> TransferProgress:
        """Run a transfer on ``source`` to ``target``; return the final progress.

        ``on_progress`` is called with every progress report (at least every 100 ms).
        The final progress may be ``failed``; cancellation stops the sender.
        """
        ...

    async def set_link_rate(self, source: str, target: str, rate_bps: float | None) -> None:
        """Set the rate (bits/s, ``None`` unlimited) of ``source``'s link to ``target``."""
        ...

    async def probe(self, edge: str, path: str) -> int:
        """GET ``path`` on ``edge`` (no token); return the HTTP status."""
        ...
