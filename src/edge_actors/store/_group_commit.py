"""Group commit of one store's foreground writes (store layer).

``put``/``delete``/``write_batch`` calls that arrive while a transaction is in flight are
coalesced into the next single transaction: one thread hop and one commit for all of
them, and each caller gets its own LSN once that transaction has committed.
:class:`GroupCommit` owns the queue of pending writes, the store's write lock (which the
store's other write-side operations take too: a copy's apply, the end of a bulk fill,
the close) and the progress that :meth:`GroupCommit.writes_settled` waits on. It is used
from the event loop that opened the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from ._errors import StoreError, StoreFull

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["GroupCommit", "Ops"]

Ops = list[tuple[str, bytes | None]]


class _PendingWrite:
    """One caller's ops waiting for (or done with) a group commit."""

    __slots__ = ("done", "error", "lsn", "ops")

    def __init__(self, ops: Ops) -> None:
        self.ops = ops
        self.done = False
        self.lsn = 0
        self.error: BaseException | None = None


class GroupCommit:
    """The queue of one store's foreground writes and its commits.

    Args:
        name: The workload (error messages).
        write: Commits a list of op batches in one transaction, in a worker thread;
            returns each batch's last LSN.
        committed: Called after each successful commit (the store re-reads its totals).
        log: The store's bound logger.
    """

    def __init__(
        self,
        name: str,
        write: Callable[[list[Ops]], Awaitable[list[int]]],
        committed: Callable[[], None],
        log: Any,
    ) -> None:
        self._name = name
        self._write = write
        self._committed = committed
        self._log = log
        self.lock = anyio.Lock()
        """The store's write lock: held by a commit, an apply, a bulk fill's end, a close."""
        self._pending: list[_PendingWrite] = []
        self._in_flight = 0  # submitted and not yet answered
        self._commits = 0  # group commits finished (with or without an error)
        self._progress = anyio.Event()  # set (and replaced) after each commit or drain

    @property
    def has_pending(self) -> bool:
        """Whether writes are queued for the next commit."""
        return bool(self._pending)

    @property
    def in_flight(self) -> int:
        """Writes submitted and not yet answered. O(1)."""
        return self._in_flight

    async def submit(self, ops: Ops) -> int:
        """Queue ``ops`` for the next group commit and wait until it has committed.

        Raises:
            StoreFull, StoreError: The commit failed; the write did not happen.

        Cancellation: withdrawn if the commit has not started; once started, it completes
        (shielded) and the write is durable.
        """
        item = _PendingWrite(ops)
        self._pending.append(item)
        self._in_flight += 1
        try:
            async with self.lock:
                # A previous lock holder may have committed us along with its own ops.
                if not item.done:
                    await self.commit_pending()
        except BaseException:
            if not item.done and any(p is item for p in self._pending):
                self._pending.remove(item)  # withdrawn before any commit took it
            raise
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._signal_progress()
        if item.error is not None:
            kind = StoreFull if isinstance(item.error, StoreFull) else StoreError
            raise kind(f"write to workload {self._name!r} failed: {item.error}") from item.error
        return item.lsn

    async def commit_pending(self) -> None:
        """Commit every queued write in one transaction. Call with :attr:`lock` held."""
        batch, self._pending = self._pending, []
        try:
            with anyio.CancelScope(shield=True):
                try:
                    ends = await self._write([p.ops for p in batch])
                except Exception as exc:
                    # A full disk fails every write until space is freed: its callers report
                    # it (rate-limited), one error line per commit would flood the log.
                    level = self._log.debug if isinstance(exc, StoreFull) else self._log.error
                    level("group_commit_failed", writes=len(batch), error=str(exc))
                    for pending in batch:
                        pending.error = exc
                        pending.done = True
                    return
            self._committed()
            for pending, lsn in zip(batch, ends, strict=True):
                pending.lsn = lsn
                pending.done = True
        finally:
            self._commits += 1
            self._signal_progress()

    async def writes_settled(self) -> None:
        """Return once the writes in flight at the call have been answered (at once if
        none), waiting for at most the commit running now and the next one.

        Cancellation: the caller stops waiting; nothing else is affected.
        """
        if not self._in_flight:
            return
        target = self._commits + (2 if self.lock.locked() else 1)
        while self._in_flight and self._commits < target:
            await self._progress.wait()

    def _signal_progress(self) -> None:
        """Wake :meth:`writes_settled` callers (a commit finished or no write is left)."""
        self._progress.set()
        self._progress = anyio.Event()
