"""How a background copy gives way to urgent work on its edge (layer: transfer).

The transfer layer does not know what makes work urgent (a cutover's hold is the edge
layer's business, and this layer must not import it): a sender is handed a
:class:`CopyYield` and awaits :meth:`CopyYield.wait_turn` at each chunk boundary, before
it scans and encodes a page and before it sends a chunk. The edge's implementation
returns at once while nothing urgent runs and otherwise waits, for a bounded time, until
it ends. A transfer that *is* the urgent work (a cutover's final delta) gets
:data:`NEVER_YIELD`, so it never waits on itself, and says so to the target with the
:data:`URGENT_HEADER` on its peer-stream request: the target's applies of other streams
give way to it the same way (``serve_peer_stream``'s ``yielder``). Imports: nothing of
the engine.
"""

from __future__ import annotations

from typing import Final, Protocol

__all__ = ["NEVER_YIELD", "URGENT_HEADER", "CopyYield"]

URGENT_HEADER: Final = "X-Edge-Actors-Urgent"
"""Request header (value ``1``) of a peer stream that is urgent work (a final delta)."""


class CopyYield(Protocol):
    """Where a background copy waits while urgent work runs on its edge."""

    async def wait_turn(self) -> None:
        """Return when the copy may go on: at once when nothing urgent runs.

        Must return within a bound whatever happens to the urgent work (an
        implementation bounds every wait), so a copy is slowed, never stalled.

        Cancellation: cancellable; cancelling the wait leaves nothing behind.
        """
        ...


class _NeverYield:
    """A :class:`CopyYield` that never waits (urgent copies, tools, tests)."""

    async def wait_turn(self) -> None:
        return None

    def __repr__(self) -> str:
        return "NEVER_YIELD"


NEVER_YIELD: Final[CopyYield] = _NeverYield()
"""The :class:`CopyYield` of a copy that never gives way (the default everywhere)."""
