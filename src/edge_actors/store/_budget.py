"""One file-descriptor and page-cache budget for every SQLite connection of a registry.

Store layer. Each open SQLite connection to a WAL store costs up to three file
descriptors (the database file, its ``-wal`` and its share of the ``-shm``), and its
page cache costs memory. Thousands of stores, each holding a writer and a few readers
open for ever, exhaust ``RLIMIT_NOFILE`` (SQLite then answers "unable to open database
file") and grow the process by tens of MiB per store. :class:`FdBudget` counts the
descriptors of every open connection against one limit and keeps the *idle* ones (open,
not in use) in least-recently-used order: a connection that needs room closes the idle
connections used longest ago, whichever store they belong to; read connections first
(reopening one costs a file open), then writers (reopening one also records it in the
registry's catalog, and closing a file's last connection checkpoints its WAL).

Descriptors are counted per store file as SQLite really uses them (measured): the
first connection to a file opens three (database, ``-wal``, ``-shm``), each further one
two (the ``-shm`` is shared); a connection closed while others to the same file stay
open leaves its database descriptor open (SQLite may not close it while the process
holds POSIX locks on the file) until the next connection to that file reuses it or the
file's last connection closes. :class:`FileFds` keeps those counts for one file.

Blocking and thread-safe: its methods run in the stores' worker threads. Owners never
wait for the budget's lock while an evictor waits for theirs: an evictor only *tries*
an idle connection's owner lock (``detach`` callbacks must not block) and skips a busy
one, so no lock order can deadlock.

Connections idle for longer than ``idle_close_s`` (of the injected clock) are closed by
:meth:`FdBudget.close_idle`, which the registry's checkpoint service calls about once a
second, so a store nobody uses ends up holding no descriptor and no cache at all. The same
call also closes the least recently used idle connections beyond ``max_idle``: each open
SQLite connection costs about 130 KiB besides its page cache (measured: its lookaside
and schema), so a daemon that touched hundreds of stores in the last minute (seeded them,
moved them in one plan) would otherwise hold tens of MiB for connections nobody uses,
whatever the cache budget; with a high ``RLIMIT_NOFILE`` the descriptor budget alone
lets 1,300 connections stay open.

A *warm* writer (its store marked :meth:`~edge_actors.store.WorkloadStore.keep_warm`:
an edge's ``incoming`` copy, whose activation runs inside a cutover's hold) is closed
last. In a wide plan's benchmark the target's 100 active stores, written all the time,
pushed the filled copies waiting for their cutover out of the ``max_idle`` most recent;
20 of 106 activations reopened their store inside the hold, at up to 47 ms.

The page cache is split the same way: :meth:`FdBudget.cache_share_kib` gives each open
connection an equal share of one budget (capped per kind of connection), which the
stores apply with ``PRAGMA cache_size`` whenever they take a connection into use.
"""

from __future__ import annotations

import itertools
import resource
import threading
from collections import OrderedDict
from collections.abc import Callable

from edge_actors.clock import SYSTEM_CLOCK, Clock

from ._errors import StoreError

__all__ = [
    "CONNECTION_FDS",
    "DEFAULT_CACHE_MIB",
    "DEFAULT_IDLE_CLOSE_S",
    "DEFAULT_MAX_IDLE",
    "FD_RESERVE",
    "MAX_DEFAULT_FD_BUDGET",
    "MIN_CACHE_KIB",
    "MIN_FD_BUDGET",
    "Closer",
    "Detach",
    "FdBudget",
    "FileFds",
    "Shrink",
    "default_fd_budget",
]

CONNECTION_FDS = 3
"""Most descriptors one more connection can cost (database file, ``-wal``, ``-shm``)."""

MIN_FD_BUDGET = 8 * CONNECTION_FDS
"""Smallest budget accepted: room for a few stores being used at once."""

MAX_DEFAULT_FD_BUDGET = 4096
"""The default budget never exceeds this, however high ``RLIMIT_NOFILE`` is: beyond it,
keeping more idle connections open only costs memory."""

