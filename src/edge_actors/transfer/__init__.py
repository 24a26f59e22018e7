"""Transfer layer: moving a workload's records between edges.

Token-bucket link limiters, the sender actor (WebSocket client of ``/peer/stream``) and
the receiver (the peer stream's server side). Imports: leaves, actors, wire, store.
"""

from __future__ import annotations

from ._errors import PeerRefused as PeerRefused
from ._errors import TransferAborted as TransferAborted
from ._errors import TransferError as TransferError
from ._limiter import LinkLimiters as LinkLimiters
from ._limiter import TokenBucket as TokenBucket
from ._models import TransferProgress as TransferProgress
from ._models import TransferSpec as TransferSpec
from ._models import TransferState as TransferState

__all__ = [
    "LinkLimiters",
    "PeerRefused",
    "TokenBucket",
    "TransferAborted",
    "TransferError",
    "TransferProgress",
    "TransferSpec",
    "TransferState",
]
