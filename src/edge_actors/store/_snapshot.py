"""Snapshot files of a workload store: export one at a committed LSN, check one received.

Store layer. The fast copy path ships a whole store file instead of its records one by
one: the source writes a consistent copy with SQLite's online backup
(:func:`export_snapshot`), the file's bytes travel to the target, and the target checks
the file (:func:`verify_snapshot`) before
:meth:`StoreRegistry.install_snapshot <edge_actors.store.StoreRegistry.install_snapshot>`
moves it into the place of its empty ``incoming`` copy (:func:`install_file`).

A snapshot file is a store file of the current schema in rollback-journal mode: reading
it needs no ``-wal`` beside it and creates none, and no side file can change what is read.
Its :class:`SnapshotInfo` (the ``meta`` row and the file size) travels with it, so the
target refuses a file that is not the one the source exported.
"""

from __future__ import annotations

import errno
import functools
import os
import sqlite3
import stat
from contextlib import nullcontext, suppress
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import anyio
import anyio.lowlevel
import msgspec

from edge_actors._private_files import PRIVATE_FILE_MODE

from ._bulk import sync_and_drop
from ._errors import SnapshotExists, SnapshotRefused, StoreError, StoreFull
from ._models import StoreStats
from ._removal import remove_file
from ._schema import APPLICATION_ID, SCHEMA_VERSION, _ensure_schema, _uri, live_totals

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from ._budget import FdBudget, FileFds
    from ._resources import StoreResources

    DurableStep = Callable[[], AbstractContextManager[None]]
    """Entered, in the worker thread, around each durable step of an install (the file's
    fsync; its move with the directory's sync): the edge's ``UrgentWork.durable_step``."""

__all__ = [
    "SnapshotInfo",
    "VerifiedSnapshot",
    "export_snapshot",
    "install_file",
    "require_unchanged",
    "verify_snapshot",
]

_SIDE_FILES = ("-wal", "-shm", "-journal")  # SQLite's side files of a database file
_BUSY_TIMEOUT_MS = 10_000
_HEADER = b"SQLite format 3\x00"
_HEADER_BYTES = 100
_ROLLBACK_JOURNAL = b"\x01\x01"  # header bytes 18-19 (write, read version); WAL is 2, 2
_QUICK_CHECK_ERRORS = 3  # problems quick_check lists at most (the message shows them)


class SnapshotInfo(msgspec.Struct, frozen=True):
    """What a snapshot file holds, as exported: the target checks the file against it.

    Attributes:
        lsn: The workload LSN of the snapshot (its ``meta`` row, as in :class:`StoreStats`).
        records: Live records in the snapshot.
        bytes: Logical bytes (keys + values) of its live records.
        digest: Its content digest, 64 hex digits.
        size: The snapshot file's size in bytes.
    """

    lsn: int
    records: int
    bytes: int
    digest: str
    size: int


class VerifiedSnapshot(NamedTuple):
    """A snapshot file that passed :func:`verify_snapshot`: its totals, and its identity
    (device, inode, size, modification time) to tell whether it changed since."""

    stats: StoreStats
    identity: tuple[int, int, int, int]


# -- export (the source) -------------------------------------------------------------


async def export_snapshot(
    path: Path, name: str, dest: Path, resources: StoreResources, file: FileFds
) -> SnapshotInfo:
    """Copy the store file at ``path`` (workload ``name``) to the new file ``dest``.

    The copy runs in a worker thread of ``resources``; its read connection counts
    against the descriptor budget as one more connection to ``file``. See
    :meth:`WorkloadStore.export_snapshot <edge_actors.store.WorkloadStore.export_snapshot>`
    for errors and cancellation.
    """
    finished: list[SnapshotInfo] = []
    try:
        info = await anyio.to_thread.run_sync(
            partial(_export, path, name, dest, resources.budget, file, finished),
            limiter=resources.limiter,
        )
        # A cancellation that arrived while the thread ran is pending still: deliver it
        # here, while the file can be removed, not at the caller's next checkpoint.
        await anyio.lowlevel.checkpoint_if_cancelled()
    except BaseException:
        if finished:  # cancelled once the copy was done: the caller will not use it
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_remove, dest)
        raise
    return info


