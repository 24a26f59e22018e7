"""Background WAL checkpoints of one workload store, off the commit path (store layer).

SQLite's automatic checkpoint runs inside the ``COMMIT`` that pushes the WAL past its
limit, so that one commit (and every caller of its group commit) waits while tens of
MiB are copied into the database file and fsynced; with ``journal_size_limit`` the
commit that restarts the WAL also truncates the file (another 10-20 ms measured). The
writer therefore runs with ``wal_autocheckpoint = 0`` and no size limit, and this
checkpointer does the work in its own thread, on its own connection:

- after each commit the writer calls :meth:`Checkpointer.after_commit` (sets an event;
  no I/O). While commits keep coming, the thread runs a ``PASSIVE`` checkpoint at most
  every :data:`CHECKPOINT_INTERVAL_S` (none while the store is idle). ``PASSIVE`` never
  waits for the writer nor for readers: it copies the frames no reader still needs.
- The WAL restarts from its beginning (the file is reused, not grown) only when a write
  transaction *begins* with every frame copied, which under steady writes a concurrent
  checkpoint never achieves (a commit always lands while it fsyncs). So when the
  checkpoint reports more than :data:`~._schema.WAL_RESTART_BYTES` of WAL, the thread
  takes the write side's transaction lock (between two commits) and runs one more
  ``PASSIVE``: it copies only the frames of the last moments, and then the next commit
  restarts the WAL. That is the only time a commit can wait for a checkpoint, for a few
  milliseconds, never for the bulk copy; readers are still not waited for.
- If the WAL file exceeds :data:`~._schema.WAL_HARD_CAP` all the same (readers pinned
  old frames), it runs a ``TRUNCATE`` checkpoint, which blocks the writer while it waits
  for those readers, so the file cannot grow without bound. The wait is short
  (:data:`TRUNCATE_WAIT_MS`); if readers still pin the WAL it gives up and tries again
  later, backing off up to :data:`TRUNCATE_BACKOFF_MAX_S`, so that a long reader costs
  the writer short, spaced stalls and never fails a write.

Interval and back-off decisions read an injected :class:`~edge_actors.clock.Clock`'s
monotonic time (a test's ``ManualClock`` decides when the next checkpoint is due). A
thread cannot await the clock's sleep, so while a checkpoint is not yet due the thread
waits on real time in slices of at most :data:`RECHECK_S` and decides again.

Python's ``sqlite3`` has no WAL hook, so the WAL is sized from each checkpoint's own
report (frames x page size) and the file's size, and a fixed cadence bounds the WAL
between two checkpoints to one interval of writes.

The thread is started by :meth:`Checkpointer.start` and stopped and joined by
:meth:`Checkpointer.close`, both called by the store's
:class:`~edge_actors.store._writer.WriteSide`. A checkpoint changes no content, so
durability is that of the commits: this connection uses the writer's ``synchronous``
level (the WAL is synced before it is copied, the database file after), and a crash in
the middle of a checkpoint is recovered by SQLite.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import TYPE_CHECKING

from edge_actors._log import get_logger
from edge_actors.clock import SYSTEM_CLOCK, Clock

from ._schema import WAL_HARD_CAP, WAL_RESTART_BYTES, connect_checkpointer

if TYPE_CHECKING:
    from pathlib import Path

    from ._models import Durability

__all__ = [
    "CHECKPOINT_INTERVAL_S",
    "RECHECK_S",
    "TRUNCATE_BACKOFF_MAX_S",
    "TRUNCATE_WAIT_MS",
    "Checkpointer",
]

CHECKPOINT_INTERVAL_S = 0.25
"""Shortest time between two background checkpoints while commits keep coming."""

RECHECK_S = 0.05
"""Longest real-time wait before the thread asks its clock again whether a checkpoint is due."""

TRUNCATE_WAIT_MS = 100
"""How long a ``TRUNCATE`` checkpoint waits for readers (the writer waits meanwhile)."""

TRUNCATE_BACKOFF_MAX_S = 5.0
"""Longest pause between two ``TRUNCATE`` attempts that readers kept busy."""

_CATCH_UP_PASSES = 4  # unlocked passes at most before the locked one
_LOCKED_PASS_BYTES = 1024 * 1024  # WAL left for the locked pass once caught up


class Checkpointer:
    """One thread checkpointing one store file's WAL in the background."""

    def __init__(
        self,
        path: Path,
        durability: Durability,
        *,
        writer_lock: threading.Lock,
        interval_s: float = CHECKPOINT_INTERVAL_S,
        restart_bytes: int = WAL_RESTART_BYTES,
        hard_cap: int = WAL_HARD_CAP,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """Prepare (not start) the checkpointer of the store file at ``path``.

        ``writer_lock`` is held by the write side around each write transaction;
        ``clock`` decides when a checkpoint or a ``TRUNCATE`` retry is due.
        """
        self._clock = clock
        self._path = path
        self._wal = f"{path}-wal"
        self._durability: Durability = durability
        self._writer_lock = writer_lock
        self.interval_s = interval_s
        """Shortest time between two checkpoints (tunable while running)."""
        self.restart_bytes = restart_bytes
        """WAL content past which the WAL is made to restart (tunable while running)."""
        self.hard_cap = hard_cap
        """WAL file size past which a ``TRUNCATE`` checkpoint runs (tunable while running)."""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._parked = False  # the thread waits for a commit, with no deadline
        self._page: int | None = None
        self._truncate_at = 0.0  # monotonic time of the next allowed TRUNCATE attempt
        self._truncate_backoff = 0.0
        self.due_at: float | None = None
        """Clock time the next checkpoint waits for, while commits wait for the interval."""
        self._log = get_logger("store.checkpointer", path=str(path))
        self.passive_runs = 0
        """``PASSIVE`` checkpoints run so far (for tests and diagnostics)."""
        self.locked_runs = 0
        """Catch-up checkpoints run under the writer's lock so that the WAL restarts."""
        self.truncate_runs = 0
        """``TRUNCATE`` checkpoints run so far (the WAL file had passed the hard cap)."""

    def start(self) -> None:
        """Start the checkpoint thread (a daemon thread, joined by :meth:`close`)."""
        thread = threading.Thread(
            target=self._run, name=f"checkpointer:{self._path.name}", daemon=True
        )
        thread.start()
        self._thread = thread

    def wal_size(self) -> int:
        """Return the WAL file's size in bytes (0 if it does not exist)."""
        try:
            return os.stat(self._wal).st_size
        except FileNotFoundError:
            return 0

    @property
    def waiting_for_commit(self) -> bool:
        """Whether the thread is parked until the next commit, with no checkpoint pending.

        While this holds, no checkpoint can run until :meth:`after_commit` wakes it (tests
        wait on this instead of sleeping to show that an idle store does no work).
        """
        return self._parked and not self._wake.is_set()

    def after_commit(self) -> None:
        """Tell the thread that the WAL has grown. Cheap (no I/O); never blocks."""
        if not self._wake.is_set():
            self._wake.set()

    def close(self) -> None:
        """Stop the thread after the checkpoint in progress (if any) and join it. Blocking."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        last = float("-inf")
        try:
            while True:
                self._parked = not self._wake.is_set()
                self._wake.wait()
                self._parked = False
                # Pace: at most one checkpoint per interval; close() interrupts the wait.
                due = last + self.interval_s
                left = due - self._clock.monotonic()
                if left > 0:
                    self.due_at = due
                    if self._stop.wait(min(left, RECHECK_S)):
                        return
                    continue
                self.due_at = None
                if self._stop.is_set():
                    return
                self._wake.clear()
                last = self._clock.monotonic()
                try:
                    if conn is None:
                        conn = connect_checkpointer(
                            self._path, self._durability, busy_timeout_ms=TRUNCATE_WAIT_MS
                        )
                    self._checkpoint(conn)
                except sqlite3.Error as exc:  # retried after the next commit; writes go on
                    self._log.warning("wal_checkpoint_failed", error=str(exc))
        finally:
            if conn is not None:
                conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        page = self._page_size(conn)
        _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.passive_runs += 1
        if frames * page > self.restart_bytes and self._catch_up(conn, frames, page):
            with self._writer_lock:  # between two commits: copy the rest, so the WAL restarts
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.locked_runs += 1
        size = self.wal_size()
        if size > self.hard_cap and self._clock.monotonic() >= self._truncate_at:
            self._truncate(conn, size)

    def _truncate(self, conn: sqlite3.Connection, size: int) -> None:
        """Checkpoint everything and truncate the WAL, or back off if readers pin it."""
        if self._stop.is_set():
            return
        busy, frames, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        self.truncate_runs += 1
        if busy:
            self._truncate_backoff = min(
                TRUNCATE_BACKOFF_MAX_S, max(2 * self._truncate_backoff, self.interval_s)
            )
            self._truncate_at = self._clock.monotonic() + self._truncate_backoff
        else:
            self._truncate_backoff = 0.0
        self._log.info("wal_truncate", busy=bool(busy), frames=frames, size=size)

    def _catch_up(self, conn: sqlite3.Connection, frames: int, page: int) -> bool:
        """Run unlocked passes until little is left; whether to run the locked pass now.

        Each pass copies what arrived during the previous one. If writes outpace the
        passes (a bulk apply), the locked pass is left for a later cycle, unless the WAL
        already holds 3/4 of the hard cap (then the writer waits once, rather than let
        it grow to the cap).
        """
        for _ in range(_CATCH_UP_PASSES):
            if self._stop.is_set():
                return False
            _, now, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.passive_runs += 1
            new, frames = now - frames, now
            if new * page <= _LOCKED_PASS_BYTES:
                return True
        return frames * page > self.hard_cap * 3 // 4

    def _page_size(self, conn: sqlite3.Connection) -> int:
        if self._page is None:
            self._page = int(conn.execute("PRAGMA page_size").fetchone()[0])
        return self._page
