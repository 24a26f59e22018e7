"""Background WAL checkpoints of one workload store, off the commit path (store layer).

SQLite's automatic checkpoint runs inside the ``COMMIT`` that pushes the WAL past its
limit, so that one commit (and every caller of its group commit) waits while tens of
MiB are copied into the database file and fsynced; with ``journal_size_limit`` the
commit that restarts the WAL also truncates the file (another 10-20 ms measured). The
writer therefore runs with ``wal_autocheckpoint = 0`` and no size limit, and this
checkpointer does the work off the commit path, on one of the store's read connections:

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

Threads: one :class:`CheckpointService` (a few threads, :data:`DEFAULT_THREADS` by
default) serves every store of a registry; a store's :class:`Checkpointer` is only its
state (when it last ran, whether a commit is waiting, counters). An idle store costs no
thread and no connection: its checkpointer is just not in the service's set of stores
with commits waiting. A checkpoint borrows one of the store's pooled read connections
(same ``synchronous`` level as the writer) without waiting for the descriptor budget; if
none can be had right now, it is tried again later. A store whose connections were all
closed meanwhile has no WAL left (SQLite checkpoints it at the last close): it is skipped
without opening anything, so a burst of writes to thousands of stores does not turn into
thousands of reopened connections.

Interval and back-off decisions read an injected :class:`~edge_actors.clock.Clock`'s
monotonic time (a test's ``ManualClock`` decides when the next checkpoint is due). A
thread cannot await the clock's sleep, so while a checkpoint is not yet due the service
waits on real time in slices of at most :data:`RECHECK_S` and decides again.

Python's ``sqlite3`` has no WAL hook, so the WAL is sized from each checkpoint's own
report (frames x page size) and the file's size, and a fixed cadence bounds the WAL
between two checkpoints to one interval of writes.

A store's checkpointer is registered with the service by the store's
:class:`~edge_actors.store._writer.WriteSide` and removed by :meth:`Checkpointer.close`
(which waits for a checkpoint in progress). A checkpoint changes no content, so
durability is that of the commits: the connection uses the writer's ``synchronous``
level (the WAL is synced before it is copied, the database file after), and a crash in
the middle of a checkpoint is recovered by SQLite.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import TYPE_CHECKING

from edge_actors._log import get_logger
from edge_actors.clock import SYSTEM_CLOCK, Clock

from ._schema import WAL_HARD_CAP, WAL_RESTART_BYTES

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager
    from pathlib import Path

__all__ = [
    "CHECKPOINT_INTERVAL_S",
    "DEFAULT_THREADS",
    "HOUSEKEEPING_S",
    "RECHECK_S",
    "TRUNCATE_BACKOFF_MAX_S",
    "TRUNCATE_WAIT_MS",
    "CheckpointService",
    "Checkpointer",
]

CHECKPOINT_INTERVAL_S = 0.25
"""Shortest time between two background checkpoints while commits keep coming."""

RECHECK_S = 0.05
"""Longest real-time wait before the service asks its clock again whether a checkpoint is due."""

TRUNCATE_WAIT_MS = 100
"""How long a ``TRUNCATE`` checkpoint waits for readers (the writer waits meanwhile)."""

TRUNCATE_BACKOFF_MAX_S = 5.0
"""Longest pause between two ``TRUNCATE`` attempts that readers kept busy."""

DEFAULT_THREADS = 2
"""Threads of a :class:`CheckpointService` unless told otherwise."""

HOUSEKEEPING_S = 1.0
"""How often (real time: pacing only) a service thread runs its housekeeping job; what the
job does is decided by the injected clock (which connections have been idle long enough)."""

_CATCH_UP_PASSES = 4  # unlocked passes at most before the locked one
_LOCKED_PASS_BYTES = 1024 * 1024  # WAL left for the locked pass once caught up


class CheckpointService:
    """A few threads that run the WAL checkpoints of every store that had commits.

    Args:
        threads: How many checkpoints may run at once (at least 1).
        clock: Decides when each store's next checkpoint is due.
        name: Prefix of the threads' names.
        housekeeping: Run by one thread about every :data:`HOUSEKEEPING_S` (the budget's
            closing of long-idle connections); errors are logged, never raised.
    """

    def __init__(
        self,
        threads: int = DEFAULT_THREADS,
        *,
        clock: Clock = SYSTEM_CLOCK,
        name: str = "store",
        housekeeping: Callable[[], object] | None = None,
    ) -> None:
        self.clock = clock
        self._housekeeping = housekeeping
        self._next_housekeeping = 0.0  # time.monotonic() of the next run
        self._housekeeper = False  # a thread runs the housekeeping job now
        self._log = get_logger("store.checkpoints")
        self._size = max(1, threads)
        self._name = name
        self._cond = threading.Condition()
        self._waiting: set[Checkpointer] = set()  # stores with commits not checkpointed yet
        self._threads: list[threading.Thread] = []
        self._stopping = False

    @property
    def thread_names(self) -> list[str]:
        """Names of the service's threads (started on the first commit)."""
        return [t.name for t in self._threads]

    def set_housekeeping(self, job: Callable[[], object]) -> None:
        """Set the job one thread runs about every :data:`HOUSEKEEPING_S`."""
        with self._cond:
            self._housekeeping = job

    def ensure_running(self) -> None:
        """Start a thread if none runs yet (housekeeping must run even without commits)."""
        with self._cond:
            if not self._threads and not self._stopping:
                self._start_thread()

    def notify(self, cp: Checkpointer) -> None:
        """Put ``cp`` in the set of stores with commits waiting. Cheap; never blocks long."""
        with self._cond:
            if self._stopping:
                return
            cp.woken = True
            self._waiting.add(cp)
            if len(self._threads) < self._size:
                self._start_thread()
            self._cond.notify()

    def remove(self, cp: Checkpointer) -> None:
        """Forget ``cp``, after the checkpoint it is running (if any) has finished."""
        with self._cond:
            self._waiting.discard(cp)
            cp.woken = False
            while cp.running:
                self._cond.wait()

    def close(self) -> None:
        """Stop and join every thread after the checkpoints in progress. Blocking."""
        with self._cond:
            self._stopping = True
            self._waiting.clear()
            self._cond.notify_all()
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join()

    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=self._run, name=f"{self._name}-checkpoints-{len(self._threads)}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                cp = self._next_due()
                while cp is None:
                    if self._stopping:
                        return
                    if self._housekeeping_due():
                        break
                    self._cond.wait(RECHECK_S if self._waiting else HOUSEKEEPING_S)
                    cp = self._next_due()
                if cp is None:
                    self._housekeeper = True
                else:
                    cp.running = True
                    cp.woken = False
                    self._waiting.discard(cp)
            if cp is None:
                self._run_housekeeping()
                continue
            try:
                if not cp.run_once():
                    self.notify(cp)  # no connection could be had: try again later
            finally:
                with self._cond:
                    cp.running = False
                    self._cond.notify_all()

    def _housekeeping_due(self) -> bool:
        return (
            self._housekeeping is not None
            and not self._housekeeper
            and time.monotonic() >= self._next_housekeeping
        )

    def _run_housekeeping(self) -> None:
        try:
            if self._housekeeping is not None:
                self._housekeeping()
        except Exception as exc:  # a worker thread: no cancellation can arrive here
            self._log.warning("store_housekeeping_failed", error=str(exc))
        finally:
            with self._cond:
                self._housekeeper = False
                self._next_housekeeping = time.monotonic() + HOUSEKEEPING_S

    def _next_due(self) -> Checkpointer | None:
        """The first store whose interval has passed; sets ``due_at`` on the others."""
        if self._stopping:
            return None
        now = self.clock.monotonic()
        for cp in self._waiting:
            if cp.running:
                continue
            due = cp.last_run + cp.interval_s
            if due <= now:
                cp.due_at = None
                return cp
            cp.due_at = due
        return None