def _export(
    path: Path,
    name: str,
    dest: Path,
    budget: FdBudget,
    file: FileFds,
    finished: list[SnapshotInfo],
) -> SnapshotInfo:
    """Create ``dest`` (0600, exclusively), back the store up into it, read its ``meta``.

    Blocking. Removes ``dest`` (and any side file of it) on every failure.
    """
    what = f"snapshot export of workload {name!r} to {str(dest)!r}"
    for suffix in _SIDE_FILES:
        if os.path.lexists(f"{dest}{suffix}"):  # SQLite would read a stale -wal with it
            raise SnapshotExists(f"{what} refused: {str(dest) + suffix!r} already exists")
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    except FileExistsError:
        raise SnapshotExists(f"{what} refused: the file already exists") from None
    except OSError as exc:
        raise _failure(f"{what} failed: cannot create the file: {exc}", exc) from exc
    try:
        try:
            os.fchmod(fd, PRIVATE_FILE_MODE)  # the umask may have taken bits away, never added
        finally:
            os.close(fd)
        lsn, records, nbytes, digest = _backup(path, dest, budget, file, what)
        info = SnapshotInfo(
            lsn=lsn, records=records, bytes=nbytes, digest=digest, size=os.stat(dest).st_size
        )
    except OSError as exc:
        _remove(dest)
        raise _failure(f"{what} failed: {exc}", exc) from exc
    except BaseException:
        _remove(dest)
        raise
    finished.append(info)
    return info


def _backup(
    path: Path, dest: Path, budget: FdBudget, file: FileFds, what: str
) -> tuple[int, int, int, str]:
    """Back the store up into the empty file ``dest`` in one step; return its ``meta``."""
    budget.reserve(file)
    try:
        src = sqlite3.connect(
            _uri(path, "ro"), uri=True, isolation_level=None, check_same_thread=False
        )
        try:
            src.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            dst = sqlite3.connect(
                _uri(dest, "rw"), uri=True, isolation_level=None, check_same_thread=False
            )
            try:
                return _copy(src, dst, what)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise _failure(f"{what} failed: {exc}", exc) from exc
    finally:
        budget.release(file)


def _copy(src: sqlite3.Connection, dst: sqlite3.Connection, what: str) -> tuple[int, int, int, str]:
    dst.execute("PRAGMA journal_mode = OFF")  # a temporary: no journal, no sync
    dst.execute("PRAGMA synchronous = OFF")
    src.backup(dst)  # pages=-1: every page in one step, so one read transaction of src
    # The copied header says WAL (the source's mode): a rollback journal instead, so that
    # reading the file never involves a -wal beside it.
    mode = dst.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
    if mode != "delete":
        raise StoreError(f"{what} failed: the copy refused a rollback journal (got {mode!r})")
    row = dst.execute("SELECT lsn, records, bytes, digest FROM meta WHERE id = 1").fetchone()
    if row is None:
        raise StoreError(f"{what} failed: the copy has no meta row")
    lsn, records, nbytes, digest = row
    return int(lsn), int(records), int(nbytes), str(digest)


def _remove(dest: Path) -> None:
    """Delete ``dest`` and its side files (those a failed export may have left)."""
    for suffix in ("", *_SIDE_FILES):
        with suppress(OSError):  # best effort: the export's own error is the one to report
            remove_file(Path(f"{dest}{suffix}"))


def _failure(message: str, exc: BaseException) -> StoreError:
    """:class:`StoreFull` for a full disk (SQLite's ``SQLITE_FULL``, ``ENOSPC``), else
    :class:`StoreError`."""
    if isinstance(exc, sqlite3.Error):
        full = getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_FULL
    else:
        full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return StoreFull(message) if full else StoreError(message)


# -- verification and install (the target) -------------------------------------------


