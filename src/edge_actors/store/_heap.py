"""Giving the C heap's free memory back to the system, and capping its arenas (store layer).

Measured on the wide-plan benchmark (100 x 10 MB workloads moved in one plan): at its
end the source daemon's RSS was 235 MiB, of which 216 MiB anonymous, and one
``malloc_trim(0)`` took it to 86 MiB (the target: 185 to 121 MiB). The memory was not
in use: it was free space kept by glibc's per-thread malloc arenas. Store reads and
writes run in worker threads, each of which gets its own arena; the records they read
(values over 512 bytes are not Python's small-object allocator's) and SQLite's page
caches are allocated there and freed later, often by another thread, and an arena only
gives memory back when its topmost chunk is free. Each arena therefore keeps the
high-water mark of what its thread once had live, and a daemon that copies thousands of
stores grows to the sum of those marks.

:class:`HeapTrimmer` calls glibc's ``malloc_trim(0)`` (which also releases the free
pages in the middle of every arena) when the process's anonymous memory has grown by
:data:`TRIM_GROWTH_BYTES` since the last trim, at most once per ``min_interval_s``. The
store registry's housekeeping thread calls :meth:`HeapTrimmer.maybe_trim` about once a
second, so an idle daemon never trims and a busy one keeps at most about one interval's
worth of free memory. Where ``malloc_trim`` does not exist (musl, macOS) it does nothing
and says so (:attr:`HeapTrimmer.available`).

Cost: a trim locks each arena in turn while it returns that arena's free pages (a thread
allocating there waits). Measured: 38 ms to release 296 MiB spread over 8 arenas, 4 ms
when there was nothing to release; so frequent trims of ~16 MiB each stall far less than
rare large ones would.

Thread-safe: a lock serializes trims; the counters are written under it.

Fewer arenas. A trim returns free memory; it cannot stop sixteen arenas from each
growing to their thread's high-water mark between trims. :func:`limit_arenas` caps the
arenas of a daemon process (glibc's ``M_ARENA_MAX``), so its worker threads share a few
heaps. Measured on the same benchmark (the source daemon's peak RSS in the wide plan,
session 7): 188-234 MiB over 23 runs with two arenas, against 209-265 MiB over 8 runs
with glibc's default, CPU seconds within the runs' spread. The store threads spend most
of their time in SQLite and waiting for the GIL, so two heaps are rarely contended.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from edge_actors.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "DAEMON_ARENAS",
    "TRIM_GROWTH_BYTES",
    "TRIM_INTERVAL_S",
    "HeapTrimmer",
    "anonymous_bytes",
    "limit_arenas",
]

TRIM_GROWTH_BYTES = 16 * 2**20
"""Growth of anonymous memory since the last trim that makes the next one due."""

TRIM_INTERVAL_S = 1.0
"""Shortest time between two trims by default (a trim walks every arena: a few ms)."""

DAEMON_ARENAS = 2
"""Malloc arenas a daemon process keeps at most (:func:`limit_arenas`)."""

_M_ARENA_MAX = -8  # glibc's mallopt parameter number

_STATM = Path("/proc/self/statm")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def anonymous_bytes() -> int | None:
    """Resident anonymous memory of this process (``/proc/self/statm``: resident less
    shared), or ``None`` where the file does not exist."""
    try:
        fields = _STATM.read_text().split()
    except OSError:
        return None
    return (int(fields[1]) - int(fields[2])) * _PAGE


def limit_arenas(count: int = DAEMON_ARENAS) -> bool:
    """Cap glibc's malloc arenas of this process at ``count``; whether it took effect.

    Call it early, before worker threads start (a thread keeps the arena it first got).
    Nothing happens, and ``False`` is returned, where the C library has no ``mallopt``.
    """
    mallopt = _libc_function("mallopt", [ctypes.c_int, ctypes.c_int])
    return mallopt is not None and mallopt(_M_ARENA_MAX, count) == 1


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` where the C library has none."""
    return _libc_function("malloc_trim", [ctypes.c_size_t])


def _libc_function(
    name: str, argtypes: list[type[ctypes.c_int | ctypes.c_size_t]]
) -> Callable[..., int] | None:
    """The C library's function ``name`` returning an ``int``, or ``None`` if missing."""
    library = ctypes.util.find_library("c")
    if library is None:
        return None
    try:
        func = getattr(ctypes.CDLL(library), name)
    except (OSError, AttributeError):
        return None
    func.argtypes = argtypes
    func.restype = ctypes.c_int
    found: Callable[..., int] = func
    return found


class HeapTrimmer:
    """Trims the C heap when the process's anonymous memory grew (see the module doc).

    Args:
        growth_bytes: Anonymous-memory growth since the last trim that makes a trim due.
        min_interval_s: Shortest time between two trims (of ``clock``).
        clock: Decides when the interval has passed.

    Attributes:
        trims: Trims run so far.
        released_bytes: Anonymous memory the trims gave back, summed (each measured as
            the drop of :func:`anonymous_bytes` across the call).
    """

    def __init__(
        self,
        *,
        growth_bytes: int = TRIM_GROWTH_BYTES,
        min_interval_s: float = TRIM_INTERVAL_S,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._trim = _malloc_trim()
        self._growth = growth_bytes
        self._interval = min_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._next_at = 0.0
        self._baseline = anonymous_bytes() or 0
        self.trims = 0
        self.released_bytes = 0

    @property
    def available(self) -> bool:
        """Whether this platform can trim (glibc's ``malloc_trim`` and ``/proc``)."""
        return self._trim is not None and anonymous_bytes() is not None

    def maybe_trim(self) -> bool:
        """Trim if memory grew by ``growth_bytes`` since the last trim and the interval
        has passed; return whether it trimmed. Blocking (a few ms): for a worker thread."""
        if self._trim is None:
            return False
        with self._lock:
            now = self._clock.monotonic()
            before = anonymous_bytes()
            if before is None or now < self._next_at or before - self._baseline < self._growth:
                return False
            self._trim(0)
            after = anonymous_bytes() or before
            self._next_at = now + self._interval
            self._baseline = after
            self.trims += 1
            self.released_bytes += max(0, before - after)
            return True
