"""An edge's state files in tests: read what is on disk, make its writes fail for real."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from edge_actors.edge._state_file import read_state_file

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def on_disk(path: Path) -> Any:
    """The newest state ``path`` holds, decoded from JSON (``None``: no file yet)."""
    return read_state_file(path, object, "state file")


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """Make every write of the state file ``path`` fail with a real OS error while the
    block runs: a directory takes its name (the file is kept aside and put back after)."""
    aside = path.with_name(path.name + ".aside")
    had = path.exists()
    if had:
        path.rename(aside)
    path.mkdir()
    try:
        yield
    finally:
        path.rmdir()
        if had:
            aside.rename(path)
