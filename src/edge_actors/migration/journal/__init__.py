"""The migration supervisor's journal: one interface, two backends (layer: migration).

:class:`JournalBackend` is what the supervisor uses; :func:`open_journal` picks the
backend a location names (:func:`parse_journal_url`): SQLite in a file (the embedded
default, ``<data_dir>/migrations.sqlite``) or PostgreSQL through ``asyncpg`` (shared by
several supervisor processes). Both hold the same data model with versioned schemas
created and upgraded by the code.
"""

from __future__ import annotations

from ._open import open_journal as open_journal
from ._postgres import PostgresJournal as PostgresJournal
from ._protocol import JournalBackend as JournalBackend
from ._protocol import JournalEntry as JournalEntry
from ._protocol import JournalUnavailable as JournalUnavailable
from ._sqlite import JOURNAL_FILE as JOURNAL_FILE
from ._sqlite import Journal as Journal
from ._sqlite import SqliteJournal as SqliteJournal
from ._url import JOURNAL_ENV as JOURNAL_ENV
from ._url import JournalUrl as JournalUrl
from ._url import parse_journal_url as parse_journal_url
from ._url import redact_url as redact_url

__all__ = [
    "JOURNAL_ENV",
    "JOURNAL_FILE",
    "Journal",
    "JournalBackend",
    "JournalEntry",
    "JournalUnavailable",
    "JournalUrl",
    "PostgresJournal",
    "SqliteJournal",
    "open_journal",
    "parse_journal_url",
    "redact_url",
]
