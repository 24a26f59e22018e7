"""Files created owner-only (0600) whatever the process umask (lowest layer).

The ``edge-actors daemon`` command sets a 0o077 umask, but an edge embedded in a user's
program (``LocalRuntime``) must not change its host's umask, so every data file is created
0600 here. SQLite gives a database's ``-wal`` and ``-shm`` files the mode of the database
file itself, so creating the database file first is enough for all three.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["PRIVATE_FILE_MODE", "create_private", "make_private_dir", "open_private"]

PRIVATE_FILE_MODE = 0o600


def create_private(path: Path) -> None:
    """Create ``path`` empty and 0600 if it does not exist (an existing file is untouched)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    os.fchmod(fd, PRIVATE_FILE_MODE)  # the umask may have taken bits away, never added
    os.close(fd)


def open_private(path: Path) -> int:
    """Open ``path`` for writing, truncated, 0600 from creation; returns the descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    os.fchmod(fd, PRIVATE_FILE_MODE)
    return fd


def make_private_dir(path: Path) -> None:
    """Create directory ``path`` (and missing parents) owner-only (0700) if it is missing."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
