"""Transfer specification and progress models (layer: transfer).

:class:`TransferSpec` is what the edge daemon's ``POST /admin/transfers`` receives and
:class:`TransferProgress` what it streams back; both are msgspec Structs so they travel
as JSON unchanged.
"""

from __future__ import annotations

import math
from typing import Literal

import msgspec

from edge_actors.errors import ConfigError
from edge_actors.schema import WorkloadName, convert
from edge_actors.wire import LSN_MAX

__all__ = ["TransferProgress", "TransferSpec", "TransferState"]

TransferState = Literal["running", "done", "failed", "cancelled"]


class TransferSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One transfer of a workload's records from this edge to ``target_url``.

    Attributes:
        transfer_id: unique id of this transfer (logs, progress).
        migration_id: the migration the transfer belongs to (sent in ``Hello``).
        workload: the workload name, the same on both edges.
        target_name: the target edge's name; also the rate-limiter link.
        target_url: base URL of the target daemon (``http://host:port``).
        target_token: the bearer credential for ``/peer/stream``: a transfer grant
            (edge layer) or a peer/admin token of the target.
        from_lsn: ship changes with LSN greater than this.
        to_lsn: ship changes up to this LSN; ``None``: the source LSN at start.
        batch_size: records per chunk.
        compression: zstd-compress chunk payloads.
        compression_level: zstd level (1..22).
        rate_limit_bps: a private rate limit in bits/s when no shared limiter is given.
        window: maximum unacknowledged chunks in flight.
        snapshot: a whole copy (from LSN 0 into an empty target, over a link without a
            rate limit) may travel as the source store's snapshot file instead of
            record chunks (see ``transfer/_stream.py``); ``False`` always sends chunks.
        max_retries: reconnections after a dropped stream before giving up.
        retry_backoff_s: first retry delay; doubled on each retry (capped at 5 s).
    """

    transfer_id: str
    migration_id: str
    workload: str
    target_name: str
    target_url: str
    target_token: str
    from_lsn: int = 0
    to_lsn: int | None = None
    batch_size: int = 1000
    compression: bool = True
    compression_level: int = 3
    rate_limit_bps: float | None = None
    window: int = 8
    snapshot: bool = True
    max_retries: int = 5
    retry_backoff_s: float = 0.2

    def __post_init__(self) -> None:
        for name in ("transfer_id", "migration_id", "target_name"):
            if not getattr(self, name):
                raise ConfigError(f"{name}: must not be empty")
        convert(self.workload, WorkloadName, field="workload")
        if not self.target_url.startswith(("http://", "https://")):
            raise ConfigError(f"target_url: expected an http(s) URL, got {self.target_url!r}")
        if not 0 <= self.from_lsn <= LSN_MAX:
            raise ConfigError(f"from_lsn: must be in 0..{LSN_MAX}, got {self.from_lsn}")
        if self.to_lsn is not None and self.to_lsn > LSN_MAX:
            raise ConfigError(f"to_lsn: must be at most {LSN_MAX}, got {self.to_lsn}")
        if self.to_lsn is not None and self.to_lsn < self.from_lsn:
            raise ConfigError(f"to_lsn: {self.to_lsn} is below from_lsn {self.from_lsn}")
        if not 1 <= self.batch_size <= 1_000_000:
            raise ConfigError(f"batch_size: expected 1..1000000, got {self.batch_size}")
        if not 1 <= self.compression_level <= 22:
            raise ConfigError(f"compression_level: expected 1..22, got {self.compression_level}")
        if self.rate_limit_bps is not None and not (
            math.isfinite(self.rate_limit_bps) and self.rate_limit_bps > 0
        ):
            raise ConfigError(
                f"rate_limit_bps: expected a positive bits/s or None, got {self.rate_limit_bps}"
            )
        if not 1 <= self.window <= 1024:
            raise ConfigError(f"window: expected 1..1024 unacked chunks, got {self.window}")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries: must be >= 0, got {self.max_retries}")
        if not (math.isfinite(self.retry_backoff_s) and self.retry_backoff_s >= 0):
            raise ConfigError(f"retry_backoff_s: must be >= 0, got {self.retry_backoff_s}")

    @property
    def stream_url(self) -> str:
        """The target's peer stream WebSocket URL."""
        return self.target_url.rstrip("/") + "/peer/stream"


class TransferProgress(msgspec.Struct, kw_only=True):
    """A snapshot of a transfer, reported at least every 100 ms and at the end.

    Attributes:
        transfer_id: the transfer.
        workload: the workload.
        state: ``running``, ``done``, ``failed`` or ``cancelled``.
        from_lsn: first LSN boundary (exclusive) of the transfer.
        to_lsn: last LSN (inclusive) shipped by the transfer.
        acked_lsn: LSN up to which the target confirmed applying; resume from here.
        records: records acknowledged by the target (re-sent ones count again).
        raw_bytes: uncompressed payload bytes acknowledged.
        wire_bytes: encoded frame bytes acknowledged.
        chunks: chunks acknowledged.
        retries: reconnections so far.
        elapsed_s: seconds since the transfer started.
        wire_rate_bps: average wire rate, bits per second.
        raw_rate_bps: average logical (uncompressed) rate, bits per second.
        error: why the transfer failed or was cancelled.
        sent_chunks: chunks put on the wire, re-sent ones included.
        sent_records: records put on the wire, re-sent ones included.
        sent_wire_bytes: frame bytes put on the wire, re-sent ones included.
        applied_records: records of the range the target had applied before this transfer
            reached them (an earlier stream's chunks whose acks were lost): skipped, not
            sent, and not in ``records``; a migration counts them as moved.
        applied_raw_bytes: the raw bytes of those records (as chunks would declare them).
        snapshot: the copy travelled as the source store's snapshot file (its parts are
            the ``chunks``, ``raw_bytes`` the file's bytes; ``records`` come with the
            final ack).
    """

    transfer_id: str
    workload: str
    state: TransferState
    from_lsn: int
    to_lsn: int
    acked_lsn: int
    records: int = 0
    raw_bytes: int = 0
    wire_bytes: int = 0
    chunks: int = 0
    retries: int = 0
    elapsed_s: float = 0.0
    wire_rate_bps: float = 0.0
    raw_rate_bps: float = 0.0
    error: str | None = None
    sent_chunks: int = 0
    sent_records: int = 0
    sent_wire_bytes: int = 0
    applied_records: int = 0
    applied_raw_bytes: int = 0
    snapshot: bool = False