def verify_snapshot(
    source: Path,
    name: str,
    expected: SnapshotInfo,
    workloads_dir: Path,
    give_way: Callable[[], None] | None = None,
    durable: DurableStep | None = None,
) -> VerifiedSnapshot:
    """Check that ``source`` is a snapshot of workload ``name`` matching ``expected``,
    then flush it to disk and drop its pages from the page cache (as a bulk fill's:
    :func:`._bulk.sync_and_drop`; the next received file reuses that memory at once).
    Blocking; reads the whole file (``quick_check``, the digest).
    ``give_way`` (a background copy's pause point) is called before ``quick_check``,
    between the digest's batches and before the flush, so urgent work on the edge (a
    cutover's activation) does not wait behind the whole file; the flush runs inside
    ``durable`` (the edge keeps it out of an activation's way).

    The checks, in order: a regular file on the file system of ``workloads_dir`` (where
    it is to be moved), a SQLite header, no side file beside it, rollback-journal mode,
    the size; then, read-only with ``trusted_schema = OFF`` and ``cell_size_check = ON``:
    application id and schema version, exactly the schema objects of a new store,
    ``quick_check``, one ``meta`` row naming ``name`` with the totals of ``expected``,
    record LSNs within ``[1, meta lsn]``, and live totals recomputed from the records
    equal to ``meta``'s.

    Raises:
        SnapshotRefused: A check failed (the message names it and both values).
    """
    refuse = partial(_refused, source, name)
    try:
        before = os.lstat(source)
        on_device = os.stat(workloads_dir).st_dev
    except OSError as exc:
        raise refuse(f"cannot stat it: {exc}") from exc
    if not stat.S_ISREG(before.st_mode):
        raise refuse("it is not a regular file")
    if before.st_dev != on_device:
        raise refuse(f"it is on another file system than {str(workloads_dir)!r}")
    header = _read_header(source, refuse)
    if not header.startswith(_HEADER) or len(header) < _HEADER_BYTES:
        raise refuse("it is not a SQLite database file")
    for suffix in _SIDE_FILES:
        if os.path.lexists(f"{source}{suffix}"):
            raise refuse(f"{str(source) + suffix!r} lies beside it (SQLite would read it too)")
    if header[18:20] != _ROLLBACK_JOURNAL:
        raise refuse(f"it is not in rollback-journal mode (header bytes 18-19: {header[18:20]!r})")
    if before.st_size != expected.size:
        raise refuse(_differs("file size", before.st_size, expected.size))
    stats = _check_contents(source, name, expected, give_way)
    if give_way is not None:
        give_way()
    try:
        with nullcontext() if durable is None else durable():
            sync_and_drop(source)
    except OSError as exc:
        raise StoreError(f"cannot sync snapshot {str(source)!r}: {exc}") from exc
    verified = VerifiedSnapshot(stats, _identity(before))
    require_unchanged(source, name, verified)
    return verified


def require_unchanged(source: Path, name: str, verified: VerifiedSnapshot) -> None:
    """Refuse ``source`` if it is no longer the file :func:`verify_snapshot` checked.

    Raises:
        SnapshotRefused: Its device, inode, size or modification time changed.
    """
    try:
        now = _identity(os.lstat(source))
    except OSError as exc:
        raise _refused(source, name, f"cannot stat it: {exc}") from exc
    if now != verified.identity:
        raise _refused(source, name, "it changed after it was verified")


