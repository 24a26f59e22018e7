"""The durable writes of activations in progress on a target edge (edge layer).

An activation makes its ``active`` route and epoch durable (one fsync's wait) before it
answers. A source that cut the activation at its deadline then asks this edge to undo it
(``PUT .../status`` ``incoming``); when the activation had already begun that write, an
undo costs a second durable write after the first, while the activation is about to
stand anyway. With ``keep_if_active`` (:class:`~._models.SetStatus`) the undo instead
waits for the write in progress and, if it made the activation durable at the undo's
epoch, keeps it: the source then flips as if the activation had answered in time.
:class:`ActivationWrites` is what that wait needs: the write in progress per workload and
whether the last one succeeded. While that write is in progress the workload is not
served yet (:meth:`ActivationWrites.in_progress`): a write acknowledged by an activation
that then fails to become durable would not be on the owner. Owned by the daemon's loop.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["ActivationWrites"]


class ActivationWrites:
    """The activations' durable writes in progress on this edge (see the module doc)."""

    def __init__(self) -> None:
        self._writing: dict[str, anyio.Event] = {}
        self._failed: set[str] = set()

    @contextmanager
    def writing(self, name: str) -> Iterator[None]:
        """Mark the ``with`` body as the durable write of an activation of ``name``; it
        succeeded when the body returns, failed when it raises."""
        done = anyio.Event()
        self._writing[name] = done
        durable = False
        try:
            yield
            durable = True
        finally:
            done.set()
            if self._writing.get(name) is done:
                del self._writing[name]
            if durable:
                self._failed.discard(name)
            else:
                self._failed.add(name)

    def in_progress(self, name: str) -> bool:
        """Whether an activation of ``name`` is making itself durable right now."""
        return name in self._writing

    async def settled(self, name: str) -> bool:
        """Wait for the activation write of ``name`` in progress, if any; whether the last
        activation write of ``name`` here succeeded (``True`` when there was none).

        Cancellation: cancellable; nothing changes.
        """
        done = self._writing.get(name)
        if done is not None:
            await done.wait()
        return name not in self._failed