class Checkpointer:
    """The checkpoint state of one store file, run by a shared :class:`CheckpointService`."""

    def __init__(
        self,
        path: Path,
        *,
        service: CheckpointService,
        lease: Callable[[], AbstractContextManager[sqlite3.Connection | None]],
        writer_lock: threading.Lock,
        interval_s: float = CHECKPOINT_INTERVAL_S,
        restart_bytes: int = WAL_RESTART_BYTES,
        hard_cap: int = WAL_HARD_CAP,
    ) -> None:
        """Prepare the checkpointer of the store file at ``path``.

        ``lease`` lends one of the store's read connections without waiting (``None``
        when none can be had now); ``writer_lock`` is held by the write side around each
        write transaction.
        """
        self._service = service
        self._clock = service.clock
        self._path = path
        self._wal = f"{path}-wal"
        self._lease = lease
        self._writer_lock = writer_lock
        self.interval_s = interval_s
        """Shortest time between two checkpoints (tunable while running)."""
        self.restart_bytes = restart_bytes
        """WAL content past which the WAL is made to restart (tunable while running)."""
        self.hard_cap = hard_cap
        """WAL file size past which a ``TRUNCATE`` checkpoint runs (tunable while running)."""
        self.woken = False  # a commit is waiting for a checkpoint (owned by the service)
        self.running = False  # a service thread runs this one now (owned by the service)
        self.last_run = float("-inf")
        self._page: int | None = None
        self._truncate_at = 0.0  # monotonic time of the next allowed TRUNCATE attempt
        self._truncate_backoff = 0.0
        self._closed = False
        self.due_at: float | None = None
        """Clock time the next checkpoint waits for, while commits wait for the interval."""
        self._log = get_logger("store.checkpointer", path=str(path))
        self.passive_runs = 0
        """``PASSIVE`` checkpoints run so far (for tests and diagnostics)."""
        self.locked_runs = 0
        """Catch-up checkpoints run under the writer's lock so that the WAL restarts."""
        self.truncate_runs = 0
        """``TRUNCATE`` checkpoints run so far (the WAL file had passed the hard cap)."""

    def wal_size(self) -> int:
        """Return the WAL file's size in bytes (0 if it does not exist)."""
        try:
            return os.stat(self._wal).st_size
        except FileNotFoundError:
            return 0

    @property
    def waiting_for_commit(self) -> bool:
        """Whether no checkpoint is running or pending until the next commit.

        While this holds, no checkpoint can run until :meth:`after_commit` wakes it (tests
        wait on this instead of sleeping to show that an idle store does no work).
        """
        return not self.woken and not self.running

    def after_commit(self) -> None:
        """Tell the service that the WAL has grown. Cheap (no I/O); never blocks long."""
        if not self.woken and not self._closed:
            self._service.notify(self)

    def close(self) -> None:
        """Stop checkpointing, after the checkpoint in progress (if any). Blocking."""
        self._closed = True
        self._service.remove(self)

    def run_once(self) -> bool:
        """Run one checkpoint cycle (called by the service); ``False`` if it could not start."""
        if self._closed:
            return True
        self.last_run = self._clock.monotonic()
        if self.wal_size() == 0:
            # The file's last connection closed (the budget closed an idle store) and
            # SQLite checkpointed and removed the WAL: nothing to copy, no connection to open.
            return True
        try:
            with self._lease() as conn:
                if conn is None:
                    return False
                self._checkpoint(conn)
        except sqlite3.Error as exc:  # retried after the next commit; writes go on
            self._log.warning("wal_checkpoint_failed", error=str(exc))
        return True

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
        if self._closed:
            return
        (timeout,) = conn.execute("PRAGMA busy_timeout").fetchone()
        conn.execute(f"PRAGMA busy_timeout = {TRUNCATE_WAIT_MS}")
        try:
            busy, frames, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout)}")
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
            if self._closed:
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