DEFAULT_CACHE_MIB = 64
"""Default page-cache budget of a registry (all of its connections together)."""

MIN_CACHE_KIB = 64
"""No connection's cache is made smaller than this, however many are open."""

_WAIT_S = 0.05  # longest wait before an evictor tries the idle connections again

DEFAULT_IDLE_CLOSE_S = 60.0
"""Connections idle this long are closed even when the budget has room."""

DEFAULT_MAX_IDLE = 64
"""Idle connections kept open at most (the least recently used beyond it are closed by
the housekeeping): enough for the stores in use at once to keep warm connections."""

Closer = Callable[[], None]
"""Closes one detached connection (runs outside the budget's lock)."""

Detach = Callable[[], Closer | None]
"""Hands an idle connection over for closing, or ``None`` if its owner is busy."""

Shrink = Callable[[int], bool]
"""Sets an idle connection's page cache to the given KiB (never blocks: ``False`` if its
owner is busy, or the connection is no longer idle)."""


class _Idle:
    """An idle connection: how to close or shrink it, its file, since when, its cache."""

    __slots__ = ("cache_kib", "cap_kib", "detach", "file", "parked_at", "shrink", "warm")

    def __init__(
        self,
        detach: Detach,
        file: FileFds,
        parked_at: float,
        shrink: Shrink | None,
        cache_kib: int,
        cap_kib: int,
        warm: bool,
    ) -> None:
        self.detach = detach
        self.file = file
        self.parked_at = parked_at
        self.shrink = shrink
        self.cache_kib = cache_kib
        self.cap_kib = cap_kib
        self.warm = warm


class FileFds:
    """Open connections and left-open descriptors of one store file (budget-owned)."""

    __slots__ = ("lingering", "open")

    def __init__(self) -> None:
        self.open = 0
        self.lingering = 0

    def fds(self) -> int:
        """Descriptors SQLite holds for this file now."""
        if self.open == 0:
            return 0
        return 1 + 2 * self.open + self.lingering

    def open_cost(self) -> int:
        """Descriptors one more connection to this file adds."""
        if self.open == 0:
            return CONNECTION_FDS
        return 1 if self.lingering else 2


FD_RESERVE = 128
"""Descriptors the default budget leaves aside beyond half the limit (outgoing peer
connections, the journal, the routing file, logs)."""