def install_file(source: Path, path: Path) -> None:
    """Move the verified snapshot ``source`` to the store path ``path``, durably. Blocking.

    Removes ``path``'s side files first (a stale ``-wal`` left there would be read with the
    new file), makes the file 0600, replaces ``path`` atomically and syncs the directory.
    ``source`` was synced by :func:`verify_snapshot`.

    Raises:
        StoreError: The file system failed (the message names the step).
    """
    step = "remove the old store's side files"
    try:
        for suffix in _SIDE_FILES:
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        step = "make the snapshot 0600"
        os.chmod(source, PRIVATE_FILE_MODE)
        step = f"move it to {str(path)!r}"
        os.replace(source, path)
        step = "sync the directory"
        _fsync(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise StoreError(f"install of snapshot {str(source)!r}: cannot {step}: {exc}") from exc


def _check_contents(
    source: Path, name: str, expected: SnapshotInfo, give_way: Callable[[], None] | None
) -> StoreStats:
    """The checks that read the file through SQLite (see :func:`verify_snapshot`)."""
    refuse = partial(_refused, source, name)
    step = "open"
    try:
        conn = sqlite3.connect(
            _uri(source, "ro"), uri=True, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise refuse(f"{step}: {exc}") from exc
    try:
        conn.execute("PRAGMA trusted_schema = OFF")
        conn.execute("PRAGMA cell_size_check = ON")
        conn.execute("PRAGMA query_only = ON")
        conn.execute("BEGIN")
        step = "application_id"
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id != APPLICATION_ID:
            raise refuse(_differs("application_id", hex(app_id), hex(APPLICATION_ID)))
        step = "user_version"
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise refuse(_differs("schema version", version, SCHEMA_VERSION))
        step = "schema"
        _check_schema(conn, refuse)
        step = "quick_check"
        if give_way is not None:
            give_way()
        problems = [row[0] for row in conn.execute(f"PRAGMA quick_check({_QUICK_CHECK_ERRORS})")]
        if problems != ["ok"]:
            raise refuse(f"quick_check found: {'; '.join(map(str, problems))}")
        step = "meta"
        stats = _check_meta(conn, name, expected, refuse)
        step = "live totals"
        records, nbytes, digest = live_totals(conn, give_way)
        for what, live, meta in (
            ("live records", records, stats.records),
            ("live bytes", nbytes, stats.bytes),
            ("digest of the records", digest, stats.digest),
        ):
            if live != meta:
                raise refuse(f"{what} recomputed: {live!r}, the file's meta says {meta!r}")
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise refuse(f"{step}: {exc}") from exc
    finally:
        conn.close()
    return stats


def _check_schema(conn: sqlite3.Connection, refuse: Callable[[str], SnapshotRefused]) -> None:
    """Refuse a file whose schema objects are not exactly those of a new store."""
    found = _schema_objects(conn)
    fresh = _fresh_schema()
    if found == fresh:
        return
    extra = sorted(f"{kind} {obj!r}" for kind, obj, _, _ in set(found) - set(fresh))
    missing = sorted(f"{kind} {obj!r}" for kind, obj, _, _ in set(fresh) - set(found))
    raise refuse(f"schema objects differ from a new store's: extra {extra}, missing {missing}")


def _check_meta(
    conn: sqlite3.Connection,
    name: str,
    expected: SnapshotInfo,
    refuse: Callable[[str], SnapshotRefused],
) -> StoreStats:
    """The ``meta`` row: one, naming ``name``, with ``expected``'s totals; record LSNs in
    ``[1, meta lsn]`` (a later write gets ``lsn + 1``, which must be free)."""
    rows = conn.execute("SELECT name, lsn, records, bytes, digest FROM meta").fetchall()
    if len(rows) != 1:
        raise refuse(f"meta has {len(rows)} rows, a store has 1")
    meta_name, lsn, records, nbytes, digest = rows[0]
    if meta_name != name:
        raise refuse(_differs("meta name", meta_name, name))
    for what, got, want in (
        ("lsn", lsn, expected.lsn),
        ("records", records, expected.records),
        ("bytes", nbytes, expected.bytes),
        ("digest", digest, expected.digest),
    ):
        if got != want:
            raise refuse(_differs(what, got, want))
    if not all(isinstance(v, int) and v >= 0 for v in (lsn, records, nbytes)):
        raise refuse(f"meta totals are not integers >= 0: {lsn!r}, {records!r}, {nbytes!r}")
    low, high = conn.execute("SELECT min(lsn), max(lsn) FROM records").fetchone()
    if high is not None and (low < 1 or high > lsn):
        raise refuse(f"record LSNs span [{low}, {high}], outside [1, {lsn}] (meta lsn)")
    return StoreStats(records=records, bytes=nbytes, lsn=lsn, digest=str(digest))


@functools.cache
def _fresh_schema() -> tuple[tuple[str, str, str, str | None], ...]:
    """The schema objects of a new store, made by the store's own schema code in memory."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        _ensure_schema(conn, Path(":memory:"), "fresh")
        return _schema_objects(conn)
    finally:
        conn.close()


def _schema_objects(conn: sqlite3.Connection) -> tuple[tuple[str, str, str, str | None], ...]:
    rows = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name, tbl_name"
    ).fetchall()
    return tuple((kind, obj, table, sql) for kind, obj, table, sql in rows)


def _read_header(source: Path, refuse: Callable[[str], SnapshotRefused]) -> bytes:
    try:
        with source.open("rb") as handle:
            return handle.read(_HEADER_BYTES)
    except OSError as exc:
        raise refuse(f"cannot read it: {exc}") from exc


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _differs(what: str, got: object, want: object) -> str:
    return f"{what} differs: the file has {got!r}, expected {want!r}"


def _refused(source: Path, name: str, why: str) -> SnapshotRefused:
    return SnapshotRefused(f"snapshot {str(source)!r} refused for workload {name!r}: {why}")
