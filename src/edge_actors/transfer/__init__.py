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
from ._receiver import ReceiverActor as ReceiverActor
from ._receiver import peer_ws_max_msg_size as peer_ws_max_msg_size
from ._receiver import serve_peer_stream as serve_peer_stream
from ._run import PROGRESS_INTERVAL_S as PROGRESS_INTERVAL_S
from ._run import run_transfer as run_transfer
from ._sender import SenderActor as SenderActor
from ._stream import SNAPSHOT_MIN_BYTES as SNAPSHOT_MIN_BYTES
from ._stream import SNAPSHOT_PART_BYTES as SNAPSHOT_PART_BYTES
from ._yield import NEVER_YIELD as NEVER_YIELD
from ._yield import URGENT_HEADER as URGENT_HEADER
from ._yield import CopyYield as CopyYield

__all__ = [
    "NEVER_YIELD",
    "PROGRESS_INTERVAL_S",
    "SNAPSHOT_MIN_BYTES",
    "SNAPSHOT_PART_BYTES",
    "URGENT_HEADER",
    "CopyYield",
    "LinkLimiters",
    "PeerRefused",
    "ReceiverActor",
    "SenderActor",
    "TokenBucket",
    "TransferAborted",
    "TransferError",
    "TransferProgress",
    "TransferSpec",
    "TransferState",
    "peer_ws_max_msg_size",
    "run_transfer",
    "serve_peer_stream",
]
