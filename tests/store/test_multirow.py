"""Multi-row inserts: every row lands once, whatever the batch's size, and the count is exact."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from hypothesis import given
from hypothesis import strategies as st

from edge_actors.store._multirow import ROWS_PER_STATEMENT, insert_rows

if TYPE_CHECKING:
    from collections.abc import Iterator

_SCHEMA = "CREATE TABLE records (lsn INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, value BLOB)"
_INSERT = "INSERT INTO records (key, value, lsn)"
_SKIP = "ON CONFLICT (key) DO NOTHING"
_UPDATE = "ON CONFLICT (key) DO UPDATE SET value = excluded.value, lsn = excluded.lsn"


def _table(existing: dict[str, int]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute(_SCHEMA)
    conn.executemany(
        "INSERT INTO records (key, value, lsn) VALUES (?, ?, ?)",
        [(key, b"old", lsn) for key, lsn in existing.items()],
    )
    return conn


def _content(conn: sqlite3.Connection) -> dict[str, tuple[bytes | None, int]]:
    rows: Iterator[tuple[str, bytes | None, int]] = conn.execute(
        "SELECT key, value, lsn FROM records"
    )
    return {key: (value, lsn) for key, value, lsn in rows}


# Keys k0..k599: a batch reaches several statements of every size down to one row.
_keys = st.sets(st.integers(0, 599).map(lambda i: f"k{i}"), max_size=600)


@given(existing=_keys, batch=_keys)
def test_skip_on_conflict_inserts_only_new_keys_and_counts_them(
    existing: set[str], batch: set[str]
) -> None:
    old = {key: 1_000_000 + n for n, key in enumerate(sorted(existing))}
    conn = _table(old)
    rows = [(key, b"new" + key.encode(), n + 1) for n, key in enumerate(sorted(batch))]
    expected = {key: (b"old", lsn) for key, lsn in old.items()}
    for key, value, lsn in rows:
        expected.setdefault(key, (value, lsn))

    inserted = insert_rows(conn, _INSERT, _SKIP, rows)

    assert inserted == len(batch - existing)
    assert _content(conn) == expected


@given(existing=_keys, batch=_keys)
def test_update_on_conflict_replaces_every_row_of_the_batch(
    existing: set[str], batch: set[str]
) -> None:
    conn = _table({key: 1_000_000 + n for n, key in enumerate(sorted(existing))})
    rows = [(key, None if n % 7 == 0 else key.encode(), n + 1) for n, key in enumerate(batch)]

    changed = insert_rows(conn, _INSERT, _UPDATE, rows)

    assert changed == len(rows)
    content = _content(conn)
    assert {key: content[key] for key in batch} == {key: (v, lsn) for key, v, lsn in rows}
    assert set(content) == existing | batch


def test_a_batch_is_cut_into_statements_of_at_most_the_limit() -> None:
    conn = _table({})
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    rows = [(f"k{i}", b"v", i + 1) for i in range(3 * ROWS_PER_STATEMENT + 5)]

    assert insert_rows(conn, _INSERT, _SKIP, rows) == len(rows)

    sizes = [s.count("('k") for s in statements]  # the trace shows the bound values
    assert sizes == [ROWS_PER_STATEMENT] * 3 + [4, 1]
    assert insert_rows(conn, _INSERT, _SKIP, []) == 0
    assert len(statements) == 5
