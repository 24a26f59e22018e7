"""A cutover's final delta: the writes since the last delta round, shipped inside the hold.

Edge layer, used by :mod:`._cutover` (the source's side). :class:`FinalDelta` reads
``(from_lsn, hold LSN]`` and ships it the cheapest way that fits the hold's plan
(:class:`~._hold_budget.HoldBudget`): a small one (the usual case) goes inside the
activation call (:meth:`FinalDelta.inline`, one round trip); a larger one over a peer
stream as an urgent transfer (:meth:`FinalDelta.stream`). Either is cut when the
activation could no longer follow it in time, and the cut is counted as a refusal on the
forecast (the next plans keep it in reserve).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import anyio
import msgspec

from edge_actors.transfer import TransferSpec

from ._errors import EdgeError

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from edge_actors.transfer import TransferProgress
    from edge_actors.wire import Change

    from ._hold_budget import HoldBudget, StepTimes
    from ._models import CutoverRequest
    from ._router import WorkloadRouter
    from ._transfer_api import Transfers

__all__ = ["FinalDelta", "Sent"]

_FINAL_DELTA_RETRIES = 1  # inside a hold: one reconnection, then undo
_INLINE_MAX_RECORDS = 1000
_INLINE_MAX_BYTES = 256 * 1024
"""A final delta of at most this many records and JSON bytes goes inside the activation
call (one round trip; a peer stream's connection, ``Hello``, chunk, ``Done`` and close
take four or five, each a turn of two busy loops); a larger one over a peer stream."""
_JSON = msgspec.json.Encoder()
_MSGPACK = msgspec.msgpack.Encoder()


class Sent(NamedTuple):
    """What a cutover's final delta sent: the changes that go inside the activation call
    (none when it went over a peer stream, or was empty), its records, its raw (msgpack)
    bytes as a chunk declares them, and its bytes on the wire (the frames, or the changes'
    bytes in the call's JSON body)."""

    changes: tuple[Change, ...]
    records: int
    raw_bytes: int
    wire_bytes: int

    @classmethod
    def streamed(cls, progress: TransferProgress | None) -> Sent:
        """A final delta shipped over a peer stream (``None``: nothing to ship)."""
        if progress is None:
            return cls((), 0, 0, 0)
        return cls((), progress.records, progress.raw_bytes, progress.sent_wire_bytes)


class FinalDelta:
    """Reads and ships the final deltas of this edge's cutovers (see the module doc).

    Args:
        router: This edge's router (the stores the deltas are read from).
        transfers: This edge's outgoing transfers (a large delta runs as one).
        times: The cutovers' step times (a cut counts as a refusal on the forecast).
    """

    def __init__(self, router: WorkloadRouter, transfers: Transfers, times: StepTimes) -> None:
        self._router = router
        self._transfers = transfers
        self.times = times

    async def inline(
        self, name: str, req: CutoverRequest, hold_lsn: int, budget: HoldBudget
    ) -> Sent | None:
        """The final delta ``(req.from_lsn, hold_lsn]`` to send inside the activation call,
        if it is small enough (:data:`_INLINE_MAX_RECORDS`, :data:`_INLINE_MAX_BYTES`);
        ``None``: ship it over a peer stream. Empty when there is nothing to ship.

        Raises:
            EdgeError: The read could not end in time for the activation (``budget``);
                it is cut as a peer stream's final delta is (the read finishes in its
                worker thread; nothing was sent).
        """
        if hold_lsn <= req.from_lsn:
            return Sent((), 0, 0, 0)
        self._check_fits(req, budget)
        store = self._router.registry.get(name)
        cut_in = budget.final_delta_left() if budget.bounded else math.inf
        cut_at_ms = budget.held_ms() + cut_in * 1000
        changes: list[Change] | None = None
        with anyio.move_on_after(cut_in):
            changes = await store.scan_changes(
                req.from_lsn,
                hold_lsn,
                limit=_INLINE_MAX_RECORDS + 1,
                max_bytes=_INLINE_MAX_BYTES,
                urgent=True,
            )
        if changes is None:
            raise self._cut(req, budget, cut_at_ms)
        if len(changes) > _INLINE_MAX_RECORDS:
            return None
        wire_bytes = len(_JSON.encode(changes))
        if wire_bytes > _INLINE_MAX_BYTES:
            return None
        return Sent(tuple(changes), len(changes), len(_MSGPACK.encode(changes)), wire_bytes)

    async def stream(
        self, name: str, req: CutoverRequest, hold_lsn: int, budget: HoldBudget, tasks: TaskGroup
    ) -> TransferProgress | None:
        """Ship ``(req.from_lsn, hold_lsn]`` to the target; return the transfer's final
        progress (``None``: nothing to ship).

        The transfer runs as a task of ``tasks``; when it cannot end in time for the
        activation (``budget``) it is cancelled and this raises at once, without waiting
        for it to wind down (it does so in ``tasks``, after the hold was released: it only
        ever sends records up to ``hold_lsn`` to a target that is still ``incoming``).

        Raises:
            EdgeError: The transfer failed, or was cut for the budget.
        """
        if hold_lsn <= req.from_lsn:
            return None
        self._check_fits(req, budget)
        spec = TransferSpec(
            transfer_id=req.transfer_id,
            migration_id=req.migration_id,
            workload=name,
            target_name=req.target_name,
            target_url=req.target_url,
            target_token=req.target_token,
            from_lsn=req.from_lsn,
            to_lsn=hold_lsn,
            batch_size=req.batch_size,
            compression=req.compression,
            max_retries=_FINAL_DELTA_RETRIES,
            retry_backoff_s=0.05,
        )
        store = self._router.registry.get(name)
        entry = self._transfers.start(spec)
        ended = anyio.Event()
        result: list[TransferProgress] = []

        async def ship() -> None:
            try:
                result.append(await self._transfers.run(entry, store, urgent=True))
            finally:
                ended.set()

        tasks.start_soon(ship)
        try:
            cut_in = budget.final_delta_left()
            cut_at_ms = budget.held_ms() + cut_in * 1000  # when the cut is planned
            with anyio.move_on_after(cut_in):
                await ended.wait()
        finally:
            if not ended.is_set():
                entry.scope.cancel()  # winds down in ``tasks``; the hold does not wait
        if not result:
            raise self._cut(req, budget, cut_at_ms)
        final = result[0]
        if final.state != "done" or final.acked_lsn < hold_lsn:
            raise EdgeError(
                f"transfer ended {final.state} at LSN {final.acked_lsn} of {hold_lsn}: "
                f"{final.error}"
            )
        return final

    def _check_fits(self, req: CutoverRequest, budget: HoldBudget) -> None:
        """Refuse (undo, nothing sent) when the planned activation no longer fits even
        without a final delta.

        Raises:
            EdgeError: It does not fit (counted as a refusal on the forecast).
        """
        if budget.bounded and budget.final_delta_left() <= 0:
            plan = budget.describe()  # before the refusal counts (it may start a probe)
            self.times.refused_by_forecast()
            raise EdgeError(
                "undone before the final delta, within the cutover's deadline of "
                f"{req.deadline_ms:g} ms (counted from the hold): {plan}"
            )

    def _cut(self, req: CutoverRequest, budget: HoldBudget, cut_at_ms: float) -> EdgeError:
        """The error of a final delta cut at ``cut_at_ms`` (planned, from the hold); the
        cut is remembered for the next plans' reserve and counted as a refusal."""
        budget.final_delta_cut_ms = cut_at_ms
        plan = budget.describe()  # before the refusal counts (it may start a probe)
        self.times.refused_by_forecast()
        return EdgeError(
            "the final delta was cut to keep the hold within the cutover's deadline of "
            f"{req.deadline_ms:g} ms (counted from the hold): {plan}"
        )
