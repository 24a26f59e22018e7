"""An edge's state files in tests: read what is on disk, make its writes fail for real."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_actors.edge._edge_state import STATE_FILE
from edge_actors.edge._state_file import read_state_file
from edge_actors.edge._state_log import read_state_log

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

_LOGGED_TABLES = {STATE_FILE: ("routes", "epochs")}
"""The state files written with a log of changes beside them, and their tables."""


def on_disk(path: Path) -> Any:
    """The newest state ``path`` holds, decoded from JSON (``None``: no file yet); for the
    edge's state log (``edge.state``), its tables with the log's changes applied."""
    tables = _LOGGED_TABLES.get(path.name)
    if tables is None:
        return read_state_file(path, object, "state file")
    return read_state_log(path, tables, "state file")


def edge_state(data_dir: Path | str) -> dict[str, dict[str, Any]]:
    """The routes and epochs an edge has on disk: ``{"routes": ..., "epochs": ...}``
    (empty tables before its first change)."""
    state = on_disk(Path(data_dir) / STATE_FILE)
    return {"routes": {}, "epochs": {}} if state is None else state


class PowerLoss:
    """Whether a write was cut while :func:`power_lost_after` was in force."""

    def __init__(self) -> None:
        self.cut = False


@contextmanager
def power_lost_after(cut: int) -> Iterator[PowerLoss]:
    """While the block runs, a ``pwrite`` longer than ``cut`` bytes writes only the first
    ``cut`` and raises ``OSError`` (the power went out in the middle of it); shorter
    writes go through whole."""
    real_pwrite = os.pwrite
    loss = PowerLoss()

    def torn_pwrite(fd: int, data: bytes, offset: int) -> int:
        if cut >= len(data):
            return real_pwrite(fd, data, offset)
        loss.cut = True
        real_pwrite(fd, bytes(data)[:cut], offset)
        raise OSError("power lost")

    os.pwrite = torn_pwrite  # type: ignore[assignment]
    try:
        yield loss
    finally:
        os.pwrite = real_pwrite  # type: ignore[assignment]


def kill_writer_after(script: str, path: Path, lines: int) -> int:
    """Run ``script`` (Python, given ``path``) in a subprocess that prints a number after
    each durable write; ``kill -9`` it once it has printed ``lines`` of them. Returns the
    last number it printed (what it acknowledged)."""
    with subprocess.Popen(
        [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True
    ) as writer:
        assert writer.stdout is not None
        acknowledged = 0
        for _ in range(lines):
            acknowledged = int(writer.stdout.readline())
        writer.kill()
    return acknowledged


def write_with_power_loss(write: Callable[[], object], cut: int) -> bool:
    """Run ``write`` under :func:`power_lost_after` ``(cut)``; whether it was whole (it
    raised exactly when one of its writes was cut)."""
    lost: OSError | None = None
    with power_lost_after(cut) as loss:
        try:
            write()
        except OSError as exc:
            lost = exc
    assert (lost is None) == (not loss.cut), lost
    return not loss.cut


@contextmanager
def _blocked(path: Path) -> Iterator[None]:
    """A directory takes the name ``path`` while the block runs (the file kept aside)."""
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


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """Make every write of the state file ``path`` fail with a real OS error while the
    block runs: a directory takes its name, and its log's (the files are put back after)."""
    with ExitStack() as stack:
        stack.enter_context(_blocked(path))
        stack.enter_context(_blocked(path.with_suffix(".log")))  # a state log's, if any
        yield
