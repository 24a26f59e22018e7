"""Fencing tokens of one edge: the highest ownership epoch seen per workload (edge layer).

The control plane gives every workload an owner edge and an *epoch* that only grows
(``docs/architecture.md``, "Ownership and fencing"). Every routing command the edge takes
(create, status, hold, release, activate, cutover) may carry that epoch; the edge keeps
the highest one it has seen per workload in the ``epochs`` table of its state log
(``<data_dir>/edge.state`` and ``edge.log``, durable before the command acts, so it
survives ``kill -9`` and a power loss: :mod:`._edge_state`) and refuses a lower one
with :class:`StaleEpoch`: a supervisor or an edge that comes back from a crash or a
partition with an old view cannot act on it.

The table also keeps, per workload:

* ``retiring_to``: set by a cutover on the source *before* it holds writes (so the hold
  waits for no write of this file) and cleared once the source's route is flipped (or
  the cutover undone). An edge that finds it set while no cutover runs (it was killed in
  between) does not serve the workload: data requests are redirected to the target
  (307), never answered here, until the control plane settles ownership with a newer
  epoch. While the cutover runs, the mark is *unarmed* until the target is asked to
  activate (:meth:`EpochFence.arm`): writes that passed the gate until then are still
  applied here (the target cannot be active yet); an armed mark redirects them too.
* ``activated_lsn`` / ``activated_digest``: what an activation on this edge confirmed
  (the source's digest at the hold LSN, equal to its own), so a restarted supervisor can
  still compare both digests at the cutover LSN after the workload has taken new writes.
* ``undone_epoch``: the highest epoch at which this edge was told to step back to
  ``incoming`` (a cutover's undo, a rollback, the reconciler). That epoch is *burned*
  here: an activation carrying it, or a lower one, is refused (:class:`StaleEpoch`), so a
  stalled activation that acts after its cutover was undone cannot make a second active
  copy. A retried cutover takes a new epoch from the control plane's journal.

A command without an epoch (``None``) is not fenced: existing callers and tests that
predate fencing keep working; the migration engine always sends one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from ._errors import EdgeError
from ._refusals import StaleEpoch

if TYPE_CHECKING:
    from ._models import WorkloadStatus as RouteStatus
    from ._state_log import StateLog, StateTable

__all__ = ["EpochFence", "FenceEntry"]


class FenceEntry(msgspec.Struct, frozen=True, kw_only=True):
    """What the edge remembers of one workload's ownership."""

    epoch: int = 0
    retiring_to: str | None = None
    activated_lsn: int | None = None
    activated_digest: str | None = None
    undone_epoch: int = 0


