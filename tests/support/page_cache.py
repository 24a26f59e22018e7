"""How much of a file sits in the kernel's page cache (tests of the stores' page-cache drops)."""

from __future__ import annotations

import ctypes
import mmap
import os
from typing import TYPE_CHECKING

from edge_actors.store._cachestat import unsynced_pages

if TYPE_CHECKING:
    from pathlib import Path


def cached_pages(path: Path) -> tuple[int, int]:
    """``(pages in the page cache, pages)`` of the file at ``path`` (Linux ``mincore`` of a
    read-only mapping, which reads nothing in)."""
    size = path.stat().st_size
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long
    )  # fmt: skip
    libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p)
    libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    fd = os.open(path, os.O_RDONLY)
    try:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap failed")
        try:
            vector = ctypes.create_string_buffer(pages)
            if libc.mincore(address, size, vector) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed")
        finally:
            libc.munmap(address, size)
    finally:
        os.close(fd)
    return sum(byte & 1 for byte in vector.raw[:pages]), pages


def dirty_pages(fd: int) -> int | None:
    """Pages of the open file ``fd`` that are dirty in the page cache (Linux 6.5+
    ``cachestat``), or ``None`` where the call is missing."""
    pages = unsynced_pages(fd)
    return None if pages is None else pages[0]
