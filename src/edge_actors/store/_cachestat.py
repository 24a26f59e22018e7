"""How much of an open file is not yet on disk: Linux's ``cachestat`` (store layer).

Linux 6.5 and later answer, for a file's range, how many of its pages sit in the page
cache dirty or under writeback, without touching them. :mod:`._removal` asks before it
syncs a file it is about to delete: syncing would first write those pages, only for them
to be freed a moment later.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["unsynced_pages"]

_SYS_CACHESTAT = {"x86_64": 451, "aarch64": 451}  # the same number on both


class _Range(ctypes.Structure):
    _fields_ = (("off", ctypes.c_uint64), ("len", ctypes.c_uint64))


class _Stat(ctypes.Structure):
    _fields_ = (
        ("nr_cache", ctypes.c_uint64),
        ("nr_dirty", ctypes.c_uint64),
        ("nr_writeback", ctypes.c_uint64),
        ("nr_evicted", ctypes.c_uint64),
        ("nr_recently_evicted", ctypes.c_uint64),
    )


def _load() -> tuple[ctypes.CDLL, int] | None:
    """The C library and ``cachestat``'s number, or ``None`` off Linux (as
    :func:`._bulk._load_sync_file_range` finds ``sync_file_range``)."""
    number = _SYS_CACHESTAT.get(os.uname().machine)
    if not sys.platform.startswith("linux") or number is None:
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    libc.syscall.restype = ctypes.c_long
    return libc, number


_libc = _load()


def unsynced_pages(fd: int, offset: int = 0, length: int = 0) -> tuple[int, int] | None:
    """``(dirty, under writeback)`` pages of the open file ``fd`` in ``length`` bytes from
    ``offset`` (``length`` 0: to the end), or ``None`` where the kernel has no
    ``cachestat`` (before 6.5, not Linux) or refuses it. The kernel walks the range's
    cached pages: ask for the range you need."""
    if _libc is None:
        return None
    libc, number = _libc
    span, stat = _Range(offset, length), _Stat()
    # a variadic call: every argument with its C type, the number as a long
    args = (ctypes.c_long(number), ctypes.c_int(fd), ctypes.byref(span), ctypes.byref(stat))
    if libc.syscall(*args, ctypes.c_uint(0)) != 0:
        return None
    return int(stat.nr_dirty), int(stat.nr_writeback)
