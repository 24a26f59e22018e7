"""What a script's unfinished migrations become when it exits (layer: runtime).

The engine runs migrations on a background loop, so a script can start one and reach
its end while it still moves data. At interpreter exit the environment therefore:

1. **waits** for the migrations that are running or queued, saying so on stderr with
   their progress (Ctrl-C stops the wait; nothing is lost, see 2); a migration waiting
   for its time window is not waited for (it may be hours away);
2. **keeps** every migration that did not end (planned, paused, failed, waiting,
   interrupted): their journal and the embedded edges' stores stay in the data directory
   (a temporary one is then *not* removed) and stderr says where, and how each one
   continues: a workflow run with ``EDGE_ACTORS_DATA_DIR`` set to that directory sees
   them again, and running ones resume from their last checkpoint on their own.

Nothing is dropped silently. These lines go straight to stderr (not through logging):
they are the program's last words to its user, whatever the log configuration.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import anyio

from edge_actors._log import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from edge_actors.migration import MigrationProgress, MigrationService, MigrationStatus

    from ._engine import Engine

__all__ = ["ENDED", "WAITED", "ExitWatch", "keep_unfinished", "wait_for_running", "write_stderr"]

WAITED = frozenset(
    ("queued", "planning", "pre_sync", "sync", "cutover", "validation", "cleanup", "rolling_back")
)
"""States of a migration that moves on by itself: exit waits for these."""

ENDED = frozenset(("completed", "rolled_back", "cancelled"))
"""States nothing can change any more: nothing to keep."""

_WINDOW = "waiting for time window"
_PREFIX = "edge-actors:"

_log = get_logger("exit")


def write_stderr(line: str) -> None:
    """Write one line to stderr and flush it (the default writer)."""
    sys.stderr.write(f"{line}\n")
    sys.stderr.flush()


def _waited(status: MigrationStatus) -> bool:
    return status.state in WAITED and not status.detail.startswith(_WINDOW)


def _progress_line(status: MigrationStatus, progress: MigrationProgress) -> str:
    where = (
        status.state if status.phase in (None, status.state) else f"{status.state} ({status.phase})"
    )
    eta = f", about {progress.eta_s:.0f} s left" if progress.eta_s else ""
    return (
        f"{_PREFIX}   {status.migration_id}: {where} {progress.percent:.0f}% "
        f"({progress.records_done}/{progress.records_total} records, "
        f"{progress.bytes_done} bytes){eta}"
    )


async def wait_for_running(
    service: MigrationService,
    write: Callable[[str], None] = write_stderr,
    *,
    report_every_s: float = 2.0,
) -> None:
    """Wait until no migration is running or queued, reporting progress on ``write``.

    Cancellation (Ctrl-C at exit cancels this call) propagates: the migrations then stop
    at a chunk boundary when the engine shuts down, journaled and resumable.
    """
    running = [s for s in await service.statuses() if _waited(s)]
    if not running:
        return
    ids = ", ".join(s.migration_id for s in running)
    write(
        f"{_PREFIX} waiting for {len(running)} running migration(s) to finish before exit: "
        f"{ids} (Ctrl-C stops waiting; they are then kept and resume later)"
    )
    _log.info("exit.waiting", migrations=[s.migration_id for s in running])
    for status in running:
        write(_progress_line(status, await service.progress(status.migration_id)))
    while running:
        with anyio.move_on_after(report_every_s):
            await service.wait(running[0].migration_id, ENDED | {"failed", "paused"})
        still: list[MigrationStatus] = []
        for before in running:
            status = await service.status(before.migration_id)
            if _waited(status):
                write(_progress_line(status, await service.progress(status.migration_id)))
                still.append(status)
            else:
                why = f": {status.error}" if status.error else ""
                write(f"{_PREFIX}   {status.migration_id}: {status.state}{why}")
        running = still


def _how(status: MigrationStatus) -> str:
    """How an unfinished migration continues."""
    state = status.state
    if state == "paused":
        return "resume_migration continues it"
    if state == "planned":
        return "execute_migration runs it"
    if state == "failed":
        return "rollback_migration returns its workloads to the source"
    return "it resumes from its last checkpoint when the engine starts again"


def keep_unfinished(
    statuses: Sequence[MigrationStatus],
    data_dir: Path,
    *,
    temporary: bool,
    data_dir_env: str,
    write: Callable[[str], None] = write_stderr,
) -> bool:
    """Say which migrations did not end and where they are kept; True when any did not.

    The caller keeps ``data_dir`` (even a temporary one) when this returns True.
    """
    left = [s for s in statuses if s.state not in ENDED]
    if not left:
        return False
    write(f"{_PREFIX} {len(left)} migration(s) did not finish before exit:")
    for status in left:
        doing = f" ({status.detail})" if status.detail else ""
        write(f"{_PREFIX}   {status.migration_id}: {status.state}{doing}; {_how(status)}")
    kept = "kept (this temporary data directory is not removed)" if temporary else "kept"
    write(
        f"{_PREFIX} their journal and the edges' data are {kept} in {data_dir}; to see and "
        f"continue them, run again with {data_dir_env}={data_dir}"
    )
    _log.info("exit.kept", migrations=[s.migration_id for s in left], data_dir=str(data_dir))
    return True


class ExitWatch:
    """The two exit hooks of one environment (wait, then keep) and what they decided.

    Args:
        service: the environment's migration service.
        data_dir: its data directory.
        temporary: whether that directory is removed when the environment closes.
        data_dir_env: the variable that points a later run at it.
    """

    def __init__(
        self, service: MigrationService, data_dir: Path, *, temporary: bool, data_dir_env: str
    ) -> None:
        self.service = service
        self.data_dir = data_dir
        self.temporary = temporary
        self.data_dir_env = data_dir_env
        self.kept = False
        """True once :meth:`keep` found migrations that did not end: keep the directory."""

    @classmethod
    def register(
        cls,
        engine: Engine,
        service: MigrationService,
        data_dir: Path,
        temporary: bool,
        data_dir_env: str,
    ) -> ExitWatch:
        """Watch ``service`` at ``engine``'s interpreter exit: wait, then keep."""
        watch = cls(service, data_dir, temporary=temporary, data_dir_env=data_dir_env)
        engine.at_exit(watch.wait)
        engine.at_exit(watch.keep)
        return watch

    async def wait(self) -> None:
        """First hook: :func:`wait_for_running`."""
        await wait_for_running(self.service)

    async def keep(self) -> None:
        """Second hook: :func:`keep_unfinished`, remembering whether anything is kept."""
        self.kept = keep_unfinished(
            await self.service.statuses(),
            self.data_dir,
            temporary=self.temporary,
            data_dir_env=self.data_dir_env,
        )
