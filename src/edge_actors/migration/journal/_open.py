"""Opening the journal backend a location names (layer: migration).

``None`` is the SQLite journal in the data directory (the embedded default); a path or
``sqlite:`` URL the SQLite journal in that file; a ``postgresql://`` URL the PostgreSQL
journal (``._url`` parses them). A PostgreSQL password comes from the URL, the
``password`` argument (``--journal-password-file``) or, left to the driver,
``PGPASSWORD``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ._postgres import PostgresJournal
from ._sqlite import JOURNAL_FILE, SqliteJournal
from ._url import JournalUrl, parse_journal_url

if TYPE_CHECKING:
    from ._protocol import JournalBackend

__all__ = ["open_journal"]


async def open_journal(
    location: str | JournalUrl | None,
    *,
    data_dir: str | Path,
    password: str | None = None,
) -> JournalBackend:
    """Open the journal at ``location`` (creating or upgrading its schema).

    Args:
        location: a path or URL (see the module doc); ``None``: SQLite in ``data_dir``.
        data_dir: the directory of the default SQLite journal.
        password: a PostgreSQL password (wins over the URL's and ``PGPASSWORD``).

    Raises:
        ConfigError: a malformed location.
        JournalUnavailable: the PostgreSQL server cannot be reached (the redacted URL named).
        MigrationError: the journal cannot be opened, or its schema is newer than this code.
    """
    if location is None:
        return SqliteJournal.open(data_dir)
    url = location if isinstance(location, JournalUrl) else parse_journal_url(location)
    if url.kind == "postgresql":
        assert url.dsn is not None
        return await PostgresJournal.open(url.dsn, password=password)
    assert url.path is not None
    return _open_sqlite(Path(url.path))


def _open_sqlite(path: Path) -> SqliteJournal:
    """The SQLite journal in file ``path`` (in ``migrations.sqlite`` if it is a directory)."""
    path = path.expanduser()
    if path.is_dir():
        return SqliteJournal.open(path, JOURNAL_FILE)
    return SqliteJournal.open(path.parent, path.name)
