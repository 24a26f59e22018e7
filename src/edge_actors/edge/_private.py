"""Private at rest: the daemon's data directory is 0700, its files 0600 (edge layer).

:func:`prepare_data_dir` creates the data directory owner-only (``mkdir`` under a 0o077
umask, so there is no moment it is readable by others), tightens it to 0700 if it
already existed looser, and lists every file or directory below it that another user
could read, so the daemon logs a warning naming each. Files inside a 0700 directory are
unreachable by other users whatever their own mode; the ``edge-actors daemon`` command
also sets the process umask to 0o077 (:func:`private_umask`) so every store, journal and
routing file it creates is 0600 from its first byte. :func:`write_private` writes a
secret (a minted token) that is 0600 from creation.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["PRIVATE_UMASK", "prepare_data_dir", "private_umask", "write_private"]

PRIVATE_UMASK = 0o077
"""Umask of a daemon process: new directories 0700, new files 0600."""


def private_umask() -> int:
    """Set the process umask to :data:`PRIVATE_UMASK`; return the previous one."""
    return os.umask(PRIVATE_UMASK)


def prepare_data_dir(path: Path, *, scan_limit: int = 100_000) -> list[tuple[str, str]]:
    """Create ``path`` as 0700 (or tighten it to 0700); return what others can read.

    Args:
        path: The data directory.
        scan_limit: Most entries examined (a huge tree is not walked for ever).

    Returns:
        ``(path, mode)`` of each entry below ``path`` with group or other permissions, and
        of ``path`` itself when it is not ours to tighten (another owner, sticky bit).
    """
    if not path.exists():
        previous = os.umask(PRIVATE_UMASK)
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        finally:
            os.umask(previous)
    loose: list[tuple[str, str]] = []
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        # Never tighten a shared directory (sticky /tmp) or one another user owns: warn.
        if info.st_uid == os.getuid() and not mode & stat.S_ISVTX:
            path.chmod(0o700)
        else:
            loose.append((str(path), oct(mode)))
    seen = 0
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            seen += 1
            if seen > scan_limit:
                return loose
            entry = Path(root) / name
            try:
                mode = stat.S_IMODE(entry.lstat().st_mode)
            except OSError:
                continue  # removed meanwhile
            if mode & 0o077:
                loose.append((str(entry), oct(mode)))
    return loose


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, created 0600 (replacing any previous file)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
