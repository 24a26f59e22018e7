"""The bookkeeping of one transfer: acked LSN (the resume point), counters, progress.

Transfer layer. A :class:`TransferTracker` outlives every connection attempt and the
sender actor itself, so a retry resumes from ``acked_lsn`` and a cancelled or killed
transfer still reports how far it got. Only the running transfer's tasks write it (the
stream's sender loop counts what it put on the wire, its ack reader what the target
confirmed); :meth:`TransferTracker.snapshot` publishes an immutable
:class:`TransferProgress`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ._models import TransferProgress

if TYPE_CHECKING:
    from ._models import TransferSpec, TransferState

__all__ = ["TransferTracker"]


class TransferTracker:
    """Counters of one transfer, shared by :func:`run_transfer` and the sender actor.

    Kept outside the actor instance so progress survives a cancelled or killed actor.

    Args:
        spec: the transfer.
        from_lsn: the first LSN boundary (exclusive); also the initial resume point.
        to_lsn: the last LSN (inclusive) to ship.
    """

    def __init__(self, spec: TransferSpec, from_lsn: int, to_lsn: int) -> None:
        self.spec = spec
        self.from_lsn = from_lsn
        self.to_lsn = to_lsn
        self.acked_lsn = from_lsn
        self.records = 0
        self.raw_bytes = 0
        self.wire_bytes = 0
        self.chunks = 0
        self.retries = 0
        self.sent_chunks = 0
        self.sent_records = 0
        self.sent_wire_bytes = 0
        self.applied_records = 0
        self.applied_raw_bytes = 0
        self.sends_snapshot = False  # the copy travels as the store's snapshot file
        self.started = time.monotonic()

    def resume_from(self, applied_lsn: int) -> int:
        """Where the next stream starts, given the target's ``HelloAck.applied_lsn``.

        The later of what this transfer saw acked and what the target says it applied
        (a target that applied more from an earlier attempt moves ``acked_lsn`` up),
        never past ``to_lsn``.
        """
        start = max(self.acked_lsn, applied_lsn)
        if start > self.acked_lsn:
            self.acked_lsn = min(start, self.to_lsn)
        return min(start, self.to_lsn)

    def sent(self, records: int, wire_len: int) -> None:
        """Count one chunk put on the wire (re-sent ones count again)."""
        self.sent_chunks += 1
        self.sent_records += records
        self.sent_wire_bytes += wire_len

    def confirmed(self, lsn: int, records: int = 0) -> None:
        """The target confirmed applying everything up to ``lsn``: the new resume point
        (``records``: what a snapshot's final ack confirms along with it)."""
        self.acked_lsn = max(self.acked_lsn, lsn)
        self.records += records

    def acked(self, scan_to: int, records: int, raw_len: int, wire_len: int) -> None:
        """Count one chunk the target confirmed; the resume point moves to ``scan_to``."""
        self.confirmed(scan_to)
        self.chunks += 1
        self.records += records
        self.raw_bytes += raw_len
        self.wire_bytes += wire_len

    def applied_earlier(self, scan_to: int, records: int, raw_len: int) -> None:
        """Count a page the target applied before this transfer sent it (not re-sent)."""
        self.confirmed(scan_to)
        self.applied_records += records
        self.applied_raw_bytes += raw_len

    def snapshot(self, state: TransferState, error: str | None = None) -> TransferProgress:
        """An immutable picture of the transfer now, in ``state``."""
        elapsed = time.monotonic() - self.started
        rate_base = elapsed if elapsed > 0 else 1e-9
        return TransferProgress(
            transfer_id=self.spec.transfer_id,
            workload=self.spec.workload,
            state=state,
            from_lsn=self.from_lsn,
            to_lsn=self.to_lsn,
            acked_lsn=self.acked_lsn,
            records=self.records,
            raw_bytes=self.raw_bytes,
            wire_bytes=self.wire_bytes,
            chunks=self.chunks,
            retries=self.retries,
            elapsed_s=elapsed,
            wire_rate_bps=self.wire_bytes * 8 / rate_base,
            raw_rate_bps=self.raw_bytes * 8 / rate_base,
            error=error,
            sent_chunks=self.sent_chunks,
            sent_records=self.sent_records,
            sent_wire_bytes=self.sent_wire_bytes,
            applied_records=self.applied_records,
            applied_raw_bytes=self.applied_raw_bytes,
            snapshot=self.sends_snapshot,
        )
