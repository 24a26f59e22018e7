"""The SQLite file format of one workload and how its connections are opened (store layer).

One file per workload, WAL journal. Tables (schema version 3)::

    records(lsn INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, value BLOB NULL)
    meta(id = 1, name, lsn, records, bytes, digest)  -- one row, updated in every write tx

``records`` holds each key's latest state. Its LSN is the row id: every LSN names one
write, so it is unique per row, delta scans by LSN range walk the table itself, and a
record costs two B-trees (the table and the key's unique index). Version 1 kept the
rowid apart and had a third B-tree, an index on ``lsn``; a version 1 file is upgraded in
place when a writer opens it (:func:`_upgrade_from_v1`). Version 3 has the tables of
version 2; its ``meta.digest`` sums the records' hashes of digest version 2 (XXH3, see
:mod:`._digest`), and a version 2 file's digest is recomputed from its records when a
writer first opens it (:func:`_upgrade_digest`).

``value IS NULL`` is a tombstone. ``meta`` holds the workload LSN, the live record count,
the live byte count and the digest accumulator (64 hex digits), always in the same
transaction as the records they describe. ``PRAGMA application_id`` marks the file as an
edge_actors store and ``PRAGMA user_version`` carries the schema version.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING
from urllib.parse import quote

from edge_actors._private_files import create_private, make_private_dir

from ._digest import DIGEST_MODULUS, EMPTY_DIGEST, digest_hex, hash_and_size
from ._errors import StoreError, WorkloadNotFound

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ._models import Durability

__all__ = [
    "APPLICATION_ID",
    "READER_CACHE_KIB",
    "SCHEMA_VERSION",
    "WAL_HARD_CAP",
    "WAL_RESTART_BYTES",
    "WRITER_CACHE_KIB",
    "connect_reader",
    "connect_writer",
    "live_totals",
    "shrink_cache",
    "synchronous_level",
]

APPLICATION_ID = 0x45414354  # "EACT"
"""``PRAGMA application_id`` of a workload store file."""

SCHEMA_VERSION = 3
"""``PRAGMA user_version`` of the current file format."""

_BUSY_TIMEOUT_MS = 10_000
_SCAN_BATCH = 1024  # records per fetch of a full scan (an upgrade's rehash, compute_stats)
WRITER_CACHE_KIB = 32 * 1024
"""Largest page cache of a writer connection (KiB); the registry's budget may give less."""

READER_CACHE_KIB = WRITER_CACHE_KIB // 4
"""Largest page cache of a read connection (KiB); the registry's budget may give less."""

# Bigger pages mean fewer WAL frames (and write calls) per commit: bulk apply of 1 KiB
# values runs about 1.5x faster with 16 KiB pages than with SQLite's default 4 KiB.
_PAGE_SIZE = 16 * 1024

WAL_RESTART_BYTES = 32 * 1024 * 1024
"""WAL content (bytes) past which the checkpointer makes the WAL restart from its start."""

WAL_HARD_CAP = 4 * WAL_RESTART_BYTES
"""WAL file size (bytes) past which the checkpointer runs a ``TRUNCATE`` checkpoint."""

_RECORDS = """
CREATE TABLE records (
    lsn   INTEGER PRIMARY KEY,
    key   TEXT NOT NULL UNIQUE,
    value BLOB
)"""

_SCHEMA = f"""
{_RECORDS};
CREATE TABLE meta (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    name    TEXT NOT NULL,
    lsn     INTEGER NOT NULL,
    records INTEGER NOT NULL,
    bytes   INTEGER NOT NULL,
    digest  TEXT NOT NULL
);
PRAGMA application_id = {APPLICATION_ID};
PRAGMA user_version = {SCHEMA_VERSION};
"""


def _uri(path: Path, mode: str) -> str:
    return f"file:{quote(str(path.resolve()))}?mode={mode}"


def synchronous_level(durability: Durability) -> str:
    """The ``PRAGMA synchronous`` level of a store of ``durability``."""
    return "FULL" if durability == "full" else "NORMAL"