class EpochFence:
    """Highest epoch per workload, persisted in a state log's table (see the module doc).

    Writes are durable before they return (:meth:`admit`; :meth:`record` then
    :meth:`save`).

    Args:
        table: Where the entries are kept.
    """

    def __init__(self, table: StateTable[FenceEntry]) -> None:
        self._entries = table
        self._unarmed: set[str] = set()

    @property
    def state(self) -> StateLog:
        """The state log the entries are kept in (a save writes all of its tables)."""
        return self._entries.log

    def get(self, name: str) -> FenceEntry:
        """What is known of ``name`` (epoch 0 when nothing)."""
        return self._entries.get(name) or FenceEntry()

    async def admit(
        self,
        name: str,
        epoch: int | None,
        status: RouteStatus | None = None,
        *,
        activated: tuple[int, str] | None = None,
    ) -> None:
        """Check ``epoch`` against the highest seen for ``name`` and record it if higher.

        ``None`` is admitted without a check (a command from before fencing). With
        ``status``, the command changes the workload's route: ``active`` is also refused
        at a burned epoch (``<= undone_epoch``), and ``incoming`` burns ``epoch``.
        ``activated``: also record what an activation confirmed, ``(lsn, digest)``, in
        the same write (one fsync on the activation's path, not two).

        Recorded in memory at once (later commands are fenced by it from here), then
        written in a worker thread; a command admitted at an epoch still being written
        waits for that write too, so nothing acts on an epoch that is not durable.

        Raises:
            StaleEpoch: ``epoch`` is lower than the highest seen, or an activation at a
                burned epoch (nothing recorded).
            StateNotDurable: The write failed (the epoch stays seen in memory).
        """
        changed = self.record(name, epoch, status, activated=activated)
        if changed or (epoch is not None and self.state.pending):
            await self._entries.save()

    def record(
        self,
        name: str,
        epoch: int | None,
        status: RouteStatus | None = None,
        *,
        activated: tuple[int, str] | None = None,
    ) -> bool:
        """:meth:`admit`'s check and change, in memory only (later commands are fenced by
        it at once); whether :meth:`save` must make it durable.

        Raises:
            StaleEpoch: As :meth:`admit` (nothing recorded).
        """
        self.check(name, epoch, status)
        entry = self.get(name)
        if activated is not None:
            lsn, digest = activated
            entry = msgspec.structs.replace(entry, activated_lsn=lsn, activated_digest=digest)
        if epoch is None:
            if activated is not None:
                self._entries.set(name, entry)
            return activated is not None
        undone = max(entry.undone_epoch, epoch) if status == "incoming" else entry.undone_epoch
        if epoch > entry.epoch or undone != entry.undone_epoch or activated is not None:
            self._entries.set(
                name, msgspec.structs.replace(entry, epoch=epoch, undone_epoch=undone)
            )
            return True
        return False

    async def save(self) -> None:
        """Make what is recorded durable; the fsync runs in a worker thread."""
        await self._entries.save()

    def check(self, name: str, epoch: int | None, status: RouteStatus | None = None) -> None:
        """What :meth:`admit` checks, recording nothing.

        Raises:
            StaleEpoch: As :meth:`admit`.
        """
        if epoch is None:
            return
        entry = self.get(name)
        if status == "active" and epoch <= entry.undone_epoch:
            raise StaleEpoch(
                f"workload {name!r}: activation at epoch {epoch} refused, this edge was "
                f"set back to incoming at epoch {entry.undone_epoch} (an undone cutover "
                "burns its epoch; a retried one carries a newer epoch)"
            )
        if epoch < entry.epoch:
            raise StaleEpoch(
                f"workload {name!r}: command carries epoch {epoch}, this edge has seen "
                f"epoch {entry.epoch}; refused (a newer owner decision exists)"
            )

    async def retire(self, name: str, target_url: str | None) -> None:
        """Mark ``name`` as being handed to ``target_url`` (``None``: clear the mark),
        with the fsync in a worker thread (the loop goes on meanwhile); durable when it
        returns."""
        changed = self._retired(name, target_url)
        if changed is not None:
            self._entries.set(name, changed)
            await self._entries.save()

    def check_unmarked(self, name: str) -> None:
        """Refuse a cutover of ``name`` while a mark is set.

        Raises:
            EdgeError: ``name`` is still marked (an interrupted cutover whose target may be
                active: the control plane settles it first).
        """
        marked = self.get(name).retiring_to
        if marked is not None:
            raise EdgeError(
                f"workload {name!r} is still marked retiring to {marked} by an "
                "interrupted cutover (that target may be active); ownership must be "
                "settled before another cutover"
            )

    async def mark_retiring(self, name: str, target_url: str) -> None:
        """Durably mark ``name`` ``retiring_to`` ``target_url``, *unarmed*: a cutover's
        source, before its hold (module doc). Until :meth:`arm`, :meth:`redirects_admitted`
        is ``False`` for it; :meth:`clear_unarmed` takes it back.

        Raises:
            EdgeError: ``name`` is already marked (an interrupted cutover whose target
                may be active: the control plane settles it first); nothing changed.
        """
        self.check_unmarked(name)
        entry = self.get(name)
        self._unarmed.add(name)
        try:
            await self.retire(name, target_url)
        except BaseException:
            # Not written (or not known to be): the target was asked nothing, so this
            # edge goes on serving; a mark that did reach the disk only redirects after
            # a crash, until the control plane settles.
            self._unarmed.discard(name)
            self._entries.set(name, entry)
            raise

    def arm(self, name: str, digest_at: tuple[int, str]) -> None:
        """Arm the mark of ``name``: the target is about to be asked to activate. Also
        record this edge's ``(lsn, digest)`` at the hold, in memory: the write that clears
        the mark after the flip makes it durable (until then the store, frozen at the hold,
        still has that digest)."""
        self._unarmed.discard(name)
        lsn, digest = digest_at
        entry = self.get(name)
        self._entries.set(
            name, msgspec.structs.replace(entry, activated_lsn=lsn, activated_digest=digest)
        )

    def redirects_admitted(self, name: str) -> bool:
        """Whether a write of ``name`` that passed the gate must be redirected rather than
        applied here: its mark is set and armed (the target may be active)."""
        return self.get(name).retiring_to is not None and name not in self._unarmed

    async def clear_unarmed(self, name: str) -> bool:
        """Clear the mark of ``name`` if it was never armed (a cutover undone before its
        activation); durable when it returns. ``False``: it was armed or not set.

        The mark is cleared in memory first: the target was asked nothing, so this edge
        serves. If the write fails the error is raised and the file keeps the mark, which
        only redirects after a crash, until the control plane settles.
        """
        if name not in self._unarmed:
            return False
        self._unarmed.discard(name)
        await self.retire(name, None)
        return True

    def _retired(self, name: str, target_url: str | None) -> FenceEntry | None:
        entry = self.get(name)
        changed = msgspec.structs.replace(entry, retiring_to=target_url)
        return None if changed == entry else changed
