"""Capping glibc's malloc arenas: many worker threads share a few heaps (a real process).

Each thread that allocates while others do gets an arena of its own (up to 8 per core),
and an arena keeps the high-water mark of what its thread once had live: the daemon's
worker threads grew its RSS past the wide-plan benchmark's 256 MiB bar. The count is read
from ``malloc_info``, which lists one ``<heap>`` per arena.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="malloc arenas are glibc's"
)

_PROBE = textwrap.dedent(
    """
    import ctypes, ctypes.util, sys, threading
    from edge_actors.store._heap import limit_arenas

    if sys.argv[1] == "limit":
        assert limit_arenas(2), "mallopt refused the cap"
    barrier = threading.Barrier(8)

    def work():
        blocks = [bytearray(4096) for _ in range(500)]  # malloc'd in this thread's arena
        barrier.wait()  # all eight allocate at once
        del blocks

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    out = libc.fopen(sys.argv[2].encode(), b"w")
    libc.malloc_info(0, out)
    libc.fclose(out)
    """
)


def _arenas(tmp_path: Path, mode: str) -> int:
    report = tmp_path / f"malloc-{mode}.xml"
    subprocess.run([sys.executable, "-c", _PROBE, mode, str(report)], check=True, timeout=60)
    return report.read_text().count("<heap nr=")


def test_limit_arenas_caps_the_heaps_of_many_threads(tmp_path: Path) -> None:
    assert _arenas(tmp_path, "limit") <= 2
    assert _arenas(tmp_path, "default") > 2  # what the cap prevents