def default_fd_budget() -> int:
    """Return the default descriptor budget: half the soft ``RLIMIT_NOFILE`` less a reserve.

    The other half stays for client sockets (the daemon's own connection cap is 512 by
    default) and :data:`FD_RESERVE` more for everything else. A soft limit of 1,024
    gives 384 (about 128 open connections, far more than the 16 store I/O threads can
    use at once); the budget never exceeds :data:`MAX_DEFAULT_FD_BUDGET`.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return MAX_DEFAULT_FD_BUDGET
    return max(MIN_FD_BUDGET, min(MAX_DEFAULT_FD_BUDGET, soft // 2 - FD_RESERVE))


class FdBudget:
    """Descriptors of open connections against one limit, idle ones closed LRU first.

    Args:
        max_fds: The most descriptors open connections may hold together
            (at least :data:`MIN_FD_BUDGET`).
        cache_kib: The page-cache budget of all connections together, in KiB.
        idle_close_s: :meth:`close_idle` closes connections idle longer than this;
            ``None``: only to make room.
        max_idle: :meth:`close_idle` closes the least recently used idle connections
            beyond this many (``None``: no limit but the descriptors).
        clock: Decides how long a connection has been idle.
        on_first_park: Called once, when the first connection is parked (starts the
            thread that runs :meth:`close_idle`).

    Raises:
        StoreError: A limit is below its minimum.
    """

    def __init__(
        self,
        max_fds: int,
        cache_kib: int,
        *,
        idle_close_s: float | None = DEFAULT_IDLE_CLOSE_S,
        max_idle: int | None = DEFAULT_MAX_IDLE,
        clock: Clock = SYSTEM_CLOCK,
        on_first_park: Callable[[], None] | None = None,
    ) -> None:
        if max_idle is not None and max_idle < 0:
            raise StoreError(f"max_idle must be >= 0, got {max_idle}")
        if max_fds < MIN_FD_BUDGET:
            raise StoreError(f"fd budget must be >= {MIN_FD_BUDGET}, got {max_fds}")
        if cache_kib < MIN_CACHE_KIB:
            raise StoreError(f"cache budget must be >= {MIN_CACHE_KIB} KiB, got {cache_kib}")
        self.max_fds = max_fds
        self.cache_kib = cache_kib
        self._cond = threading.Condition()
        self._used = 0
        self._open = 0
        # least recently parked first
        self._idle_readers: OrderedDict[int, _Idle] = OrderedDict()
        self._idle_writers: OrderedDict[int, _Idle] = OrderedDict()
        self._keys = itertools.count(1)
        self.idle_close_s = idle_close_s
        self.max_idle = max_idle
        self._clock = clock
        self._on_first_park = on_first_park
        self.evictions = 0
        """Idle connections closed to make room (for tests and diagnostics)."""

    @property
    def used_fds(self) -> int:
        """Descriptors counted for the connections open now."""
        return self._used

    @property
    def open_connections(self) -> int:
        """Connections open now (in use or idle)."""
        return self._open

    @property
    def idle_connections(self) -> int:
        """Open connections not in use (candidates to close)."""
        return len(self._idle_readers) + len(self._idle_writers)

    def new_key(self) -> int:
        """Return a key, unique in this budget, naming one connection while it is open."""
        return next(self._keys)

    def reserve(self, file: FileFds) -> None:
        """Count one more connection to ``file``, closing idle ones (LRU) while needed.

        Blocks while the connections holding the budget are all in use, until one is
        released or parked (a bounded number of workers hold connections, so that is
        short).
        """
        self._reserve(file, wait=True)

    def try_reserve(self, file: FileFds) -> bool:
        """Like :meth:`reserve` but never waits: ``False`` when no room can be made now."""
        return self._reserve(file, wait=False)

    def release(self, file: FileFds) -> None:
        """Uncount one connection to ``file`` that was closed (or failed to open)."""
        with self._cond:
            before = file.fds()
            file.open -= 1
            if file.open == 0:
                file.lingering = 0  # the last close closes every descriptor of the file
            else:
                file.lingering += 1
            self._used -= before - file.fds()
            self._open -= 1
            self._cond.notify_all()

    def _reserve(self, file: FileFds, *, wait: bool) -> bool:
        while True:
            with self._cond:
                cost = file.open_cost()
                if self._used + cost <= self.max_fds:
                    self._used += cost
                    self._open += 1
                    if file.open and file.lingering:
                        file.lingering -= 1  # SQLite reuses a left-open descriptor
                    file.open += 1
                    return True
                victim = self._detach_lru()
                if victim is None:
                    if not wait:
                        return False
                    self._cond.wait(_WAIT_S)
                    continue
                self.evictions += 1
            close, victim_file = victim
            try:
                close()
            finally:
                self.release(victim_file)

    def park(
        self,
        key: int,
        detach: Detach,
        file: FileFds,
        *,
        writer: bool = False,
        shrink: Shrink | None = None,
        cache_kib: int = 0,
        cap_kib: int = 0,
        warm: bool = False,
    ) -> None:
        """Mark connection ``key`` idle: the most recently used one, closable from now on.

        Idle writers (``writer``) are closed only when no idle reader can be. With
        ``shrink``, :meth:`housekeep` lowers the connection's cache (``cache_kib`` now,
        at most ``cap_kib``) to its share while it stays idle. A ``warm`` writer (a store
        about to be used at a moment that cannot wait for a reopen) is closed last: never
        for being idle long, and for room only when no other idle connection can be.

        ``detach`` is called with the budget's lock held when the connection is chosen to
        be closed. It must not block: it tries its owner's lock, and either hands the
        connection over (removes it from its owner and returns a function that closes
        it) or returns ``None`` when the owner is using it right now.
        """
        idle = self._idle_writers if writer else self._idle_readers
        with self._cond:
            idle.pop(key, None)
            idle[key] = _Idle(
                detach, file, self._clock.monotonic(), shrink, cache_kib, cap_kib, warm and writer
            )
            self._cond.notify_all()
            hook, self._on_first_park = self._on_first_park, None
        if hook is not None:
            hook()

    def unpark(self, key: int) -> bool:
        """Take idle connection ``key`` back into use; ``False`` if it is not idle."""
        with self._cond:
            if self._idle_readers.pop(key, None) is not None:
                return True
            return self._idle_writers.pop(key, None) is not None

    def cache_share_kib(self, cap_kib: int) -> int:
        """Return the page cache one connection may use now: an equal share, capped.

        Rounded down to a power of two so that shares change rarely as connections come
        and go (each change costs a ``PRAGMA cache_size``).
        """
        share = self.cache_kib // max(1, self._open)
        share = max(MIN_CACHE_KIB, min(cap_kib, share))
        return 1 << (share.bit_length() - 1)

    def housekeep(self) -> None:
        """Close long-idle connections, then shrink idle caches above their share.

        Run about once a second by a checkpoint thread. Blocking.
        """
        self.close_idle()
        self.shrink_idle()

    def shrink_idle(self) -> int:
        """Lower the cache of each idle connection above its current share; return how many.

        Connections that were idle while more connections opened keep the larger share
        they were given; this brings the total back to the budget. Blocking (each
        shrink is one ``PRAGMA`` on that connection, under its owner's lock).
        """
        with self._cond:
            todo = [
                (entry, self.cache_share_kib(entry.cap_kib))
                for idle in (self._idle_readers, self._idle_writers)
                for entry in idle.values()
                if entry.shrink is not None
                and entry.cache_kib > self.cache_share_kib(entry.cap_kib)
            ]
        done = 0
        for entry, share in todo:
            assert entry.shrink is not None
            if entry.shrink(share):
                entry.cache_kib = share
                done += 1
        return done

    def close_idle(self) -> int:
        """Close every connection idle longer than ``idle_close_s`` (warm writers
        excepted), then the least recently used idle ones beyond ``max_idle`` (readers
        first, warm writers last); return how many.

        Blocking (closing a file's last connection checkpoints its WAL); for a worker
        thread. Connections whose owner is busy at that moment are left for next time.
        """
        victims: list[tuple[Closer, FileFds]] = []
        with self._cond:
            if self.idle_close_s is not None:
                cutoff = self._clock.monotonic() - self.idle_close_s
                for idle in (self._idle_readers, self._idle_writers):
                    for key, entry in list(idle.items()):
                        if entry.parked_at > cutoff:
                            break  # parked in order: the rest are younger
                        if entry.warm:
                            continue
                        close = entry.detach()
                        if close is not None:
                            del idle[key]
                            victims.append((close, entry.file))
            excess = 0 if self.max_idle is None else self.idle_connections - self.max_idle
            while excess > 0:
                victim = self._detach_lru()
                if victim is None:
                    break  # the rest are busy right now: next time
                victims.append(victim)
                excess -= 1
        for close, file in victims:
            try:
                close()
            finally:
                self.release(file)
        return len(victims)

    def _detach_lru(self) -> tuple[Closer, FileFds] | None:
        """Detach the least recently used idle connection whose owner is not busy:
        a reader, else a writer, else a warm writer."""
        for idle, warm in (
            (self._idle_readers, False),
            (self._idle_writers, False),
            (self._idle_writers, True),
        ):
            for key, entry in list(idle.items()):
                if entry.warm != warm:
                    continue
                close = entry.detach()
                if close is not None:
                    del idle[key]
                    return close, entry.file
        return None
