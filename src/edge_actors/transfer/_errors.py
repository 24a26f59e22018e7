"""Errors of the transfer layer (layer: transfer).

Every condition a sender or receiver refuses or gives up on is a :class:`TransferError`;
the message names the transfer, the peer and the cause. It is an
:class:`edge_actors.actors.Refusal` with a stable ``code``: the sender actor raises it to
its asker without crashing (one error channel: a refusal is raised, a crash is a crash).
"""

from __future__ import annotations

from edge_actors.actors import Refusal

__all__ = ["PeerRefused", "TransferAborted", "TransferError"]


class TransferError(Refusal):
    """A transfer between two edges failed."""

    code: str = "transfer_failed"


class PeerRefused(TransferError):
    """The peer refused the stream: HTTP status or an ``ErrorFrame``; not retried.

    Attributes:
        code: the remote error code (``"unauthorized"`` for HTTP 401, ``"http_<status>"``
            for other HTTP refusals, else the ``ErrorFrame`` code).
        remote_message: the remote explanation.
    """

    def __init__(self, code: str, remote_message: str, *, peer: str = "") -> None:
        self.code = code
        self.remote_message = remote_message
        where = f" {peer}" if peer else ""
        super().__init__(f"peer{where} refused the stream: {code}: {remote_message}")


class TransferAborted(TransferError):
    """Retries were exhausted; the message and ``__cause__`` name the last failure.

    Attributes:
        attempts: connection attempts made.
        last_cause: a description of the last failure.
    """

    code: str = "transfer_aborted"

    def __init__(self, message: str, *, attempts: int, last_cause: str) -> None:
        self.attempts = attempts
        self.last_cause = last_cause
        super().__init__(message)