def connect_writer(
    path: Path, name: str, *, create: bool, durability: Durability, cache_kib: int
) -> sqlite3.Connection:
    """Open (and if asked, create) the store file at ``path`` for writing. Blocking.

    Sets WAL mode, the ``synchronous`` level of ``durability`` and a page cache of
    ``cache_kib``, creates the schema in a new file, and checks that an existing file
    is a store of the current version.

    Raises:
        WorkloadNotFound: The file does not exist and ``create`` is false.
        StoreError: The file is not a workload store, has another schema version, or
            SQLite failed to open it.
    """
    if create:
        make_private_dir(path.parent)
    elif not path.is_file():
        raise WorkloadNotFound(f"workload {name!r} has no store file at {str(path)!r}")
    try:
        if create:
            create_private(path)
        conn = sqlite3.connect(
            _uri(path, "rwc" if create else "rw"),
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot open store file {str(path)!r}: {exc}") from exc
    try:
        conn.execute(f"PRAGMA page_size = {_PAGE_SIZE}")  # takes effect in a new file only
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StoreError(f"store file {str(path)!r} refused WAL mode (got {mode!r})")
        conn.execute(f"PRAGMA synchronous = {synchronous_level(durability)}")
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        conn.execute(f"PRAGMA cache_size = -{cache_kib}")
        conn.execute("PRAGMA temp_store = MEMORY")
        # Checkpoints run in the store's background checkpointer, never inside a COMMIT;
        # no journal_size_limit either, since the truncation would run in a COMMIT too.
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute("PRAGMA journal_size_limit = -1")
        _ensure_schema(conn, path, name)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"cannot use store file {str(path)!r}: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _ensure_schema(conn: sqlite3.Connection, path: Path, name: str) -> None:
    """Create the schema in an empty file, or check that the file is a current store."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
        if app_id == 0 and version == 0 and tables == 0:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO meta (id, name, lsn, records, bytes, digest) "
                "VALUES (1, ?, 0, 0, 0, ?)",
                (name, EMPTY_DIGEST),
            )
        elif app_id != APPLICATION_ID:
            raise StoreError(f"{str(path)!r} is not an edge_actors workload store")
        elif version in (1, 2):
            if version == 1:
                _upgrade_from_v1(conn, path)
            _upgrade_digest(conn)
        elif version != SCHEMA_VERSION:
            raise StoreError(
                f"store file {str(path)!r} has schema version {version}; "
                f"this version of edge_actors reads version {SCHEMA_VERSION}"
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _upgrade_from_v1(conn: sqlite3.Connection, path: Path) -> None:
    """Rewrite a version 1 ``records`` table as version 2 (LSN as the row id).

    Runs inside the caller's write transaction: either the whole file is current
    afterwards, or (on any error) it is left at version 1 as it was. The copy takes about
    as long as applying the records did; it runs once, when a writer first opens the file.

    Raises:
        StoreError: Two records of the file carry the same LSN (the file breaks the
            store's invariant; nothing is changed).
    """
    duplicate = conn.execute(
        "SELECT lsn FROM records GROUP BY lsn HAVING count(*) > 1 LIMIT 1"
    ).fetchone()
    if duplicate is not None:
        raise StoreError(
            f"cannot upgrade store file {str(path)!r} to schema version {SCHEMA_VERSION}: "
            f"two records share LSN {duplicate[0]}"
        )
    conn.execute("ALTER TABLE records RENAME TO records_v1")
    conn.execute(_RECORDS)
    conn.execute(
        "INSERT INTO records (lsn, key, value) SELECT lsn, key, value FROM records_v1 ORDER BY lsn"
    )
    conn.execute("DROP TABLE records_v1")  # and its index records_lsn


def _upgrade_digest(conn: sqlite3.Connection) -> None:
    """Recompute ``meta``'s totals under the current digest version; mark the file current.

    Runs inside the caller's write transaction (see :func:`_upgrade_from_v1`): one scan
    of the live records, once per file.
    """
    records, nbytes, digest = live_totals(conn)
    conn.execute(
        "UPDATE meta SET records = ?, bytes = ?, digest = ? WHERE id = 1",
        (records, nbytes, digest),
    )
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def live_totals(
    conn: sqlite3.Connection, give_way: Callable[[], None] | None = None
) -> tuple[int, int, str]:
    """Count, byte total and digest (64 hex digits) of the live records, by a full scan.

    Reads :data:`_SCAN_BATCH` rows at a time, so memory stays flat whatever the file's
    size; ``give_way`` (a background job's pause point) is called before each batch. The
    caller provides the transaction that makes the scan consistent.
    """
    cursor = conn.execute("SELECT CAST(key AS BLOB), value FROM records WHERE value IS NOT NULL")
    records = nbytes = digest = 0
    try:
        while True:
            if give_way is not None:
                give_way()
            batch = cursor.fetchmany(_SCAN_BATCH)
            if not batch:
                break
            batch_digest, batch_bytes = hash_and_size(batch)
            records += len(batch)
            nbytes += batch_bytes
            digest += batch_digest
    finally:
        cursor.close()
    return records, nbytes, digest_hex(digest % DIGEST_MODULUS)


def connect_reader(path: Path, durability: Durability, *, cache_kib: int) -> sqlite3.Connection:
    """Open a read-only (``query_only``) connection to an existing store file. Blocking.

    Its ``synchronous`` level is the writer's: the background checkpoint runs on a read
    connection, and then syncs the WAL before copying it and the database file
    afterwards exactly as the writer's own would. ``cache_kib`` sizes its page cache.
    """
    conn = sqlite3.connect(
        _uri(path, "rw"), uri=True, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute(f"PRAGMA synchronous = {synchronous_level(durability)}")
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        conn.execute(f"PRAGMA cache_size = -{cache_kib}")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
    except BaseException:
        conn.close()
        raise
    return conn


def shrink_cache(conn: sqlite3.Connection, kib: int) -> bool:
    """Resize an idle connection's page cache to ``kib`` KiB and free what lies beyond.

    Returns ``False`` if SQLite refused (a smaller cache is an optimisation only; the
    connection stays usable).
    """
    try:
        conn.execute(f"PRAGMA cache_size = -{kib}")
        conn.execute("PRAGMA shrink_memory")
    except sqlite3.Error:
        return False
    return True
